"""Advisories reach those who asked for them: followers, and non-followers who wrote "NHẬN TIN".

Citizens follow, unfollow, write tips, "NHẬN TIN" and "HỦY" through the real webhook (some events
arrive late, out of order, as Zalo's retries do); an officer creates the advisory through the
officer API; the scheduler and the advisory sender run against the Zalo simulator. The test
asserts who received it, on which channel, and the report's count of each reason for skipping.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from fixtures.officer import call, claims, publish_advisory_now
from fixtures.sender import (
    FANOUT,
    Zalo,
    advisory_outcomes,
    deliver_fanout_once,
    release_fanout,
    start_simulator,
)
from fixtures.webhook import Fault, deliver, items_with_prefix, receive
from tipline import clock, wiring
from tipline.adapters import aws
from tipline.adapters.store.gateway import from_item
from tipline.advisories import delivery
from tipline.advisories.model import Skip, vietnam_day
from tipline.config import get_settings
from tipline.handlers import advisory_scheduler as advisories
from tipline.intake.pseudonym import pseudonym
from tipline.keys import contact_pk, promotion_quota_pk, promotion_sk, token_pk
from tipline.zalo_rules import VIETNAM
from tipline_local.accounts import AccountSeed, demo_accounts
from tipline_local.provision import Provisioned
from tipline_local.samples import zalo_body
from tipline_ops.cli import main as ops_main

DAY_S = 86400


def _webhook(context: Any, oa: AccountSeed, user: str, event_name: str, at_ms: int, text: str = "") -> None:
    body = zalo_body(event_name, oa, user_id=user, ts=at_ms, text=text, msg_id=uuid.uuid4().hex)
    response = deliver(context, body, oa=oa)
    assert response["statusCode"] == 200, response


def _does(zalo: Zalo, context: Any, oa: AccountSeed, user: str, event_name: str, text: str = "") -> int:
    """The citizen acts now: Zalo records it and the webhook hears of it. Returns the event time;
    the clock moves a second on, so every event has a time of its own."""
    if event_name in ("follow", "unfollow"):
        zalo.sim.follow(oa.oa_id, user, following=event_name == "follow")
    else:
        zalo.sim.interact(oa.oa_id, user)
    at_ms = clock.now_ms()
    _webhook(context, oa, user, event_name, at_ms, text)
    zalo.clock.advance(1)
    return at_ms


def _says(zalo: Zalo, context: Any, oa: AccountSeed, user: str, text: str) -> None:
    _does(zalo, context, oa, user, "user_send_text", text)


def _shown(context: Any, advisory_id: str, unit_id: str) -> list[dict[str, Any]]:
    """The advisory's delivery report, as the officer API shows it."""
    status, shown = call(context, "GET", f"/v1/advisories/{advisory_id}", claims(unit_id))
    assert status == 200, shown
    return list(shown["report"])


