"""Shared fixtures: one moto server per test worker, re-provisioned from template.yaml per test.

Helpers the tests import live in ``tests/fixtures/`` (events, webhook, sender, officer, the
permission guard); this file only defines pytest fixtures."""

from __future__ import annotations

import io
import logging
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.permission_guard import guarding
from tipline.adapters import aws, secrets, zalo
from tipline.config import get_settings
from tipline.intake import spill
from tipline.observability import metrics
from tipline_local import emulator
from tipline_local.accounts import demo_accounts, seed_accounts
from tipline_local.provision import REGION, Provisioned, provision


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with emulator.in_process() as endpoint:  # FIFO groups come back in order, as in SQS
        yield endpoint


def reset_caches() -> None:
    metrics.clear_metrics()  # what a test that calls the logic without a handler left unflushed
    get_settings.cache_clear()
    aws.reset_clients()
    secrets.forget()
    spill._sealer.cache_clear()
    from tipline import wiring

    wiring.table.cache_clear()
    wiring.token_store.cache_clear()
    zalo.reset_client()


@pytest.fixture
def stack(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    """A fresh emulated deployment: resources from template.yaml, the demo OA registry seeded."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request).close()  # noqa: S310 - our own loopback moto server
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    provisioned = provision(moto_endpoint)
    for name, value in provisioned.env("WebhookFunction").items():
        monkeypatch.setenv(name, value)
    reset_caches()
    seed_accounts(demo_accounts(), provisioned.env("WebhookFunction")["APP_SECRET_PREFIX"])
    with guarding(monkeypatch) as guard:
        yield provisioned
    reset_caches()
    assert not guard.violations, f"calls the function's IAM role does not allow: {dict(guard.violations)}"


@pytest.fixture
def lambda_context() -> Any:
    class Context:
        function_name = "tipline-test"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:tipline-test"
        aws_request_id = "test-request"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 5000

    return Context()


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ZaloTipline")
    monkeypatch.setenv("POWERTOOLS_DEV", os.environ.get("POWERTOOLS_DEV", "false"))


logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every structured log line the functions emit, formatted exactly as in production."""
    from tipline.observability import logger

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)
