"""The local stack end to end, as a subprocess started the way `make dev` starts it, over HTTP only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from moto.server import ThreadedMotoServer
from tipline_local import auth
from tipline_local.stack import cron_due, free_port, read_wiring
from tipline_local.template import load_template

ROOT = Path(__file__).resolve().parents[1]
OA = "429006714426370112"  # demo OA of unit pc02-hoan-kiem
pytestmark = pytest.mark.e2e


def _wait(check: Any, seconds: float = 120.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            ["make", "-s", "dev"],
            cwd=ROOT,
            env={**os.environ, "TIPLINE_PORT": str(self.port), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait(lambda: httpx.get(f"{self.url}/healthz").status_code == 200)
        self.info = httpx.get(f"{self.url}/_local/info").json()

    def stop(self) -> str:
        os.killpg(self.process.pid, signal.SIGINT)
        output, _ = self.process.communicate(timeout=90)
        return output.decode(errors="replace")


@pytest.fixture
def stack_process(request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = Stack(getattr(request, "param", {}))
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()


def _citizen_says(stack: Stack, user_id: str, text: str) -> None:
    answer = httpx.post(
        f"{stack.info['zalo']}/_sim/citizen",
        json={"oa_id": OA, "user_id": user_id, "text": text, "webhook_url": stack.info["webhook"]},
    ).json()
    assert answer["status"] == 200, answer


def _sent_to(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    return [m for m in httpx.get(f"{stack.info['zalo']}/_sim/sent").json() if m["user_id"] == user_id]


def test_a_signed_webhook_becomes_a_reply_the_simulator_records(stack_process: Stack) -> None:
    _citizen_says(stack_process, "7001", "Có người giả danh công an gọi điện lừa chuyển tiền")
    (ack,) = _wait(lambda: _sent_to(stack_process, "7001"))
    assert "Mã tin báo" in ack["text"]
    assert ack["path"] == "/v3.0/oa/message/cs"


def test_officers_work_tips_through_the_front_with_local_tokens(stack_process: Stack) -> None:
    _citizen_says(stack_process, "7002", "Xe máy bị trộm ở chợ")
    _wait(lambda: _sent_to(stack_process, "7002"))
    api = f"{stack_process.url}/v1"
    own = {"Authorization": "Bearer " + auth.issue_token("pc02-hoan-kiem", "officer")}
    other = {"Authorization": "Bearer " + auth.issue_token("pc08-traffic", "officer")}
    (tip,) = httpx.get(f"{api}/tips", headers=own).json()["items"]
    thread = httpx.get(f"{api}/tips/{tip['tip_id']}", params={"reason": "xác minh"}, headers=own).json()
    assert thread["messages"][0]["text"] == "Xe máy bị trộm ở chợ"
    assert (
        httpx.get(f"{api}/tips/{tip['tip_id']}", params={"reason": "x y z"}, headers=other).status_code == 404
    )
    reply = httpx.post(
        f"{api}/tips/{tip['tip_id']}/replies", json={"text": "Chúng tôi đang xác minh."}, headers=own
    )
    assert reply.status_code == 202
    assert _wait(
        lambda: [m for m in _sent_to(stack_process, "7002") if m["text"] == "Chúng tôi đang xác minh."]
    )
    assert (
        httpx.post(f"{api}/tips/{tip['tip_id']}/replies", json={"text": "x"}, headers=other).status_code
        == 404
    )
    assert httpx.get(f"{api}/tips", headers=other).json()["items"] == []

    expired = auth.issue_token("pc02-hoan-kiem", "officer", expires_in=-60)
    foreign = jwt.encode(
        jwt.decode(auth.issue_token("pc02-hoan-kiem", "officer"), options={"verify_signature": False}),
        auth.new_key(),
        algorithm="RS256",
    )
    protected = [r for r in read_wiring(load_template()).routes if r.authorized]
    assert len(protected) >= 10
    for bad in (None, "Bearer garbage", f"Bearer {expired}", f"Bearer {foreign}"):
        headers = {"Authorization": bad} if bad else {}
        for route in protected:  # every officer route, as API Gateway's JWT authorizer guards them
            path = re.sub(r"\{\w+\}", tip["tip_id"], route.template)
            response = httpx.request(route.method, f"{stack_process.url}{path}", headers=headers, json={})
            assert response.status_code == 401, (bad and bad[:16], route.method, route.template)


def test_a_schedule_runs_on_demand(stack_process: Stack) -> None:
    answer = httpx.post(f"{stack_process.url}/_local/schedules/RetentionSweeperFunction").json()
    assert answer["result"] == {"deleted": 0}
    assert httpx.post(f"{stack_process.url}/_local/schedules/NoSuchFunction").status_code == 404


@pytest.fixture
def external_aws_and_zalo() -> Iterator[dict[str, str]]:
    moto_port, zalo_port = free_port(), free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "tipline_local.zalo_sim", "--port", str(zalo_port)],
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}"},
        start_new_session=True,
    )
    zalo = f"http://127.0.0.1:{zalo_port}"
    _wait(lambda: httpx.get(f"{zalo}/_sim/sent").status_code == 200)
    yield {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "ZALO_API_BASE_URL": zalo,
        "ZALO_OAUTH_BASE_URL": zalo,
    }
    os.killpg(simulator.pid, signal.SIGTERM)
    simulator.wait(timeout=10)
    moto.stop()


def test_the_stack_uses_an_external_aws_endpoint_and_zalo_simulator(
    external_aws_and_zalo: dict[str, str],
) -> None:
    stack = Stack(external_aws_and_zalo)
    try:
        assert stack.info["aws"] == external_aws_and_zalo["AWS_ENDPOINT_URL"]
        assert stack.info["zalo"] == external_aws_and_zalo["ZALO_API_BASE_URL"]
        _citizen_says(stack, "7003", "Có cháy ở khu tập thể")
        (ack,) = _wait(lambda: _sent_to(stack, "7003"))
        assert "113" in ack["text"]
    finally:
        stack.stop()


def test_ctrl_c_leaves_no_process_behind() -> None:
    stack = Stack({})
    output = stack.stop()
    # make passes Ctrl-C on (and then reports it as its own exit); the stack itself stops cleanly.
    assert stack.process.returncode in (0, -signal.SIGINT), output[-2000:]
    assert "ready in" in output
    assert output.rstrip().endswith("stopped"), output[-2000:]
    with pytest.raises(ProcessLookupError):
        os.killpg(stack.process.pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{stack.url}/healthz")


def test_routes_queues_and_schedules_come_from_the_template() -> None:
    wiring = read_wiring(load_template())
    assert ("POST", "/webhooks/zalo") in {(r.method, r.template) for r in wiring.routes}
    assert all(r.authorized for r in wiring.routes if r.template.startswith("/v1"))
    assert not any(r.authorized for r in wiring.routes if r.template.startswith("/webhooks"))
    assert {q.queue for q in wiring.queues} >= {"RepliesQueue", "IntakeSpillQueue", "FetchQueue"}
    assert {s.function for s in wiring.schedules} >= {"RetentionSweeperFunction"}


@pytest.mark.parametrize(
    ("expression", "moment", "due"),
    [
        ("cron(30 2 * * ? *)", "2026-11-28T02:30", True),
        ("cron(30 2 * * ? *)", "2026-11-28T02:31", False),
        ("cron(0/15 * * * ? *)", "2026-11-28T10:45", True),
        ("cron(0 6 ? * MON-FRI *)".replace("MON-FRI", "2-6"), "2026-11-30T06:00", True),  # a Monday
        ("cron(0 6 ? * 2-6 *)", "2026-11-29T06:00", False),  # a Sunday
    ],
)
def test_cron_expressions_match_eventbridge_fields(expression: str, moment: str, due: bool) -> None:
    from datetime import datetime

    assert cron_due(expression, datetime.fromisoformat(moment)) is due


def test_local_tokens_verify_and_bad_ones_do_not() -> None:
    token = auth.issue_token("pc02-hoan-kiem", "commander", subject="chief")
    claims = auth.as_api_gateway_claims(auth.verify(token))
    assert claims["cognito:groups"] == "[commander]"
    assert claims["custom:unit_id"] == "pc02-hoan-kiem"
    with pytest.raises(auth.InvalidToken):
        auth.verify(auth.issue_token("u", "officer", expires_in=-1))
    with pytest.raises(auth.InvalidToken):
        auth.verify(auth.issue_token("u", "officer", key=auth.new_key()))
    assert json.dumps(claims)