@pytest.fixture
def zalo(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in stack.env("AdvisorySenderFunction").items():
        monkeypatch.setenv(name, value)
    running = start_simulator(monkeypatch)
    # 10:00 Vietnam time on a fixed day (not today): promotions are allowed.
    running.clock.advance(datetime(2026, 3, 2, 10, tzinfo=VIETNAM).timestamp() - time.time())
    yield running
    running.running.stop()


def test_advisories_reach_followers_and_those_who_wrote_nhan_tin_and_nobody_else(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    oa = demo_accounts()[0]
    users = {
        name: f"31{index:016d}"
        for index, name in enumerate(
            [
                "follower_long_ago",
                "opted_in_long_ago",
                "follower",
                "tip_only",
                "unfollowed",
                "opted_in",
                "wrote_huy",
                "unfollowed_then_nhan_tin",
                "refollowed",
                "huy_then_refollowed",
                "late_unfollow",
                "late_follow",
            ]
        )
    }
    # Eight days ago: a follower who never wrote, and a non-follower who opted in and went quiet.
    _does(zalo, lambda_context, oa, users["follower_long_ago"], "follow")
    _says(zalo, lambda_context, oa, users["opted_in_long_ago"], "Có người lừa đảo bán hàng online")
    _says(zalo, lambda_context, oa, users["opted_in_long_ago"], "NHẬN TIN")
    zalo.clock.advance(8 * DAY_S)

    _does(zalo, lambda_context, oa, users["follower"], "follow")
    _says(zalo, lambda_context, oa, users["tip_only"], "Xe máy bị trộm ở chợ")  # wrote, never followed
    for user in (users["unfollowed"], users["unfollowed_then_nhan_tin"], users["refollowed"]):
        _does(zalo, lambda_context, oa, user, "follow")
        _says(zalo, lambda_context, oa, user, "Có người giả danh công an gọi điện")
        _does(zalo, lambda_context, oa, user, "unfollow")
    _says(zalo, lambda_context, oa, users["unfollowed_then_nhan_tin"], "nhận tin")
    _does(zalo, lambda_context, oa, users["refollowed"], "follow")
    _says(zalo, lambda_context, oa, users["opted_in"], "Có đối tượng buôn ma túy")
    _says(zalo, lambda_context, oa, users["opted_in"], "NHẬN TIN")
    _does(zalo, lambda_context, oa, users["wrote_huy"], "follow")
    _says(zalo, lambda_context, oa, users["wrote_huy"], "HỦY")
    _does(zalo, lambda_context, oa, users["huy_then_refollowed"], "follow")
    _says(zalo, lambda_context, oa, users["huy_then_refollowed"], "Hủy")
    _does(zalo, lambda_context, oa, users["huy_then_refollowed"], "unfollow")
    _does(zalo, lambda_context, oa, users["huy_then_refollowed"], "follow")
    # Out of order: an older unfollow after the follow that replaced it changes nothing ...
    followed_at = _does(zalo, lambda_context, oa, users["late_unfollow"], "follow")
    _webhook(lambda_context, oa, users["late_unfollow"], "unfollow", followed_at - 5000)
    # ... and a follow retried after the unfollow that ended it restores nothing.
    zalo.sim.follow(oa.oa_id, users["late_follow"])
    zalo.sim.follow(oa.oa_id, users["late_follow"], following=False)
    unfollowed_at = clock.now_ms()
    _webhook(lambda_context, oa, users["late_follow"], "unfollow", unfollowed_at)
    _webhook(lambda_context, oa, users["late_follow"], "follow", unfollowed_at - 5000)

    created = publish_advisory_now(lambda_context, oa.unit_id, clock.now_ms())
    assert advisories.handler({}, lambda_context)["advisories"] == 1
    for _ in range(10):
        assert deliver_fanout_once(stack, lambda_context) == []  # nothing deferred: all fits now
    names = {user: name for name, user in users.items()}
    received = {names[sent["user_id"]]: sent["kind"] for sent in zalo.sim.sent}
    assert received == {
        "follower_long_ago": "promotion",  # a follower outside the 7-day window
        "follower": "cs",
        "opted_in": "cs",
        "unfollowed_then_nhan_tin": "cs",
        "refollowed": "cs",
        "huy_then_refollowed": "cs",
        "late_unfollow": "cs",
    }
    assert not zalo.sim.violations and not zalo.sim.refusals

    ((report,),) = [run["oas"] for run in _shown(lambda_context, created["advisory_id"], oa.unit_id)]
    assert report["skipped"] == {
        Skip.OPTED_OUT: 1,  # wrote_huy
        Skip.UNFOLLOWED: 2,  # unfollowed, late_follow
        Skip.NOT_SUBSCRIBED: 1,  # tip_only
        Skip.BLOCKED: 0,  # nobody here blocked the OA (blocks: issue 14, item 2)
        Skip.WINDOW_CLOSED: 1,  # opted_in_long_ago
        Skip.NO_CHANNEL: 0,
        Skip.OA_DISABLED: 0,
    }
    assert report["targeted"] == len(users)
    assert (report["sent"], report["pending"], report["deferred"], report["failed"]) == (7, 0, 0, {})
    assert report["by_channel"] == {"cs": 6, "promotion": 1}


@pytest.mark.parametrize(("change", "skip"), [("unfollow", Skip.UNFOLLOWED), ("HỦY", Skip.OPTED_OUT)])
def test_a_citizen_who_unfollows_or_opts_out_after_planning_gets_nothing(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, change: str, skip: Skip
) -> None:
    """Eligibility is checked again when sending: an unfollow or a "HỦY" between the scheduler's run
    and the sender's stops the advisory, consultation window or not."""
    oa = demo_accounts()[0]
    user = "3200000000000000001"
    _does(zalo, lambda_context, oa, user, "follow")
    _says(zalo, lambda_context, oa, user, "Có trộm")
    body = {
        "title": "Cảnh báo",
        "text": "Trộm xe",
        "category": "theft",
        "target": {"unit_ids": [oa.unit_id]},
        "schedule": {"at_ms": clock.now_ms()},
    }
    status, created = call(lambda_context, "POST", "/v1/advisories", claims(oa.unit_id), body=body)
    assert status == 201, created
    assert advisories.handler({}, lambda_context)["enqueued"] == 1
    if change == "unfollow":
        _does(zalo, lambda_context, oa, user, "unfollow")
    else:
        _says(zalo, lambda_context, oa, user, change)
    assert deliver_fanout_once(stack, lambda_context) == []
    assert zalo.sim.sent == []
    ((report,),) = [run["oas"] for run in _shown(lambda_context, created["advisory_id"], oa.unit_id)]
    assert report["skipped"][skip] == 1 and report["sent"] == 0


def _recipients(context: Any, zalo: Zalo, silent_days: int, count: int) -> tuple[list[str], int]:
    """Followers (silent for ``silent_days``: past 7, promotions) and an advisory planned for them;
    returns the citizens' pseudonyms and when the advisory is delivered."""
    oa, users = demo_accounts()[0], [f"33000000000000000{index:02d}" for index in range(count)]
    for user in users:
        _does(zalo, context, oa, user, "follow")
    zalo.clock.advance(silent_days * DAY_S)
    publish_advisory_now(context, oa.unit_id, clock.now_ms())
    assert advisories.handler({}, context)["enqueued"] == count
    return [pseudonym(wiring.pepper(), oa.oa_id, user) for user in users], clock.now_ms()


def _one_recipient(stack: Provisioned, context: Any, zalo: Zalo, silent_days: int) -> tuple[str, int]:
    (handle,), at_ms = _recipients(context, zalo, silent_days, count=1)
    return handle, at_ms


def _deliveries(stack: Provisioned, advisory_id: str = "") -> dict[str, dict[str, Any]]:
    """The delivery records of one advisory (default: of every advisory), by recipient pseudonym."""
    return {
        item["sk"]["S"].rsplit("#", 1)[1]: from_item(item)
        for item in items_with_prefix(stack, f"ADVISORY#{advisory_id}", "DLV#")
    }


@contextmanager
def _visibility_timeouts() -> Iterator[list[int]]:
    """The visibility timeouts the functions give the messages they keep, in order."""
    timeouts: list[int] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        timeouts.append(params["VisibilityTimeout"])

    events = aws.sqs().meta.events
    events.register("provide-client-params.sqs.ChangeMessageVisibility", note, unique_id="timeouts")
    try:
        yield timeouts
    finally:
        events.unregister("provide-client-params.sqs.ChangeMessageVisibility", unique_id="timeouts")


def _next_six(at_ms: int, days: int) -> int:
    """06:00 Vietnam time, ``days`` after the day of ``at_ms``."""
    day = datetime.fromtimestamp(at_ms / 1000, VIETNAM) + timedelta(days=days)
    return int(day.replace(hour=6, minute=0, second=0, microsecond=0).timestamp() * 1000)


@pytest.mark.parametrize(
    ("fault", "status", "reason", "retry_in_ms"),
    [
        ({"error": -213}, "skipped", Skip.UNFOLLOWED.value, None),  # the unfollow event was lost
        ({"error": -217}, "failed", "the citizen has blocked the OA", None),
        ({"error": -244}, "failed", "the citizen has turned off this type of message", None),
        ({"error": -32}, "deferred", "Zalo's rate limit was reached; retrying", 60_000),
        ({"status": 429, "retry_after": 120}, "deferred", "Zalo answered HTTP 429; retrying", 120_000),
        ({"status": 503}, "deferred", "Zalo answered HTTP 503; retrying", 60_000),
        (
            {"error": -234},
            "deferred",
            "Zalo does not allow this message type at night; retrying after 06:00",
            "today",
        ),
        ({"error": -211}, "deferred", "the OA's Zalo quota is used up; retrying when it resets", "tomorrow"),
        (
            {"error": -218},
            "deferred",
            "the citizen has reached Zalo's limit of received messages; retrying later",
            "tomorrow",
        ),
    ],
)
def test_what_zalo_answers_a_consultation_advisory_decides_its_record(
    stack: Provisioned,
    lambda_context: Any,
    zalo: Zalo,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, int],
    status: str,
    reason: str,
    retry_in_ms: int | str | None,
) -> None:
    """At 03:00 Vietnam time (consultation is allowed at night, promotion is not): a refusal is
    final and says why, and what it says of the citizen is kept; a busy Zalo defers the recipient
    to when Zalo will take it (or says it will), and the fan-out message comes back then. Each
    outcome is counted in the sender's metrics."""
    zalo.clock.advance(17 * 3600)  # 03:00 the next day
    (handle, other), at_ms = _recipients(lambda_context, zalo, silent_days=0, count=2)
    zalo.sim.inject(**fault, count=2)
    capsys.readouterr()
    with _visibility_timeouts() as timeouts:
        kept = deliver_fanout_once(stack, lambda_context)
    assert advisory_outcomes(capsys.readouterr().out) == {status.capitalize(): 2}
    assert zalo.sim.sent == []
    record = _deliveries(stack)[handle]
    assert (record["status"], record["reason"], record["channel"]) == (status, reason, "cs")
    assert _deliveries(stack)[other]["status"] == status
    sent_ms = record["updated_ms"]  # the sender's now (the simulated clock runs on from at_ms)
    assert sent_ms - at_ms < 60_000
    retry_at = {None: None, "today": _next_six(at_ms, 0), "tomorrow": _next_six(at_ms, 1)}.get(
        retry_in_ms, sent_ms + retry_in_ms if isinstance(retry_in_ms, int) else None
    )
    assert record.get("retry_at_ms") == retry_at
    assert len(kept) == (1 if retry_at else 0), "only a deferral brings the message back"
    # SQS brings it back at the retry time, to the second (rounded up), 12 hours at most
    assert timeouts == ([min(43_200, -(-(retry_at - sent_ms) // 1000))] if retry_at else [])
    if kept:  # SQS brings it back before its time (Zalo is fine again): it waits on
        release_fanout(stack, kept)
        assert len(deliver_fanout_once(stack, lambda_context)) == 1
        assert advisory_outcomes(capsys.readouterr().out) == {"Deferred": 2}
        assert zalo.sim.sent == [] and _deliveries(stack)[handle] == record
    contact = wiring.table().get_contact(handle)
    assert contact is not None
    error = fault.get("error")
    assert (contact.follower, contact.zalo_blocked) == (error != -213, error == -217)


def test_a_message_zalo_may_have_delivered_is_never_sent_again(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    handles, _ = _recipients(lambda_context, zalo, silent_days=0, count=2)
    zalo.sim.inject(timeout=True, effective=True, count=2)  # sent, but the answers are lost on the way back
    capsys.readouterr()
    assert deliver_fanout_once(stack, lambda_context) == []
    assert advisory_outcomes(capsys.readouterr().out) == {"Failed": 2}
    for handle in handles:
        record = _deliveries(stack)[handle]
        assert (record["status"], record["reason"], record["channel"]) == (
            "failed",
            "Zalo's answer was lost; not resent",
            "cs",
        )
    assert len(zalo.sim.sent) == 2


@pytest.mark.parametrize(("error", "status"), [(-213, "skipped"), (-32, "deferred")])
def test_a_promotion_zalo_did_not_take_gives_back_the_day_s_slot_and_the_citizen_s_one_promotion(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, error: int, status: str
) -> None:
    handle, at_ms = _one_recipient(stack, lambda_context, zalo, silent_days=8)
    oa = demo_accounts()[0]
    zalo.sim.inject(error=error)
    deliver_fanout_once(stack, lambda_context)
    record = _deliveries(stack)[handle]
    assert (record["status"], record["channel"]) == (status, "promotion")
    day = vietnam_day(at_ms)
    assert wiring.table().get(promotion_quota_pk(oa.oa_id), day)["used"] == 0  # type: ignore[index]
    assert wiring.table().get(contact_pk(handle), promotion_sk(day)) is None


def _silent_followers(context: Any, zalo: Zalo, users: list[str]) -> list[str]:
    """Followers who have not written for eight days (so promotions reach them); their pseudonyms."""
    oa = demo_accounts()[0]
    for user in users:
        _does(zalo, context, oa, user, "follow")
    zalo.clock.advance(8 * DAY_S)
    return [pseudonym(wiring.pepper(), oa.oa_id, user) for user in users]


def _advisory_now(context: Any) -> str:
    created = publish_advisory_now(context, demo_accounts()[0].unit_id, clock.now_ms())
    assert advisories.handler({}, context)["advisories"] == 1
    return str(created["advisory_id"])


@pytest.mark.parametrize(("followers", "quota"), [(None, 500), (20_000, 1_000)])
def test_promotions_past_the_oa_s_daily_quota_wait_for_tomorrow(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, followers: int | None, quota: int
) -> None:
    """The quota is 500 a day, or 5 % of the followers the run counted (20,000 are written into
    its record: the crowd itself is test_advisories.py's)."""
    handles = _silent_followers(lambda_context, zalo, [f"340000000000000000{index}" for index in range(3)])
    oa, day = demo_accounts()[0], vietnam_day(clock.now_ms())
    taken = quota - 1  # by other advisories today
    assert wiring.table().take_promotion_slots(oa.oa_id, day, taken, quota) == taken
    advisory_id = _advisory_now(lambda_context)
    if followers is not None:
        [run] = [from_item(item) for item in items_with_prefix(stack, f"ADVISORY#{advisory_id}", "RUN#")]
        wiring.table().put_run(advisory_id, int(run["run_ms"]), oa.oa_id, {**run, "followers": followers})
    kept = deliver_fanout_once(stack, lambda_context)
    assert len(kept) == 1, "it comes back tomorrow"
    assert [sent["kind"] for sent in zalo.sim.sent] == ["promotion"]
    records = _deliveries(stack, advisory_id)
    assert sorted(record["status"] for record in records.values()) == ["deferred", "deferred", "sent"]
    late = [record for record in records.values() if record["status"] == "deferred"]
    assert {(record["reason"], record["retry_at_ms"]) for record in late} == {
        ("the OA's daily promotion quota is used up", _next_six(clock.now_ms(), 1))
    }
    assert set(records) == set(handles)
    assert wiring.table().get(promotion_quota_pk(oa.oa_id), day)["used"] == quota  # type: ignore[index]

    # Tomorrow 07:00 other advisories have taken the whole quota already: they wait a day more.
    zalo.clock.advance((_next_six(clock.now_ms(), 1) - clock.now_ms()) / 1000 + 3600)
    tomorrow = vietnam_day(clock.now_ms())
    assert wiring.table().take_promotion_slots(oa.oa_id, tomorrow, quota, quota) == quota
    release_fanout(stack, kept)
    with _visibility_timeouts() as timeouts:
        assert len(deliver_fanout_once(stack, lambda_context)) == 1, "never dropped"
    assert timeouts == [43_200], "back in 12 hours (SQS's most), to wait again if it is still early"
    assert len(zalo.sim.sent) == 1


def test_a_citizen_gets_one_promotion_a_day_and_the_second_waits_for_tomorrow(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    (handle,) = _silent_followers(lambda_context, zalo, ["3500000000000000001"])
    oa, day = demo_accounts()[0], vietnam_day(clock.now_ms())
    first = _advisory_now(lambda_context)
    assert deliver_fanout_once(stack, lambda_context) == []
    sent_ms = _deliveries(stack, first)[handle]["sent_ms"]
    marker = wiring.table().get(contact_pk(handle), promotion_sk(day))
    assert marker == {  # kept a while past its day, then DynamoDB's TTL removes it
        "pk": contact_pk(handle),
        "sk": promotion_sk(day),
        "advisory_id": first,
        "expires_at": sent_ms // 1000 + delivery.PROMOTED_MARKER_SECONDS,
    }
    assert delivery.PROMOTED_MARKER_SECONDS == 3 * DAY_S
    zalo.clock.advance(60)
    second = _advisory_now(lambda_context)
    assert len(deliver_fanout_once(stack, lambda_context)) == 1
    assert len(zalo.sim.sent) == 1
    record = _deliveries(stack, second)[handle]
    assert (record["status"], record["reason"], record["channel"], record["retry_at_ms"]) == (
        "deferred",
        "one promotion per person per day",
        "promotion",
        _next_six(clock.now_ms(), 1),
    )
    assert wiring.table().get(promotion_quota_pk(oa.oa_id), day)["used"] == 1, "the second slot came back"  # type: ignore[index]


def test_promotions_at_night_wait_for_six_this_morning(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    handles = _silent_followers(lambda_context, zalo, ["3600000000000000001", "3600000000000000002"])
    zalo.clock.advance(17 * 3600)  # 03:00 the next day
    advisory_id = _advisory_now(lambda_context)
    for delivery_ in ("first", "early"):  # SQS may bring it back early: it waits again
        capsys.readouterr()
        kept = deliver_fanout_once(stack, lambda_context)
        assert len(kept) == 1, f"the {delivery_} delivery comes back at 06:00"
        assert advisory_outcomes(capsys.readouterr().out) == {"Deferred": 2}
        release_fanout(stack, kept)
    assert zalo.sim.sent == []
    now = clock.now_ms()
    records = _deliveries(stack, advisory_id)
    assert set(records) == set(handles)
    for record in records.values():
        assert (record["status"], record["reason"], record["channel"], record["retry_at_ms"]) == (
            "deferred",
            "outside 06:00-21:59 Vietnam time",
            "promotion",
            _next_six(now, 0),
        )
        assert now - 60_000 < record["updated_ms"] <= now


@pytest.mark.parametrize("when", ["consultation", "promotion", "promotion-at-night"])
def test_a_copy_of_a_fan_out_message_delivered_meanwhile_sends_nothing_twice(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    """SQS may hand the same message to two senders at once. Here the other copy delivers every
    recipient between this one's read of their records and its claims (or, at night, its deferrals):
    those find each recipient taken, so Zalo gets one message each and this copy is done."""
    users = ["3700000000000000001", "3700000000000000002"]
    night = when == "promotion-at-night"
    if when != "consultation":
        _silent_followers(lambda_context, zalo, users)
    if night:
        zalo.clock.advance(17 * 3600)  # 03:00: promotions wait for 06:00
    if when == "consultation":
        for user in users:
            _does(zalo, lambda_context, demo_accounts()[0], user, "follow")
    _advisory_now(lambda_context)
    [message] = receive(stack, FANOUT)
    release_fanout(stack, [message["ReceiptHandle"]])
    other: list[delivery.Outcome] = []

    def the_other_copy_first(**_: Any) -> None:
        if not other:
            other.append(delivery.Outcome())  # its own reads come here too
            deliverer = delivery.Deliverer(
                table=wiring.table(), settings=get_settings(), tokens=wiring.token_store()
            )
            other[0] = delivery.deliver(deliverer, delivery.parse(message["Body"]), clock.now_ms())

    events = aws.dynamodb().meta.events
    events.register("after-call.dynamodb.BatchGetItem", the_other_copy_first, unique_id="other-copy")
    capsys.readouterr()
    try:
        assert deliver_fanout_once(stack, lambda_context) == [], "this copy is done"
    finally:
        events.unregister("after-call.dynamodb.BatchGetItem", unique_id="other-copy")
    assert (other[0].sent, other[0].deferred) == ((0, 2) if night else (2, 0))
    assert advisory_outcomes(capsys.readouterr().out) == {"DoneBefore": 2}
    assert len(zalo.sim.sent) == (0 if night else 2)
    quota = wiring.table().get(promotion_quota_pk(demo_accounts()[0].oa_id), vietnam_day(clock.now_ms()))
    assert (quota or {}).get("used", 0) == (2 if when == "promotion" else 0), "this copy gave its slots back"
    boto3.client("sqs").send_message(QueueUrl=stack.queue_urls[FANOUT], MessageBody=message["Body"])
    kept = deliver_fanout_once(stack, lambda_context)  # a third copy, once both are done
    assert advisory_outcomes(capsys.readouterr().out) == ({"Deferred": 2} if night else {"DoneBefore": 2})
    assert len(kept) == (1 if night else 0) and len(zalo.sim.sent) == (0 if night else 2)


def test_a_delivery_interrupted_after_zalo_took_it_is_never_sent_again(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    """The sender claims a recipient before calling Zalo; if it fails before recording the answer,
    the claim stays: the retry does not send again (Zalo may have delivered it) and the report
    shows it in flight."""
    handle, at_ms = _one_recipient(stack, lambda_context, zalo, silent_days=0)
    with Fault(aws.dynamodb(), "BatchWriteItem", "InternalServerError") as fault:
        kept = deliver_fanout_once(stack, lambda_context)
    claimed = _deliveries(stack)[handle]
    assert claimed["status"] == "sending" and at_ms <= claimed["updated_ms"] < at_ms + 60_000, "since when"
    assert fault.hits == 1 and len(kept) == 1, "the message is retried"
    assert len(zalo.sim.sent) == 1
    release_fanout(stack, kept)
    assert deliver_fanout_once(stack, lambda_context) == []
    assert len(zalo.sim.sent) == 1, "not sent again"
    assert _deliveries(stack)[handle] == claimed
    [advisory] = items_with_prefix(stack, "ADVISORY#", "META")
    ((report,),) = [
        run["oas"] for run in _shown(lambda_context, advisory["advisory_id"]["S"], demo_accounts()[0].unit_id)
    ]
    assert (report["sent"], report["pending"], report["deferred"]) == (0, 1, 0)


def test_an_oa_without_a_usable_token_defers_its_recipients_for_a_minute(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    handle, _ = _one_recipient(stack, lambda_context, zalo, silent_days=0)
    oa = demo_accounts()[0]
    wiring.table().delete(token_pk(oa.oa_id))
    assert len(deliver_fanout_once(stack, lambda_context)) == 1
    assert zalo.sim.sent == []
    record = _deliveries(stack)[handle]
    assert (record["status"], record["reason"], record["retry_at_ms"]) == (
        "deferred",
        f"no token stored for OA {oa.oa_id}: register it and exchange a code",
        record["updated_ms"] + 60_000,
    )


def test_choices_applied_one_by_one_follow_their_own_order(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    """A follow Zalo delivers after the citizen's next message cannot be applied in one write (the
    message is newer): it is applied step by step, and still ends an earlier "HỦY". A "NHẬN TIN"
    after a "HỦY" asks for advisories again."""
    oa = demo_accounts()[0]
    refollowed, nhan_tin_again = "3800000000000000001", "3800000000000000002"
    _does(zalo, lambda_context, oa, refollowed, "follow")
    _says(zalo, lambda_context, oa, refollowed, "HỦY")
    _does(zalo, lambda_context, oa, refollowed, "unfollow")
    zalo.sim.follow(oa.oa_id, refollowed)
    followed_at = clock.now_ms()
    zalo.clock.advance(1)
    _says(zalo, lambda_context, oa, refollowed, "Có người lạ theo dõi nhà tôi")
    _webhook(lambda_context, oa, refollowed, "follow", followed_at)  # late
    _says(zalo, lambda_context, oa, nhan_tin_again, "Có người bán hàng giả")
    _says(zalo, lambda_context, oa, nhan_tin_again, "HỦY")
    _says(zalo, lambda_context, oa, nhan_tin_again, "NHẬN TIN")
    _advisory_now(lambda_context)
    assert deliver_fanout_once(stack, lambda_context) == []
    assert sorted((sent["user_id"], sent["kind"]) for sent in zalo.sim.sent) == [
        (refollowed, "cs"),
        (nhan_tin_again, "cs"),
    ]
    contact = wiring.table().get_contact(pseudonym(wiring.pepper(), oa.oa_id, refollowed))
    assert contact is not None and (contact.follower, contact.opted_out) == (True, False)


def test_an_unfollow_zalo_reports_ends_an_earlier_nhan_tin_too(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    """Zalo answers -213 (not a follower): the unfollow event was lost. It ends advisories as the
    event would have, the citizen's earlier "NHẬN TIN" included, until they follow or ask again."""
    oa, user = demo_accounts()[0], "3900000000000000001"
    _does(zalo, lambda_context, oa, user, "follow")
    _says(zalo, lambda_context, oa, user, "Có trộm")
    _says(zalo, lambda_context, oa, user, "NHẬN TIN")
    zalo.sim.follow(oa.oa_id, user, following=False)  # no event reaches the webhook
    _advisory_now(lambda_context)
    zalo.sim.inject(error=-213)
    assert deliver_fanout_once(stack, lambda_context) == []
    zalo.clock.advance(60)
    second = _advisory_now(lambda_context)
    assert deliver_fanout_once(stack, lambda_context) == []
    assert zalo.sim.sent == []
    ((report,),) = [run["oas"] for run in _shown(lambda_context, second, oa.unit_id)]
    assert report["skipped"][Skip.UNFOLLOWED] == 1


def test_a_follower_promoted_today_by_another_advisory_waits_and_the_others_go(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The day's slots are taken for the whole message; the one already promoted today gives its
    slot back, the others are sent."""
    handles = sorted(_silent_followers(lambda_context, zalo, ["4000000000000000001", "4000000000000000002"]))
    oa, day = demo_accounts()[0], vietnam_day(clock.now_ms())
    assert wiring.table().mark_promoted(handles[0], day, {"advisory_id": "another"})  # first in line
    advisory_id = _advisory_now(lambda_context)
    capsys.readouterr()
    assert len(deliver_fanout_once(stack, lambda_context)) == 1
    assert advisory_outcomes(capsys.readouterr().out) == {"Sent": 1, "Deferred": 1}
    records = _deliveries(stack, advisory_id)
    assert (records[handles[0]]["status"], records[handles[1]]["status"]) == ("deferred", "sent")
    assert wiring.table().get(promotion_quota_pk(oa.oa_id), day)["used"] == 1  # type: ignore[index]


def test_citizens_whose_sealed_id_was_moved_from_another_record_get_nothing(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Zalo id sealed for one contact does not open for another (the encryption context names the
    contact): those recipients fail with the reason, the others are sent."""
    handles, _ = _recipients(lambda_context, zalo, silent_days=0, count=3)
    *moved_to, source = sorted(handles)  # the first two in the message's order
    sealed = wiring.table().get_contact(source)
    assert sealed is not None and sealed.user_id_sealed is not None
    for handle in moved_to:
        aws.dynamodb().update_item(
            TableName=stack.resolver.refs["TiplineTable"],
            Key={"pk": {"S": contact_pk(handle)}, "sk": {"S": "META"}},
            UpdateExpression="SET user_id_sealed = :other",
            ExpressionAttributeValues={":other": {"B": sealed.user_id_sealed}},
        )
    capsys.readouterr()
    assert deliver_fanout_once(stack, lambda_context) == []
    assert advisory_outcomes(capsys.readouterr().out) == {"Failed": 2, "Sent": 1}
    assert len(zalo.sim.sent) == 1
    records = _deliveries(stack)
    for handle in moved_to:
        assert (records[handle]["status"], records[handle]["reason"], records[handle]["channel"]) == (
            "failed",
            "the citizen's id could not be decrypted",
            "cs",
        )
    assert (records[source]["status"], records[source]["zalo_message_id"]) == (
        "sent",
        zalo.sim.sent[0]["message_id"],
    )


def test_a_crash_late_in_a_long_message_loses_the_records_of_at_most_25_recipients(
    stack: Provisioned, lambda_context: Any, zalo: Zalo
) -> None:
    """Records are written every 25 recipients sent: when the last write fails, the first 25 are
    recorded as sent and only the 26th stays claimed (in flight, never resent)."""
    handles, _ = _recipients(lambda_context, zalo, silent_days=0, count=26)
    writes = itertools.count()
    # 25 records and their 25 receipt pointers take two calls; the third (the last record) fails
    with Fault(aws.dynamodb(), "BatchWriteItem", "InternalServerError", when=lambda _: next(writes) >= 2):
        kept = deliver_fanout_once(stack, lambda_context)
    assert len(kept) == 1 and len(zalo.sim.sent) == 26
    statuses = Counter(record["status"] for record in _deliveries(stack).values())
    assert statuses == {"sent": 25, "sending": 1}
    release_fanout(stack, kept)
    assert deliver_fanout_once(stack, lambda_context) == []
    assert len(zalo.sim.sent) == 26, "nothing sent again"
    assert len(_deliveries(stack)) == len(handles)


def test_recipients_of_an_oa_disabled_after_planning_are_skipped_with_the_reason(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    handles, _ = _recipients(lambda_context, zalo, silent_days=0, count=2)
    oa = demo_accounts()[0]
    assert ops_main(["disable-oa", "--oa", oa.oa_id, "--reason", "maintenance"]) == 0
    capsys.readouterr()
    assert deliver_fanout_once(stack, lambda_context) == []
    assert advisory_outcomes(capsys.readouterr().out) == {"Skipped": 2}
    assert zalo.sim.sent == []
    assert {(record["status"], record["reason"]) for record in _deliveries(stack).values()} == {
        ("skipped", Skip.OA_DISABLED.value)
    }
    assert set(_deliveries(stack)) == set(handles)


def test_recipients_who_cannot_be_reached_when_sending_are_skipped_and_the_others_sent(
    stack: Provisioned, lambda_context: Any, zalo: Zalo, capsys: pytest.CaptureFixture[str]
) -> None:
    """After planning, one citizen's data is erased (the contact is gone) and another's Zalo id is
    not stored: both are skipped as no_channel, in the message's order, and the third is sent."""
    handles, _ = _recipients(lambda_context, zalo, silent_days=0, count=3)
    erased, unaddressed, reached = sorted(handles)
    wiring.table().delete_contact(erased)
    aws.dynamodb().update_item(
        TableName=stack.resolver.refs["TiplineTable"],
        Key={"pk": {"S": contact_pk(unaddressed)}, "sk": {"S": "META"}},
        UpdateExpression="REMOVE user_id_sealed",
    )
    capsys.readouterr()
    assert deliver_fanout_once(stack, lambda_context) == []
    assert advisory_outcomes(capsys.readouterr().out) == {"Skipped": 2, "Sent": 1}
    records = _deliveries(stack)
    assert {handle: (record["status"], record.get("reason")) for handle, record in records.items()} == {
        erased: ("skipped", Skip.NO_CHANNEL.value),
        unaddressed: ("skipped", Skip.NO_CHANNEL.value),
        reached: ("sent", None),
    }
