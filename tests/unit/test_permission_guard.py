"""The guard that holds every handler's AWS calls to its IAM role (see permission_guard.py) can fail."""

from __future__ import annotations

import types
from typing import Any

import boto3
import pytest
from fixtures.permission_guard import OPERATOR, PermissionGuard, allowed, permits

TABLE = "tipline-local-TiplineTable"
TABLE_ARN: dict[str, Any] = {"Fn::GetAtt": ["TiplineTable", "Arn"]}


@pytest.fixture
def dynamodb() -> object:
    return boto3.client("dynamodb", region_name="ap-southeast-1")


def _put(pk: str) -> dict[str, Any]:
    return {"TableName": TABLE, "Item": {"pk": {"S": pk}, "sk": {"S": "META"}}}


def test_a_call_outside_the_role_is_recorded_against_the_running_function(dynamodb: object) -> None:
    guard = PermissionGuard()
    with guard.running("tipline.handlers.webhook"):
        guard.check(dynamodb, "Scan", {"TableName": TABLE})  # type: ignore[arg-type]
        guard.check(dynamodb, "PutItem", _put("TIP#1"))  # type: ignore[arg-type]
    assert guard.violations == {"tipline.handlers.webhook calls dynamodb:Scan on TiplineTable": 1}
    assert guard.checked == 2


def test_calls_outside_any_handler_are_the_tests_own(dynamodb: object) -> None:
    guard = PermissionGuard()
    guard.check(dynamodb, "DeleteTable", {"TableName": TABLE})  # type: ignore[arg-type]
    assert (guard.checked, guard.violations) == (0, {})


def test_a_transaction_is_held_item_by_item_to_each_items_own_action(dynamodb: object) -> None:
    guard = PermissionGuard()
    update = {
        "TableName": TABLE,
        "Key": {"pk": {"S": "EVENT#1"}, "sk": {"S": "META"}},
        "UpdateExpression": "SET a = b",
    }
    allowed_items = [{"Put": _put("TIP#1")}, {"Put": _put("CODE#K")}, {"Update": update}]
    with guard.running("tipline.handlers.webhook"):
        guard.check(dynamodb, "TransactWriteItems", {"TransactItems": allowed_items})  # type: ignore[arg-type]
        assert guard.violations == {}
        refused = [
            {"Put": _put("TIP#1")},
            {"Put": _put("OA#1")},
            {"ConditionCheck": {**update, "Key": _put("TIP#2")["Item"]}},
        ]
        guard.check(dynamodb, "TransactWriteItems", {"TransactItems": refused})  # type: ignore[arg-type]
    assert guard.violations == {
        # the registry is not the webhook's to write; ConditionCheckItem is not granted to it
        "tipline.handlers.webhook calls dynamodb:PutItem on TiplineTable keys OA#": 1,
        "tipline.handlers.webhook calls dynamodb:ConditionCheckItem on TiplineTable keys TIP#": 1,
    }


def test_dynamodb_index_queries_need_the_index_in_the_resource() -> None:
    scheduler = "tipline.handlers.advisory_scheduler"
    assert allowed(scheduler, "dynamodb:Query", {"TableName": TABLE, "IndexName": "gsi1"})
    assert not allowed(scheduler, "dynamodb:Query", {"TableName": TABLE})  # the table itself
    gsi2 = {"TableName": TABLE, "IndexName": "gsi2"}
    assert not allowed("tipline.handlers.webhook", "dynamodb:Query", gsi2)
    assert allowed("tipline.handlers.webhook", "sqs:SendMessage", {})
    assert not allowed("tipline.handlers.officer_api", "secretsmanager:PutSecretValue", {})


# -- dynamodb:LeadingKeys, as IAM evaluates it -------------------------------------------------------------
WRITES_TIPS_ONLY = [
    {
        "Effect": "Allow",
        "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"],
        "Resource": TABLE_ARN,
        "Condition": {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["TIP#*", "CODE#*"]},
            "Null": {"dynamodb:LeadingKeys": "false"},
        },
    }
]


