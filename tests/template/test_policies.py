"""IAM policy checks over the SAM-transformed template (what CloudFormation will really create).

Part of `make validate` too. Statements inside SAM `Policies` are only visible after the transform.
"""

from __future__ import annotations

import fnmatch
import json
import re
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
    "OperatorRole": "tipline-ops opens and seals OA tokens (exchange-code, followers sync)",
    "BreakGlassRole": "emergency access to any sealed data; every use raises an alarm",
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


@pytest.mark.parametrize("role", sorted(ROLES))
def test_data_keys_are_generated_only_for_a_named_context_or_through_a_service(role: str) -> None:
    for statement in ROLES[role]:
        if "kms:GenerateDataKey" in _actions(statement) and statement.get("Effect") == "Allow":
            keys = _conditions(statement)
            assert keys == {"kms:ViaService"} or any(k.startswith("kms:EncryptionContext") for k in keys), (
                role,
                statement.get("Sid"),
            )


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
    "ConsoleSignInFunctionRole": set(),  # deploy time: the console app client's settings
}


def _names_table(resource: Any, table: str) -> bool:
    """The table's ARN (or an index of it); under Fn::If, either branch (the live table, or the one
    restored from it that RestoredTableName names during a PITR recovery)."""
    if isinstance(resource, dict) and "Fn::If" in resource:
        return any(_names_table(branch, table) for branch in resource["Fn::If"][1:])
    sub = str(resource.get("Fn::Sub", "")) if isinstance(resource, dict) else ""
    restored = table == "TiplineTable" and ":table/${RestoredTableName}" in sub
    return resource == {"Fn::GetAtt": [table, "Arn"]} or sub.startswith(f"${{{table}.Arn}}") or restored


def _on_table(statement: dict[str, Any], table: str) -> bool:
    return any(_names_table(resource, table) for resource in _resources(statement))


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
        changes = AUDIT_CHANGES & set(_actions(statement))
        if statement.get("Effect") == "Allow" and changes and _on_table(statement, "TiplineTable"):
            keys = _leading_keys(statement)  # audit records once lived here: none may be reachable
            assert keys is not None and not any(fnmatch.fnmatchcase("AUDIT#t", k) for k in keys), (
                role,
                statement.get("Sid"),
            )
        if statement.get("Effect") != "Allow" or not _on_table(statement, "AuditTable"):
            continue
        actions = set(_actions(statement))
        assert not actions & AUDIT_CHANGES, (role, statement.get("Sid"))
        assert not any("*" in action for action in actions), (role, statement.get("Sid"))
        if "dynamodb:PutItem" in actions:  # officers' actions, and advisories managed with tipline-ops
            assert role in ("OfficerApiFunctionRole", "OperatorRole"), f"{role} may put audit records"
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


# -- the key policy: who can use the project key for what ----------------------------------------------------
CRYPTO = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
)
ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


def _key_statements() -> list[dict[str, Any]]:
    key = _template()["Resources"]["DataKey"]["Properties"]
    return [s for s in key["KeyPolicy"]["Statement"] if s["Effect"] == "Allow"]


def _grants(statement: dict[str, Any], operation: str) -> bool:
    return any(fnmatch.fnmatchcase(operation, pattern) for pattern in _actions(statement))


def _principal_paths(statement: dict[str, Any]) -> set[str] | None:
    """The role paths (webhook, operator, ...) a statement is limited to; None when it is not."""
    arns = statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn")
    if arns is None:
        return None
    paths = set()
    for arn in arns:
        match = re.fullmatch(r".*:role/tipline/\$\{Stage\}/([a-z-]+)/\*", arn["Fn::Sub"])
        assert match, arn
        paths.add(match.group(1))
    return paths


def _via_service(statement: dict[str, Any]) -> bool:
    return "kms:ViaService" in statement.get("Condition", {}).get("StringEquals", {})


