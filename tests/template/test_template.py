"""template.yaml: one package, importable handlers, encrypted and redriven queues, no wildcards."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from tipline_local.template import ROOT, functions, load_template, resources_of_type

TEMPLATE = load_template()
FUNCTIONS = functions(TEMPLATE)


def test_there_are_functions_and_all_share_one_code_uri() -> None:
    assert FUNCTIONS
    assert {properties["CodeUri"] for properties in FUNCTIONS.values()} == {"functions/"}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_handler_is_an_importable_callable_of_the_tipline_package(name: str) -> None:
    handler_path = FUNCTIONS[name]["Handler"]
    module_name, _, attribute = handler_path.rpartition(".")
    assert module_name.startswith("tipline.handlers."), handler_path
    module = importlib.import_module(module_name)
    assert Path(module.__file__ or "").resolve().is_relative_to(ROOT / "functions" / "tipline")
    assert callable(getattr(module, attribute))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_run_python_312_or_newer_on_arm64(name: str) -> None:
    properties = FUNCTIONS[name]
    major, minor = (int(part) for part in properties["Runtime"].removeprefix("python").split("."))
    assert (major, minor) >= (3, 12)
    assert properties["Architectures"] == ["arm64"]


def test_the_layer_holds_pinned_third_party_dependencies_only() -> None:
    (layer,) = resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion").values()
    assert layer["Properties"]["ContentUri"] == "layers/"
    layer_dir = ROOT / "layers"
    assert sorted(p.name for p in layer_dir.iterdir()) == ["requirements.txt"]
    requirements = [
        line.strip()
        for line in (layer_dir / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert requirements
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line) for line in requirements), requirements
    assert not any(line.lower().startswith(("tipline", "zalo-tipline", "-e")) for line in requirements)


def _dlq_arns(queue: dict[str, Any]) -> str | None:
    redrive = queue.get("Properties", {}).get("RedrivePolicy")
    return None if redrive is None else redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]


def _failure_destinations() -> set[str]:
    """Queues where a stream's event source mapping parks what it gave up on (a DLQ of its kind)."""
    found = set()
    for properties in FUNCTIONS.values():
        for event in properties.get("Events", {}).values():
            on_failure = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure", {})
            if on_failure.get("Type") == "SQS":
                found.add(on_failure["Destination"]["Fn::GetAtt"][0])
    return found


def test_every_queue_is_encrypted_and_has_a_dead_letter_queue_or_is_one() -> None:
    queues = resources_of_type(TEMPLATE, "AWS::SQS::Queue")
    dead_letter = ({_dlq_arns(q) for q in queues.values()} | _failure_destinations()) - {None}
    for name, queue in queues.items():
        properties = queue["Properties"]
        assert properties.get("KmsMasterKeyId") == {"Ref": "DataKey"}, f"{name} is not encrypted with our key"
        assert name in dead_letter or _dlq_arns(queue) is not None, f"{name} has no DLQ"
        if properties.get("FifoQueue") and name not in dead_letter:
            assert queues[_dlq_arns(queue) or ""]["Properties"].get("FifoQueue"), f"{name}'s DLQ must be FIFO"


def test_log_groups_keep_logs_for_a_set_time_encrypted() -> None:
    groups = resources_of_type(TEMPLATE, "AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        assert group["Properties"].get("RetentionInDays"), name
        assert group["Properties"].get("KmsKeyId"), name


def test_every_function_logs_into_its_own_log_group() -> None:
    groups = set(resources_of_type(TEMPLATE, "AWS::Logs::LogGroup"))
    for name, properties in FUNCTIONS.items():
        assert properties.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref") in groups, name


def test_the_key_rotates_and_stateful_data_is_encrypted_with_it() -> None:
    (key,) = resources_of_type(TEMPLATE, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    for table in resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").values():
        sse = table["Properties"]["SSESpecification"]
        assert sse["KMSMasterKeyId"] == {"Ref": "DataKey"}
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def _statements(properties: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in properties.get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_policies_name_their_resources_and_actions(name: str) -> None:
    for policy in FUNCTIONS[name].get("Policies", []):
        assert isinstance(policy, dict), f"{name}: use narrow statements, not managed policy names ({policy})"
    for statement in _statements(FUNCTIONS[name]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), (name, statement.get("Sid"))
        assert statement.get("Resource") != "*", (name, statement.get("Sid"))
