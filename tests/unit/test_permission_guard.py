"""The guard that holds every handler's AWS calls to its IAM role (see permission_guard.py) can fail."""

from __future__ import annotations

import boto3
import pytest
from fixtures.permission_guard import PermissionGuard, allowed


@pytest.fixture
def dynamodb() -> object:
    return boto3.client("dynamodb", region_name="ap-southeast-1")


def test_a_call_outside_the_role_is_recorded_against_the_running_function(dynamodb: object) -> None:
    guard = PermissionGuard()
    with guard.running("tipline.handlers.webhook"):
        guard.check(dynamodb, "Scan", {"TableName": "t"})  # type: ignore[arg-type]
        guard.check(dynamodb, "PutItem", {"TableName": "t"})  # type: ignore[arg-type]
    assert guard.violations == {"tipline.handlers.webhook calls dynamodb:Scan": 1}
    assert guard.checked == 2


def test_calls_outside_any_handler_are_the_tests_own(dynamodb: object) -> None:
    guard = PermissionGuard()
    guard.check(dynamodb, "DeleteTable", {"TableName": "t"})  # type: ignore[arg-type]
    assert (guard.checked, guard.violations) == (0, {})


def test_dynamodb_index_queries_need_the_index_in_the_resource() -> None:
    assert allowed("tipline.handlers.advisory_scheduler", "dynamodb:Query", {"IndexName": "gsi1"})
    assert not allowed("tipline.handlers.advisory_scheduler", "dynamodb:Query", {})  # the table itself
    assert not allowed("tipline.handlers.webhook", "dynamodb:Query", {"IndexName": "gsi2"})
    assert allowed("tipline.handlers.webhook", "sqs:SendMessage", {})
    assert not allowed("tipline.handlers.officer_api", "secretsmanager:PutSecretValue", {})