def _direct(operation: str, context: dict[str, str]) -> set[str]:
    """Role paths the key policy lets call ``operation`` directly (not through a service) with this
    encryption context."""
    found: set[str] = set()
    for statement in _key_statements():
        if (
            "AWS" not in statement["Principal"]
            or not _grants(statement, operation)
            or _via_service(statement)
        ):
            continue
        condition = statement.get("Condition", {})
        any_keys = condition.get("ForAnyValue:StringEquals", {}).get("kms:EncryptionContextKeys")
        purpose = condition.get("StringEquals", {}).get("kms:EncryptionContext:purpose")
        if any_keys is not None and not set(any_keys) & set(context):
            continue
        if purpose is not None and context.get("purpose") != purpose:
            continue
        found |= _principal_paths(statement) or {"<anyone in the account>"}
    return found


def test_administrators_manage_the_key_but_cannot_use_it() -> None:
    for statement in _key_statements():
        if statement["Principal"].get("AWS") != ACCOUNT_ROOT:
            continue
        used = [op for op in CRYPTO if _grants(statement, op)]
        if not used:
            continue
        scoped = _principal_paths(statement) is not None or _via_service(statement)
        assert scoped, f"{statement['Sid']}: {used} for every administrator"
        if "kms:CreateGrant" in used:
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}, statement["Sid"]
    admin = [s for s in _key_statements() if _grants(s, "kms:PutKeyPolicy")]
    assert admin and all(not any(_grants(s, op) for op in CRYPTO) for s in admin)


def test_sealed_citizen_data_opens_only_for_the_functions_that_need_it_and_break_glass() -> None:
    for context in ({"oa_id": "1", "tip_id": "t"}, {"oa_id": "1", "contact": "c"}):
        readers = {"fetcher", "officer-api", "sender", "advisory-sender", "break-glass"}
        assert _direct("kms:Decrypt", context) == readers, context
        assert _direct("kms:GenerateDataKey", context) == {"webhook", "intake-spill", "officer-api"}
    spill = {"purpose": "intake-spill", "stage": "prod"}
    assert _direct("kms:Decrypt", spill) == {"intake-spill", "break-glass"}
    assert _direct("kms:GenerateDataKey", spill) == {"webhook", "intake-spill"}
    tokens = {"oa_id": "1", "purpose": "oa-token"}
    assert _direct("kms:Decrypt", tokens) == {
        "sender",
        "token-refresh",
        "advisory-sender",
        "operator",
        "break-glass",
    }
    assert _direct("kms:GenerateDataKey", tokens) == {
        "sender",
        "token-refresh",
        "advisory-sender",
        "operator",
    }


def test_evidence_opens_through_s3_only_for_the_functions_that_need_it() -> None:
    for statement in _key_statements():
        services = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
        if services is None or not _grants(statement, "kms:Decrypt"):
            continue
        names = json.dumps(services)
        if "s3." in names:
            assert _principal_paths(statement) == {
                "fetcher",
                "officer-api",
                "retention-sweeper",
                "audit-archive",
                "break-glass",
            }
        if "dynamodb." not in names:
            assert _principal_paths(statement) is not None, statement["Sid"]


def test_every_function_role_sits_under_the_path_the_key_policy_names() -> None:
    resources = _template()["Resources"]
    paths = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role" and name.endswith(
            ("FunctionRole", "OperatorRole", "GlassRole")
        ):
            path = resource["Properties"].get("Path", {}).get("Fn::Sub", "")
            match = re.fullmatch(r"/tipline/\$\{Stage\}/([a-z-]+)/", path)
            assert match, f"{name} is not under /tipline/<stage>/<name>/"
            paths[name] = match.group(1)
    assert len(set(paths.values())) == len(paths), "two roles share a path"
    named = set().union(*(_principal_paths(s) or set() for s in _key_statements()))
    assert named <= set(paths.values()), (
        f"the key policy names paths no role has: {named - set(paths.values())}"
    )


def test_service_principals_are_held_to_this_account() -> None:
    services = [s for s in _key_statements() if "Service" in s["Principal"]]
    assert services
    for statement in services:
        condition = json.dumps(statement.get("Condition", {}))
        assert "aws:SourceAccount" in condition or "kms:EncryptionContext:aws:logs:arn" in condition, (
            statement
        )
    named = {json.dumps(s["Principal"]["Service"]) for s in services}
    assert not [n for n in named if "sqs" in n or "sns" in n], "no service needs the key on its own"


