"""A rehearsal's results (one a resource), its parameters, and the template's Rules and Conditions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tipline_local.provision import ACCOUNT, REGION
from tipline_local.template import ROOT, Resolver

STACK = "tipline-rehearsal"
OK, SKIPPED, FAIL = "OK", "SKIPPED", "FAIL"


EDGE_TEMPLATE = ROOT / "edge" / "waf.yaml"


EDGE_REGION = "us-east-1"  # CloudFront takes web ACLs from us-east-1 only


# A deploy is given these (`sam deploy --guided` asks for them); the rehearsal stands in for them.
REHEARSAL_PARAMETERS = {
    "ConsoleWebAclArn": f"arn:aws:wafv2:{EDGE_REGION}:{ACCOUNT}:global/webacl/tipline-rehearsal-console/"
    "00000000-0000-4000-8000-000000000000",
}


# AWS managed CloudFront policies (their ids are fixed and documented by AWS).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


# What moto's CloudFormation does not do, so a difference there is the emulator's, not ours.
# Each such setting is still checked as declared in the template.
_EMULATOR_GAPS = {
    "TimeToLiveSpecification": "moto's CloudFormation does not apply a table's TTL",
    "PointInTimeRecoverySpecification": "moto's CloudFormation does not enable PITR",
    "SSESpecification": "moto's CloudFormation does not report table SSE",
    "Architectures": "moto's Lambda reports every function as x86_64",
    "Layers": "moto's CloudFormation does not attach layers",
    "VersioningConfiguration": "moto's CloudFormation does not apply bucket versioning",
    "ObjectLockConfiguration": "moto's CloudFormation does not apply Object Lock",
    "KeyPolicy": "moto's CloudFormation stores a key policy its own KMS API cannot read back",
    "UserPoolAddOns": "moto's CloudFormation cannot create user pools (threat protection)",
}


_NOT_CREATED = {
    "AWS::ApiGatewayV2::Api": "moto's CloudFormation cannot create HTTP APIs",
    "AWS::ApiGatewayV2::Stage": "moto's CloudFormation cannot create HTTP APIs",
    "AWS::Scheduler::Schedule": "moto's CloudFormation cannot create EventBridge Scheduler schedules",
    "AWS::SecretsManager::Secret": "moto's CloudFormation cannot create Secrets Manager secrets",
    "AWS::CloudWatch::Alarm": "moto's CloudFormation cannot create CloudWatch alarms",
    "AWS::SNS::Subscription": "moto's CloudFormation cannot create SNS subscriptions",
    "AWS::S3::BucketPolicy": "moto's CloudFormation cannot create bucket policies",
    "AWS::Logs::MetricFilter": "moto's CloudFormation cannot create metric filters",
}


@dataclass
class Result:
    logical: str
    type: str
    status: str = OK
    notes: list[str] = field(default_factory=list)

    def good(self, text: str) -> None:
        self.notes.append(text)

    def bad(self, text: str) -> None:
        self.status = FAIL
        self.notes.append(f"MISMATCH {text}")

    def expect(self, what: str, declared: Any, actual: Any) -> None:
        if _same(declared, actual):
            self.good(f"{what}={_short(declared)}")
        else:
            self.bad(f"{what}: declared {_short(declared)}, stack has {_short(actual)}")

    def gap(self, setting: str, declared: Any) -> None:
        self.notes.append(
            f"{setting} declared {_short(declared)} (not verifiable: {_EMULATOR_GAPS[setting]})"
        )


def _same(declared: Any, actual: Any) -> bool:
    if isinstance(declared, bool) or isinstance(actual, bool):
        return str(declared).lower() == str(actual).lower()
    if isinstance(declared, int | float) or isinstance(actual, int | float):
        try:
            return float(declared) == float(actual)
        except (TypeError, ValueError):
            return False
    return bool(declared == actual)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 90 else text[:87] + "..."


def condition_holds(template: dict[str, Any], name: str, resolver: Resolver) -> bool:
    """A named condition of the template, as CloudFormation evaluates it."""
    return bool(_evaluate(template, template.get("Conditions", {})[name], resolver))


def _evaluate(template: dict[str, Any], expression: Any, resolver: Resolver) -> Any:
    conditions = Resolver(
        resolver.parameters, resolver.refs, resolver.attributes, template.get("Conditions", {})
    )
    return conditions.holds(expression)


def broken_rules(
    template: dict[str, Any], parameters: dict[str, str], region: str = REGION, stack: str = STACK
) -> list[str]:
    """The template's Rules whose assertions fail for these parameters, as "Rule: description".

    CloudFormation evaluates Rules before it creates a change set and refuses the deploy when one
    fails; moto ignores them, so the rehearsal checks them itself.
    """
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::StackName": stack}
    resolver = Resolver({**values, **parameters}, refs=pseudo, attributes={})
    broken = []
    for name, rule in sorted(template.get("Rules", {}).items()):
        applies = rule.get("RuleCondition")
        if applies is not None and not _evaluate(template, applies, resolver):
            continue
        for assertion in rule.get("Assertions", []):
            if not _evaluate(template, assertion["Assert"], resolver):
                broken.append(f"{name}: {' '.join(str(assertion.get('AssertDescription', '')).split())}")
    return broken


def _not_created(resource_type: str) -> str:
    """Why the emulator's CloudFormation cannot create this type ('' when it can)."""
    if resource_type in _NOT_CREATED:
        return _NOT_CREATED[resource_type]
    if resource_type.startswith("Custom::"):
        return "moto's CloudFormation runs a custom resource's Lambda in Docker (the rehearsal has none)"
    try:
        from moto.cloudformation.parsing import get_model_map
    except ImportError:  # pragma: no cover - moto moved it; claim nothing
        return ""
    if resource_type and resource_type not in get_model_map():
        return f"moto's CloudFormation cannot create {resource_type}"
    return ""
