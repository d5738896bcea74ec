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
            assert _resources(statement) == [{"Ref": "CursorSecret"}], "neither the pepper nor app secrets"


def test_the_officer_api_code_has_no_zalo_client() -> None:
    probe = (
        "import sys, tipline.handlers.officer_api; "
        "bad = [m for m in ('tipline.adapters.zalo', 'tipline.tokens') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, env={"PYTHONPATH": str(ROOT / "functions")})


# -- write scope: each role writes only the item types it owns -----------------------------------------------
TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
# The partitions (pk prefixes) each function may write in the domain table, and why.
OWNED_ITEMS = {
    "WebhookFunctionRole": {"EVENT#*", "CONTACT#*", "TIP#*", "CODE#*", "PURGE", "ADVISORY#*"},
    "IntakeSpillFunctionRole": {"EVENT#*", "CONTACT#*", "TIP#*", "CODE#*", "PURGE", "ADVISORY#*"},
    "FetcherFunctionRole": {"TIP#*"},  # attachment records in their tip
    "SenderFunctionRole": {"TIP#*", "CONTACT#*", "TOKEN#*", "ZMSG#*"},
    "TokenRefreshFunctionRole": {"TOKEN#*"},
    "RetentionSweeperFunctionRole": {"TIP#*", "CODE#*", "CONTACT#*", "ZMSG#*", "PURGE"},
    "AdvisoriesFunctionRole": {"ADVISORY#*"},
    "AdvisorySenderFunctionRole": {"ADVISORY#*", "CONTACT#*", "PROMOQUOTA#*", "ZMSG#*", "TOKEN#*"},
    "OfficerApiFunctionRole": {"TIP#*", "CONTACT#*", "CODE#*", "ADVISORY#*"},
    "AuditArchiveFunctionRole": set(),
}


def _on_table(statement: dict[str, Any], table: str) -> bool:
    return any(
        resource == {"Fn::GetAtt": [table, "Arn"]}
        or (isinstance(resource, dict) and str(resource.get("Fn::Sub", "")).startswith(f"${{{table}.Arn}}"))
        for resource in _resources(statement)
    )


def _leading_keys(statement: dict[str, Any]) -> set[str] | None:
    condition = statement.get("Condition", {})
    keys = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
    if keys is None or condition.get("Null", {}).get("dynamodb:LeadingKeys") != "false":
        return None  # unconditioned, or vacuously true for a call without a partition key
    return set(keys)


def test_every_function_role_is_listed_with_the_items_it_owns() -> None:
    functions = {name for name in ROLES if name.endswith("FunctionRole")}
    assert functions == set(OWNED_ITEMS)


@pytest.mark.parametrize("role", sorted(OWNED_ITEMS))
def test_each_role_writes_only_the_item_types_it_owns(role: str) -> None:
    writable: set[str] = set()
    for statement in ROLES[role]:
        writes = TABLE_WRITES & set(_actions(statement))
        if statement.get("Effect") != "Allow" or not writes or not _on_table(statement, "TiplineTable"):
            continue
        keys = _leading_keys(statement)
        assert keys is not None, f"{role} {statement.get('Sid')}: {sorted(writes)} on any item of the table"
        writable |= keys
    assert writable == OWNED_ITEMS[role], role


def test_the_officer_api_cannot_reroute_an_oa_or_touch_tokens_or_pointers() -> None:
    owned = OWNED_ITEMS["OfficerApiFunctionRole"]
    assert not {"OA#*", "TOKEN#*", "ZMSG#*", "EVENT#*", "*"} & owned


# -- append-only audit ---------------------------------------------------------------------------------------
AUDIT_CHANGES = {
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_role_may_alter_or_delete_an_audit_record(role: str) -> None:
    for statement in ROLES[role]:
        if statement.get("Effect") != "Allow" or not _on_table(statement, "AuditTable"):
            continue
        actions = set(_actions(statement))
        assert not actions & AUDIT_CHANGES, (role, statement.get("Sid"))
        assert not any("*" in action for action in actions), (role, statement.get("Sid"))
        if "dynamodb:PutItem" in actions:
            assert role == "OfficerApiFunctionRole", f"{role} may put audit records"
            assert _leading_keys(statement) == {"AUDIT#*"}


def test_the_retention_sweeper_cannot_reach_the_audit_trail() -> None:
    for statement in ROLES["RetentionSweeperFunctionRole"]:
        assert not _on_table(statement, "AuditTable"), statement.get("Sid")


def test_the_audit_table_streams_every_change_to_a_write_once_archive() -> None:
    resources = _template()["Resources"]
    table = resources["AuditTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionProtectionEnabled"] is True
    bucket = resources["AuditArchiveBucket"]["Properties"]
    lock = bucket["ObjectLockConfiguration"]
    assert bucket["ObjectLockEnabled"] is True and lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": {"Ref": "AuditRetentionDays"}}
    (source,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["AuditTable", "StreamArn"]}
    ]
    assert source["FunctionName"] == {"Ref": "AuditArchiveFunction"}
    assert "ReportBatchItemFailures" in source["FunctionResponseTypes"]
    assert "OnFailure" in source["DestinationConfig"]
    archive = [s for s in ROLES["AuditArchiveFunctionRole"] if str(s.get("Action", "")).startswith("s3:")]
    assert {a for s in archive for a in _actions(s)} == {"s3:PutObject"}, "the archiver only ever puts"


def test_audit_records_have_their_own_longer_retention() -> None:
    parameters = _template()["Parameters"]
    audit, tips = parameters["AuditRetentionDays"], parameters["RetentionDays"]
    assert int(audit["Default"]) > int(tips["Default"])
    assert int(audit["MinValue"]) >= 365


# -- secrets and keys ----------------------------------------------------------------------------------------
def test_every_secret_is_encrypted_with_the_project_key() -> None:
    secrets = [r for r in _template()["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert secrets
    assert all(s["Properties"].get("KmsKeyId") == {"Ref": "DataKey"} for s in secrets)


@pytest.mark.parametrize("bucket", ["EvidenceBucketPolicy", "AuditArchiveBucketPolicy"])
def test_buckets_accept_writes_under_the_project_key_only(bucket: str) -> None:
    statements = _template()["Resources"][bucket]["Properties"]["PolicyDocument"]["Statement"]
    pinned = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s["Action"] == "s3:PutObject"
        and s.get("Condition", {})
        .get("StringNotEqualsIfExists", {})
        .get("s3:x-amz-server-side-encryption-aws-kms-key-id")
        == {"Fn::GetAtt": ["DataKey", "Arn"]}
    ]
    assert pinned, f"{bucket} does not pin the project key"


def test_the_officer_api_has_its_own_cursor_secret_not_the_pepper() -> None:
    readers = {
        role
        for role, statements in ROLES.items()
        for statement in statements
        if {"Ref": "PepperSecret"} in _resources(statement)
    }
    assert "OfficerApiFunctionRole" not in readers
    assert {"WebhookFunctionRole", "IntakeSpillFunctionRole"} <= readers


@pytest.mark.parametrize("table", ["TiplineTable", "AuditTable"])
def test_tables_are_protected_from_deletion(table: str) -> None:
    resource = _template()["Resources"][table]
    assert resource["Properties"]["DeletionProtectionEnabled"] is True
    assert resource["DeletionPolicy"] == "Retain"
