"""Advisory control through the officer API: who may cancel, the audit of creating and cancelling,
schedules Zalo's one-promotion-a-day rule cannot serve (422 with a reason, nothing stored), and a
cancellation the scheduler must not undo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fixtures.officer import call, claims
from fixtures.webhook import items_with_prefix
from tipline import clock, wiring
from tipline.adapters import aws
from tipline.advisories.model import MAX_SCHEDULE_DAYS
from tipline.config import get_settings
from tipline.domain import Contact
from tipline.handlers import advisory_scheduler
from tipline.zalo_rules import VIETNAM
from tipline_local.accounts import demo_accounts
from tipline_local.provision import Provisioned

DAY_MS = 86_400_000
NOW_MS = int(datetime(2026, 3, 2, 10, tzinfo=VIETNAM).timestamp() * 1000)  # a fixed day, not today
COMMANDER = claims("province", "commander", subject="chief-1")


@pytest.fixture(autouse=True)
def fixed_time() -> Iterator[None]:
    with clock.use(lambda: NOW_MS / 1000):
        yield


def _units() -> tuple[str, str]:
    """Two units under the provincial command (whose own unit is the commanders')."""
    first, second = demo_accounts()[1].unit_id, demo_accounts()[2].unit_id
    assert len({first, second, COMMANDER["custom:unit_id"]}) == 3
    return first, second


def _body(unit: str, **schedule: Any) -> dict[str, Any]:
    return {
        "title": "Cảnh báo lừa đảo",
        "text": "Không chuyển tiền cho người lạ.",
        "category": "scam",
        "target": {"unit_ids": [unit]},
        "schedule": schedule or {"cron": "0 8 * * 1", "end_ms": NOW_MS + 30 * DAY_MS},
    }


def _create(context: Any, who: dict[str, str], unit: str) -> str:
    status, created = call(context, "POST", "/v1/advisories", who, body=_body(unit))
    assert status == 201, created
    return str(created["advisory_id"])


def _status(context: Any, advisory_id: str) -> str:
    status, shown = call(context, "GET", f"/v1/advisories/{advisory_id}", COMMANDER)
    assert status == 200, shown
    return str(shown["status"])


def _trail(context: Any, advisory_id: str) -> list[dict[str, Any]]:
    status, trail = call(context, "GET", "/v1/audit", COMMANDER, {"advisory_id": advisory_id})
    assert status == 200, trail
    return list(trail)


def test_only_the_command_or_the_creating_unit_cancels(stack: Provisioned, lambda_context: Any) -> None:
    unit, other = _units()
    officer, colleague = claims(unit, subject="officer-1"), claims(unit, subject="officer-2")
    commands = _create(lambda_context, COMMANDER, unit)  # the command's advisory to this unit
    assert call(lambda_context, "GET", f"/v1/advisories/{commands}", officer)[0] == 200  # it sees it

    status, answer = call(lambda_context, "DELETE", f"/v1/advisories/{commands}", officer)
    assert status == 403 and "provincial command" in answer["message"]
    assert call(lambda_context, "DELETE", f"/v1/advisories/{commands}", claims(other))[0] == 404
    assert _status(lambda_context, commands) == "active"
    assert [r["action"] for r in _trail(lambda_context, commands)] == [
        "advisory_create"
    ]  # refusals change nothing

    owns = _create(lambda_context, officer, unit)
    status, cancelled = call(lambda_context, "DELETE", f"/v1/advisories/{owns}", colleague)  # same unit
    assert status == 200 and cancelled["status"] == "cancelled"
    assert call(lambda_context, "DELETE", f"/v1/advisories/{owns}", COMMANDER)[0] == 409  # already

    query = {"reason": "nội dung đã cũ"}
    status, cancelled = call(lambda_context, "DELETE", f"/v1/advisories/{commands}", COMMANDER, query)
    assert status == 200 and cancelled["status"] == "cancelled"
    theirs = _create(lambda_context, claims(other), other)
    assert call(lambda_context, "DELETE", f"/v1/advisories/{theirs}", COMMANDER)[0] == 200  # any unit's


def test_creating_and_cancelling_are_audited(stack: Provisioned, lambda_context: Any) -> None:
    unit, _ = _units()
    officer = claims(unit, subject="officer-7")
    advisory_id = _create(lambda_context, officer, unit)
    query = {"reason": "sai nội dung"}
    with clock.use(lambda: NOW_MS / 1000 + 60):  # a minute later
        assert call(lambda_context, "DELETE", f"/v1/advisories/{advisory_id}", officer, query)[0] == 200
    created, cancelled = _trail(lambda_context, advisory_id)
    assert (created["action"], created["actor"], created["unit_id"]) == ("advisory_create", "officer-7", unit)
    assert created["details"]["target"] == unit and created["details"]["title"] == "Cảnh báo lừa đảo"
    assert created["at_ms"] == NOW_MS and created.get("tip_id") is None
    assert (cancelled["action"], cancelled["actor"], cancelled["reason"]) == (
        "advisory_cancel",
        "officer-7",
        "sai nội dung",
    )
    assert cancelled["at_ms"] == NOW_MS + 60_000
    status, unit_trail = call(lambda_context, "GET", "/v1/audit", COMMANDER, {"unit": unit})
    assert status == 200
    assert {r["action"] for r in unit_trail if r.get("advisory_id") == advisory_id} == {
        "advisory_create",
        "advisory_cancel",
    }
    assert call(lambda_context, "GET", "/v1/audit", officer, {"advisory_id": advisory_id})[0] == 404


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ({"cron": "0 7,19 * * *", "end_ms": NOW_MS + 30 * DAY_MS}, "2 times a Vietnam day"),
        ({"cron": "*/30 7 * * *", "end_ms": NOW_MS + 30 * DAY_MS}, "2 times a Vietnam day"),
        ({"cron": "0 * * * 1", "end_ms": NOW_MS + 30 * DAY_MS}, "24 times a Vietnam day"),
        ({"cron": "* 9 * * *", "end_ms": NOW_MS + 30 * DAY_MS}, "60 times a Vietnam day"),
        (
            {"cron": "0 7 * * *", "end_ms": NOW_MS + (MAX_SCHEDULE_DAYS + 1) * DAY_MS},
            f"at most {MAX_SCHEDULE_DAYS}",
        ),
        ({"at_ms": NOW_MS + (MAX_SCHEDULE_DAYS + 2) * DAY_MS}, f"at most {MAX_SCHEDULE_DAYS}"),
    ],
)
def test_schedules_zalo_cannot_serve_are_refused_with_a_reason(
    stack: Provisioned, lambda_context: Any, schedule: dict[str, int | str], reason: str
) -> None:
    unit, _ = _units()
    status, answer = call(
        lambda_context, "POST", "/v1/advisories", claims(unit), body=_body(unit, **schedule)
    )
    assert status == 422
    assert reason in answer["message"]
    assert items_with_prefix(stack, "ADVISORY#") == [] and items_with_prefix(stack, "AUDIT#") == []


