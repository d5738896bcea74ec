"""The officer API's wiring in template.yaml: who reaches it, and what its role may do."""

from __future__ import annotations

from typing import Any

from tipline_local.template import functions, load_template
from tipline_local.transform import transformed


def _officer_statements() -> list[dict[str, Any]]:
    role = transformed()["Resources"]["OfficerApiFunctionRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def test_the_officer_api_seals_only_into_threads_and_cannot_edit_the_audit_trail() -> None:
    statements = _officer_statements()
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and "kms:GenerateDataKey" in actions:
            condition = statement["Condition"]
            if set(condition) == {"StringEquals"}:
                assert set(condition["StringEquals"]) == {"kms:ViaService"}, statement["Sid"]
                continue
            assert condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"] == ["oa_id", "tip_id"]
            assert condition["Null"] == {"kms:EncryptionContext:tip_id": "false"}
    audit = [s for s in statements if "AuditTable" in str(s["Resource"])]
    actions = {a for s in audit for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"dynamodb:PutItem", "dynamodb:Query"}, "the audit trail: put and read, never edit"
    assert not [s for s in statements if "TiplineTable" in str(s["Resource"]) and "AUDIT#" in str(s)]


def test_webhook_routes_stay_open_and_officer_routes_are_behind_the_authorizer() -> None:
    template = load_template()
    api = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert "DefaultAuthorizer" not in api, "the webhook must stay reachable by Zalo"
    jwt = api["Authorizers"]["OfficerJwt"]
    assert jwt["IdentitySource"] == "$request.header.Authorization"
    for name, function in functions(template).items():
        for event in function.get("Events", {}).values():
            spec = event.get("Properties", {})
            if event["Type"] == "HttpApi":
                authorized = spec.get("Auth", {}).get("Authorizer") == "OfficerJwt"
                assert authorized == str(spec["Path"]).startswith("/v1/"), (name, spec["Path"])
    pool = template["Resources"]["OfficerUserPool"]["Properties"]
    assert pool["MfaConfiguration"] == "ON"
    assert {"Name": "unit_id", "AttributeDataType": "String", "Mutable": True} in pool["Schema"]
    client = template["Resources"]["OfficerUserPoolClient"]["Properties"]
    assert "custom:unit_id" not in client["WriteAttributes"], "an officer cannot move to another unit"