def test_leading_keys_hold_a_write_to_the_item_types_named() -> None:
    assert permits(WRITES_TIPS_ONLY, "dynamodb:PutItem", _put("TIP#abc"))
    assert not permits(WRITES_TIPS_ONLY, "dynamodb:PutItem", _put("OA#123"))
    update = {"TableName": TABLE, "Key": {"pk": {"S": "TOKEN#123"}, "sk": {"S": "META"}}}
    assert not permits(WRITES_TIPS_ONLY, "dynamodb:UpdateItem", update)


def test_every_item_of_a_batch_must_fit() -> None:
    def batch(*pks: str) -> dict[str, Any]:
        requests = [{"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": "x"}}}} for pk in pks]
        return {"RequestItems": {TABLE: requests}}

    assert permits(WRITES_TIPS_ONLY, "dynamodb:BatchWriteItem", batch("TIP#1", "CODE#2"))
    assert not permits(WRITES_TIPS_ONLY, "dynamodb:BatchWriteItem", batch("TIP#1", "OA#2"))


def test_a_call_without_leading_keys_fails_a_null_condition() -> None:
    """A Scan names no partition: ForAllValues alone would let it through (vacuously), Null does not."""
    assert not permits(WRITES_TIPS_ONLY, "dynamodb:Scan", {"TableName": TABLE})
    only_tips = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["TIP#*"]}}
    vacuous = [{**WRITES_TIPS_ONLY[0], "Condition": only_tips}]
    assert permits(vacuous, "dynamodb:Scan", {"TableName": TABLE})


def test_a_query_is_held_to_the_partition_it_reads() -> None:
    statements = [{**WRITES_TIPS_ONLY[0], "Action": "dynamodb:Query"}]
    query = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": "TIP#1"}, ":prefix": {"S": "MSG#"}},
    }
    assert permits(statements, "dynamodb:Query", query)
    other = {**query, "ExpressionAttributeValues": {":pk": {"S": "AUDIT#1"}, ":prefix": {"S": "x"}}}
    assert not permits(statements, "dynamodb:Query", other)


def test_a_deny_wins_over_an_allow() -> None:
    deny = {
        "Effect": "Deny",
        "Action": "dynamodb:PutItem",
        "Resource": TABLE_ARN,
        "Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["CODE#*"]}},
    }
    assert permits([*WRITES_TIPS_ONLY, deny], "dynamodb:PutItem", _put("TIP#1"))
    assert not permits([*WRITES_TIPS_ONLY, deny], "dynamodb:PutItem", _put("CODE#1"))


def test_the_table_must_be_the_one_named() -> None:
    other_table = {**_put("TIP#1"), "TableName": "tipline-local-SomeOtherTable"}
    assert not permits(WRITES_TIPS_ONLY, "dynamodb:PutItem", other_table)


# -- Secrets Manager: the secret named -----------------------------------------------------------------------
def test_a_secret_read_is_held_to_the_secrets_named() -> None:
    statements = [
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:::secret:tipline/${Stage}/apps/*"},
        }
    ]
    arn = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:tipline/local/apps/42-AbCdEf"
    assert permits(statements, "secretsmanager:GetSecretValue", {"SecretId": arn})
    assert permits(statements, "secretsmanager:GetSecretValue", {"SecretId": "tipline/local/apps/42"})
    assert not permits(statements, "secretsmanager:GetSecretValue", {"SecretId": "tipline/local/pepper"})


# -- tipline-ops commands: the operator role -----------------------------------------------------------------
def _call(guard: PermissionGuard, client: object, operation: str, params: dict[str, Any]) -> None:
    guard.check(client, operation, params)  # type: ignore[arg-type]


def test_a_tipline_ops_command_is_held_to_the_operator_role(dynamodb: object) -> None:
    """A call made from a tipline_ops module (a tipline-ops command) is checked against OperatorRole."""
    command = types.FunctionType(_call.__code__, {"__name__": "tipline_ops.commands"})
    guard = PermissionGuard()
    command(guard, dynamodb, "PutItem", _put("OA#4290067144263701"))  # register-oa
    command(guard, dynamodb, "PutItem", _put("EVENT#x"))  # not an operator's item
    assert guard.checked == 2
    assert guard.violations == {f"{OPERATOR} calls dynamodb:PutItem on TiplineTable keys EVENT#": 1}
