"""IAM policy checks over the SAM-transformed template (what CloudFormation will really create).

Part of `make validate` too. Statements inside SAM `Policies` are only visible after the transform.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from typing import Any

import pytest
from tipline_local.template import ROOT
from tipline_local.transform import transformed

DATA_SERVICES = ("dynamodb:", "s3:", "sqs:", "kms:", "secretsmanager:", "sns:")
# Functions allowed to call kms:Decrypt directly (not only through an AWS service), and why.
DIRECT_DECRYPTERS = {
    "IntakeSpillFunctionRole": "opens spilled events (context purpose=intake-spill)",
    "FetcherFunctionRole": "reads the media URL sealed in a tip's thread",
    "OfficerApiFunctionRole": "decrypts tip threads for audited reads",
    "SenderFunctionRole": "opens the reply text, the citizen's Zalo id and the OA token",
    "TokenRefreshFunctionRole": "opens the OA tokens it refreshes",
    "AdvisorySenderFunctionRole": "opens followers' Zalo ids and OA tokens",
    "AdvisoriesFunctionRole": "plans deliveries per follower",
}


@cache
def _template() -> dict[str, Any]:
    return transformed()


def _roles() -> dict[str, list[dict[str, Any]]]:
    roles = {}
    for name, resource in _template()["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        statements: list[dict[str, Any]] = []
        for policy in resource["Properties"].get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
        roles[name] = statements
    return roles


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement.get("Resource", [])
    return resource if isinstance(resource, list) else [resource]


ROLES = _roles()


def test_there_are_function_roles_to_check() -> None:
    assert "WebhookFunctionRole" in ROLES
    assert "OfficerApiFunctionRole" in ROLES


@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_wildcard_actions_or_resources_on_data(role: str) -> None:
    for statement in ROLES[role]:
        data_actions = [a for a in _actions(statement) if a.startswith(DATA_SERVICES)]
        assert not [a for a in data_actions if "*" in a], (role, statement.get("Sid"))
        if data_actions:
            assert "*" not in _resources(statement), (role, statement.get("Sid"))


def _conditions(statement: dict[str, Any]) -> set[str]:
    return {key for block in statement.get("Condition", {}).values() for key in block}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_kms_decrypt_is_always_conditioned_and_direct_only_where_needed(role: str) -> None:
    for statement in ROLES[role]:
        if "kms:Decrypt" not in _actions(statement) or statement.get("Effect") != "Allow":
            continue
        keys = _conditions(statement)
        assert keys, f"{role} {statement.get('Sid')}: kms:Decrypt without a condition"
        if keys != {"kms:ViaService"}:
            assert role in DIRECT_DECRYPTERS, (role, "decrypts sealed data directly", statement.get("Sid"))
            assert any(key.startswith("kms:EncryptionContext") for key in keys), (role, statement.get("Sid"))


def test_the_webhook_cannot_read_tips_back() -> None:
    for statement in ROLES["WebhookFunctionRole"]:
        if "kms:Decrypt" in _actions(statement):
            assert _conditions(statement) == {"kms:ViaService"}, statement.get("Sid")
        assert "dynamodb:Scan" not in _actions(statement)


def test_the_officer_api_cannot_open_citizen_ids_or_oa_tokens() -> None:
    for statement in ROLES["OfficerApiFunctionRole"]:
        if "kms:Decrypt" in _actions(statement) and _conditions(statement) != {"kms:ViaService"}:
            condition = statement["Condition"]
            assert condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"] == ["oa_id", "tip_id"]
            assert condition["Null"]["kms:EncryptionContext:tip_id"] == "false"
        if "secretsmanager:GetSecretValue" in _actions(statement):
            assert _resources(statement) == [{"Ref": "PepperSecret"}], "no Zalo app secrets"


def test_the_officer_api_code_has_no_zalo_client() -> None:
    probe = (
        "import sys, tipline.handlers.officer_api; "
        "bad = [m for m in ('tipline.adapters.zalo', 'tipline.tokens') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, env={"PYTHONPATH": str(ROOT / "functions")})
