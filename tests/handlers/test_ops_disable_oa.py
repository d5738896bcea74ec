"""tipline-ops disable-oa / enable-oa: one OA's intake and sending stop (with a reason, nothing
dropped) and resume, through the real webhook, reply sender and advisory sender."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fixtures.officer import call, claims, publish_advisory_now
from fixtures.sender import Poller, Zalo, citizen_writes, deliver_fanout_once, start_simulator
from fixtures.webhook import deliver, demo_oa, items_with_prefix, text_event
from tipline import clock, wiring
from tipline.advisories.model import Skip
from tipline.audit import oa_trail
from tipline.config import get_settings
from tipline.handlers import advisory_scheduler
from tipline.zalo_rules import VIETNAM
from tipline_local.provision import Provisioned
from tipline_ops.cli import main

USER = "246845883529197922"
CANARY = "CANARY-disabled-oa-4471 tôi bị lừa"


@pytest.fixture
def zalo(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    for name, value in stack.env("AdvisorySenderFunction").items():
        monkeypatch.setenv(name, value)
    running = start_simulator(monkeypatch)
    # 10:00 Vietnam time on a fixed day (not today): advisories may go out.
    running.clock.advance(datetime(2026, 3, 2, 10, tzinfo=VIETNAM).timestamp() - time.time())
    yield running
    running.running.stop()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()  # the handlers' log and metric lines so far
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_disabled_oa_refuses_its_webhooks_holds_its_replies_and_resumes_when_enabled(
    stack: Provisioned, zalo: Zalo, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    oa, other = demo_oa(), demo_oa(2)
    citizen_writes(zalo, lambda_context, "xin chào", USER)  # its acknowledgement waits in replies.fifo
    code, out, _ = run(["disable-oa", "--oa", oa.oa_id, "--reason", "phishing via this OA"], capsys)
    assert code == 0 and "disabled" in out
    assert f"Within {int(get_settings().registry_cache_seconds)} s" in out
    (record,) = oa_trail(wiring.table(), oa.oa_id)
    assert (record.action, record.actor, record.reason) == ("oa_disabled", "ops", "phishing via this OA")

    # Intake: 200 with a refusal (Zalo does not retry), nothing stored; other OAs unaffected.
    before = len(items_with_prefix(stack, "TIP#"))
    response = deliver(lambda_context, text_event(CANARY, user_id=USER, oa=oa), oa=oa)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "refused", "reason": "this OA is disabled"}
    assert len(items_with_prefix(stack, "TIP#")) == before
    assert (
        deliver(lambda_context, text_event("xin chào", user_id=USER, oa=other), oa=other)["statusCode"] == 200
    )
    assert len(items_with_prefix(stack, "TIP#")) > before

    # Sending: the disabled OA's reply is held in the DLQ with its reason, never sent or dropped.
    poller = Poller(stack, lambda_context)
    poller.drain()
    assert not [s for s in zalo.cs_sent(USER) if s["oa_id"] == oa.oa_id]
    code, out, _ = run(["dlq-inspect", "--queue", "replies", "--json"], capsys)
    (held,) = json.loads(out)["messages"]
    assert (held["reason"], held["oa_id"]) == ("oa_disabled", oa.oa_id)

    code, out, _ = run(["status", "--format", "json"], capsys)
    states = {row["oa_id"]: row["state"] for row in json.loads(out)["oas"]}
    assert states[oa.oa_id] == "DISABLED" and states[other.oa_id] == "active"

    # Redriven while still disabled, it is held again, keeping its redrive count: the next redrive
    # parks it instead of looping.
    assert "1 message(s) moved back" in run(["redrive", "--queue", "replies"], capsys)[1]
    poller.drain()
    code, out, _ = run(["redrive", "--queue", "replies"], capsys)
    assert code == 0 and "0 message(s) moved back" in out and "1 parked" in out

    code, out, _ = run(["enable-oa", "--oa", oa.oa_id, "--reason", "cleared"], capsys)
    assert code == 0 and "redrive --queue replies" in out
    assert [r.action for r in oa_trail(wiring.table(), oa.oa_id)] == ["oa_disabled", "oa_enabled"]
    code, out, _ = run(["redrive", "--queue", "replies", "--include-returned"], capsys)
    assert code == 0 and "1 message(s) moved back" in out and "parked" not in out
    poller.drain()
    assert [s for s in zalo.cs_sent(USER) if s["oa_id"] == oa.oa_id]
    assert "canary" not in out.lower()


def test_a_disabled_oas_advisory_recipients_are_skipped_with_the_reason(
    stack: Provisioned, zalo: Zalo, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    zalo.sim.follow(oa.oa_id, USER)
    deliver(lambda_context, text_event("NHẬN TIN", user_id=USER, oa=oa), oa=oa)
    assert run(["disable-oa", "--oa", oa.oa_id, "--reason", "maintenance"], capsys)[0] == 0
    created = publish_advisory_now(lambda_context, oa.unit_id, clock.now_ms())
    assert advisory_scheduler.handler({}, lambda_context)["advisories"] == 1
    assert deliver_fanout_once(stack, lambda_context) == []
    assert not [s for s in zalo.sim.sent if s["user_id"] == USER]
    _, shown = call(lambda_context, "GET", f"/v1/advisories/{created['advisory_id']}", claims(oa.unit_id))
    ((report,),) = [run_["oas"] for run_ in shown["report"]]
    assert report["skipped"][Skip.OA_DISABLED] == 1


def test_disable_oa_refuses_bad_input_and_changes_nothing(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    assert run(["disable-oa", "--oa", "x1", "--reason", "why"], capsys)[0] == 2
    assert run(["disable-oa", "--oa", "7999999999", "--reason", "why"], capsys)[0] == 2
    code, _, err = run(["disable-oa", "--oa", oa.oa_id, "--reason", " "], capsys)
    assert code == 2 and "--reason" in err
    account = wiring.table().get_oa(oa.oa_id)
    assert account is not None and not account.disabled
    assert oa_trail(wiring.table(), oa.oa_id) == []