@pytest.mark.parametrize(
    "schedule",
    [
        {"cron": "59 23 * * 1,3,5", "end_ms": NOW_MS + MAX_SCHEDULE_DAYS * DAY_MS},  # once a day at most
        {"cron": "0 0 * * *", "end_ms": NOW_MS + 7 * DAY_MS},  # every midnight, Vietnam time
        {"at_ms": NOW_MS + MAX_SCHEDULE_DAYS * DAY_MS},
    ],
)
def test_schedules_within_the_rule_are_accepted(
    stack: Provisioned, lambda_context: Any, schedule: dict[str, int | str]
) -> None:
    unit, _ = _units()
    status, created = call(
        lambda_context, "POST", "/v1/advisories", claims(unit), body=_body(unit, **schedule)
    )
    assert status == 201, created


def test_a_cancel_that_lands_while_the_scheduler_plans_stays_cancelled(
    stack: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.env("AdvisoriesFunction").items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    unit, _ = _units()
    oa = next(account for account in demo_accounts() if account.unit_id == unit)
    follower = Contact(pseudonym="p" * 64, oa_id=oa.oa_id, unit_id=unit, follower=True)
    assert wiring.table().create_contact(follower)
    body = _body(unit, cron="0 10 * * *", end_ms=NOW_MS + 30 * DAY_MS)  # due now, 10:00 daily
    status, created = call(lambda_context, "POST", "/v1/advisories", COMMANDER, body=body)
    assert status == 201, created
    path = f"/v1/advisories/{created['advisory_id']}"
    answers: list[int] = []

    def cancel_meanwhile(**_: Any) -> None:  # the fan-out is being queued: the command cancels
        answers.append(call(lambda_context, "DELETE", path, COMMANDER)[0])

    events = aws.sqs().meta.events
    events.register("before-call.sqs.SendMessageBatch", cancel_meanwhile, unique_id="cancel-meanwhile")
    try:
        assert advisory_scheduler.handler({}, lambda_context)["enqueued"] == 1
    finally:
        events.unregister("before-call.sqs.SendMessageBatch", unique_id="cancel-meanwhile")
    assert answers == [200]
    assert _status(lambda_context, created["advisory_id"]) == "cancelled"
