"""Every AWS call a handler makes in the tests must be allowed by that function's IAM role.

moto does not enforce IAM, so a missing action would pass every test here and fail in AWS. The
guard wraps botocore's one entry point for API calls, finds the function whose handler is running
(from the calling thread's frames, or the only handler running when the call comes from a worker
thread), and records each call the function's role (from the SAM-transformed template) does not
allow. Actions are checked by name; DynamoDB calls also by target (table or which index).
Conditions (KMS encryption context, ViaService) are checked statically in test_policies.py.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from botocore.client import BaseClient
from tipline_local.transform import transformed

# Operations whose IAM action has another name.
ACTION_ALIASES = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:DeleteObjects": "s3:DeleteObject",
}
HANDLER_PACKAGE = "tipline.handlers."


@cache
def role_statements() -> dict[str, list[dict[str, Any]]]:
    """Handler module (``tipline.handlers.webhook``) -> the Allow statements of its function's role."""
    resources = transformed()["Resources"]
    by_module: dict[str, list[dict[str, Any]]] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        module = properties["Handler"].rsplit(".", 1)[0]
        role = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        statements = [
            statement
            for policy in role.get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
            if statement.get("Effect") == "Allow"
        ]
        by_module[module] = statements
    return by_module


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _target_matches(action: str, params: dict[str, Any], statement: dict[str, Any]) -> bool:
    if not action.startswith("dynamodb:"):
        return True
    resources = [json.dumps(resource) for resource in _listed(statement.get("Resource", []))]
    index = params.get("IndexName")
    if index:
        return any(f"/index/{index}" in r or "/index/*" in r for r in resources)
    return any("TiplineTable" in r and "/index/" not in r for r in resources)


def allowed(module: str, action: str, params: dict[str, Any]) -> bool:
    for statement in role_statements()[module]:
        named = any(fnmatch.fnmatchcase(action, p) for p in _listed(statement.get("Action", [])))
        if named and _target_matches(action, params, statement):
            return True
    return False


class PermissionGuard:
    def __init__(self) -> None:
        self.violations: Counter[str] = Counter()
        self.checked = 0
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _module_calling(self) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            if name.startswith(HANDLER_PACKAGE) and name in role_statements():
                return str(name)
            frame = frame.f_back  # type: ignore[assignment]
        with self._lock:
            running = [module for module, count in self._running.items() if count > 0]
        return running[0] if len(running) == 1 else None

    def check(self, client: BaseClient, operation: str, params: dict[str, Any]) -> None:
        module = self._module_calling()
        if module is None:
            return  # the test's own call, not a function's
        action = f"{client.meta.service_model.signing_name}:{operation}"
        action = ACTION_ALIASES.get(action, action)
        self.checked += 1
        if not allowed(module, action, params):
            target = f" on index {params['IndexName']}" if params.get("IndexName") else ""
            self.violations[f"{module} calls {action}{target}"] += 1

    @contextmanager
    def running(self, module: str) -> Iterator[None]:
        with self._lock:
            self._running[module] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[module] -= 1


@contextmanager
def guarding(monkeypatch: Any) -> Iterator[PermissionGuard]:
    """Check every AWS call while the block runs; handlers are marked running while they run."""
    import importlib

    guard = PermissionGuard()
    original = BaseClient._make_api_call

    def checked_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        guard.check(self, operation, params)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", checked_call)
    for module_name in role_statements():
        module = importlib.import_module(module_name)
        handler = module.handler

        def marked(event: Any, context: Any, _handler: Any = handler, _name: str = module_name) -> Any:
            with guard.running(_name):
                return _handler(event, context)

        monkeypatch.setattr(module, "handler", marked)
    yield guard