def _rule_pattern(rule: str) -> dict[str, Any]:
    return _template()["Resources"][rule]["Properties"]["EventPattern"]  # type: ignore[no-any-return]


def test_the_break_glass_role_needs_mfa_and_its_every_use_raises_an_alarm() -> None:
    resources = _template()["Resources"]
    role = resources["BreakGlassRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert role["RoleName"] == {"Fn::Sub": "tipline-${Stage}-break-glass"}
    assert "BreakGlassRole" in json.dumps(_rule_pattern("BreakGlassUsedRule"))
    alarms = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "TriggeredRules"
        and r["Properties"]["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": "BreakGlassUsedRule"}}]
    ]
    assert alarms and alarms[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def _cloudtrail_event(session_role: str, event_name: str, **detail: Any) -> dict[str, Any]:
    return {
        "source": "aws.kms",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventName": event_name,
            "userIdentity": {
                "type": "AssumedRole",
                "sessionContext": {"sessionIssuer": {"arn": session_role}},
            },
            **detail,
        },
    }


def test_the_break_glass_rule_matches_its_calls_and_no_one_elses() -> None:
    """EventBridge's matching, as moto implements it, on CloudTrail records of a break-glass session."""
    from moto.events.models import EventPattern

    glass = "arn:aws:iam::123456789012:role/tipline/prod/break-glass/tipline-prod-break-glass"
    operator = "arn:aws:iam::123456789012:role/tipline/prod/operator/tipline-prod-operator"
    pattern = json.loads(
        json.dumps(_rule_pattern("BreakGlassUsedRule")).replace(
            json.dumps({"Fn::GetAtt": ["BreakGlassRole", "Arn"]}), json.dumps(glass)
        )
    )
    rule = EventPattern.load(json.dumps(pattern))
    assert rule.matches_event(_cloudtrail_event(glass, "Decrypt"))
    assumed = _cloudtrail_event(operator, "AssumeRole", requestParameters={"roleArn": glass})
    assert rule.matches_event({**assumed, "source": "aws.sts"})
    assert not rule.matches_event(_cloudtrail_event(operator, "Decrypt"))


# -- Cognito -------------------------------------------------------------------------------------------------
def _app_clients() -> dict[str, dict[str, Any]]:
    """Every app client of the officers' pool with the settings it ends up with: its own, or those a
    custom resource applies to it (the console's hosted sign-in)."""
    resources = _template()["Resources"]
    clients = {
        n: dict(r["Properties"]) for n, r in resources.items() if r["Type"] == "AWS::Cognito::UserPoolClient"
    }
    for resource in resources.values():
        target = resource.get("Properties", {}).get("ClientId", {})
        if (
            resource["Type"].startswith("Custom::")
            and isinstance(target, dict)
            and target.get("Ref") in clients
        ):
            clients[target["Ref"]].update(resource["Properties"])
    return clients


def test_officers_cannot_change_their_email_and_threat_protection_is_on() -> None:
    resources = _template()["Resources"]
    pool = resources["OfficerUserPool"]["Properties"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": {"Ref": "OfficerThreatProtection"}}
    assert _template()["Parameters"]["OfficerThreatProtection"]["Default"] == "ENFORCED"
    assert _app_clients()
    for name, client in _app_clients().items():
        writable = client.get("WriteAttributes")
        assert writable, f"{name}: no WriteAttributes means every standard attribute is self-writable"
        assert "email" not in writable and not [a for a in writable if a.startswith("custom:")], name


def test_a_disabled_officer_keeps_access_at_most_15_minutes() -> None:
    for name, client in _app_clients().items():
        units = client["TokenValidityUnits"]
        assert units["IdToken"] == "minutes" and client["IdTokenValidity"] <= 15, name
        assert units["AccessToken"] == "minutes" and client["AccessTokenValidity"] <= 15, name
        assert client["EnableTokenRevocation"] is True, name
