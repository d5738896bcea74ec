"""Read template.yaml (with CloudFormation's short tags) and resolve intrinsics against local values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when PyYAML has it: ten times faster, and every test provisions)."""


def _tag(name: str):  # type: ignore[no-untyped-def]
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short, _full in {
    "Ref": "Ref",
    "Sub": "Fn::Sub",
    "GetAtt": "Fn::GetAtt",
    "Join": "Fn::Join",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "FindInMap": "Fn::FindInMap",
    "ImportValue": "Fn::ImportValue",
    "GetAZs": "Fn::GetAZs",
    "Condition": "Condition",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "Base64": "Fn::Base64",
}.items():
    _CfnLoader.add_constructor(f"!{_short}", _tag(_full))


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass with CFN tags
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every AWS::Serverless::Function with Globals merged into its properties."""
    defaults = template.get("Globals", {}).get("Function", {})
    merged = {}
    for name, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = {**defaults, **resource.get("Properties", {})}
        env = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        properties["Environment"] = {"Variables": env}
        merged[name] = properties
    return merged


class Resolver:
    """Resolves Ref / Fn::GetAtt / Fn::Sub / Fn::Join with values the local stack knows."""

    def __init__(
        self,
        parameters: dict[str, str],
        refs: dict[str, str],
        attributes: dict[str, str],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self.parameters = parameters
        self.refs = refs
        self.attributes = attributes
        self.conditions = conditions or {}  # the template's Conditions, for Fn::If

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"cannot resolve Ref {name}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.attributes[f"{resource}.{attribute}"]
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub(m.group(1), extra), text)
            if fn == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(part)) for part in parts)
            if fn == "Fn::If" and self.conditions:
                name, when_true, when_false = arg
                return self.resolve(when_true if self.holds({"Condition": name}) else when_false)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def holds(self, expression: Any) -> Any:
        """A condition expression (Fn::Not/Equals/And/Or, Condition) as CloudFormation evaluates it."""
        if isinstance(expression, dict) and len(expression) == 1:
            ((fn, arg),) = expression.items()
            if fn == "Fn::Not":
                return not self.holds(arg[0])
            if fn == "Fn::Equals":
                return str(self.holds(arg[0])) == str(self.holds(arg[1]))
            if fn == "Fn::And":
                return all(self.holds(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.holds(a) for a in arg)
            if fn == "Condition":
                return bool(self.holds(self.conditions[arg]))
        return self.resolve(expression)

    def _sub(self, name: str, extra: dict[str, Any]) -> str:
        if name in extra:
            return str(self.resolve(extra[name]))
        if "." in name:
            return self.attributes[name]
        return self.ref(name)


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
