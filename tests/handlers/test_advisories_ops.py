"""Advisories around the edges: the ops command, follower sync from Zalo's getlist, delivery
receipts in the report, cancellation, night-time deferral and the due evaluation in Vietnam time."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from fixtures.officer import call, claims, publish_advisory_now
from fixtures.sender import advisory_outcomes, deliver_fanout_once, release_fanout, start_simulator
from tipline import clock, wiring
from tipline.adapters import envelope
from tipline.advisories import followers, manage
from tipline.advisories.delivery import contacts_of
from tipline.advisories.model import MAX_SCHEDULE_DAYS, AdvisoryStatus
from tipline.audit import advisory_trail
from tipline.config import get_settings
from tipline.domain import Contact
from tipline.handlers import advisory_scheduler as advisories
from tipline.handlers import webhook
from tipline.intake.pseudonym import pseudonym
from tipline.zalo_rules import VIETNAM, vietnam
from tipline_local.accounts import demo_accounts
from tipline_local.provision import Provisioned
from tipline_ops.cli import main

DAY = 86400


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=VIETNAM).timestamp() * 1000)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------ ops command
def test_ops_advisory_create_list_show_cancel(stack: Provisioned, capsys: pytest.CaptureFixture[str]) -> None:
    unit = demo_accounts()[0].unit_id
    argv = ["advisory", "create", "--title", "Cảnh báo", "--text", "Trộm xe máy", "--category", "theft"]
    until = f"{vietnam(clock.now_ms() + 60 * DAY * 1000):%Y-%m-%d}"  # within the schedule's span
    code, out, _ = run([*argv, "--units", unit, "--cron", "0 7 * * 1", "--until", until], capsys)
    assert code == 0, out
    advisory_id = out.split()[1]
    code, out, _ = run(["advisory", "list"], capsys)
    assert code == 0 and advisory_id in out and "active" in out
    code, out, _ = run(["advisory", "show", advisory_id], capsys)
    assert code == 0 and '"report": []' in out
    code, out, _ = run(["advisory", "cancel", advisory_id, "--reason", "đã hết hiệu lực"], capsys)
    assert code == 0
    loaded = manage.load(wiring.table(), advisory_id)
    assert loaded is not None and loaded.status == AdvisoryStatus.CANCELLED
    trail = [(r.action, r.actor, r.reason) for r in advisory_trail(wiring.table(), advisory_id)]
    assert trail == [
        ("advisory_create", "ops", "advisory created"),
        ("advisory_cancel", "ops", "đã hết hiệu lực"),
    ]
    code, _, err = run(["advisory", "cancel", advisory_id], capsys)
    assert code == 2 and "already cancelled" in err


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (["--cron", "0 7,19 * * *", "--until", "2026-03-31"], "2 times a Vietnam day"),
        (["--cron", "*/15 * * * *", "--until", "2026-03-31"], "96 times a Vietnam day"),
        (["--cron", "0 7 * * *", "--until", "2027-03-31"], f"at most {MAX_SCHEDULE_DAYS}"),
        (["--at", "2027-03-31T08:00"], f"at most {MAX_SCHEDULE_DAYS}"),
        (["--at", "2026-03-02T09:59"], "--at is in the past (Vietnam time)"),
        (["--at", "2025-03-02T11:00"], "--at is in the past (Vietnam time)"),
        (
            ["--cron", "0 7 * * MONDAY", "--until", "2026-03-20"],
            "weekday: 'MONDAY' is not a number or a name (SUN, MON, TUE, WED, THU, FRI, SAT)",
        ),
        (["--cron", "0 7 * SEPT *", "--until", "2026-03-20"], "month: 'SEPT' is not a number or"),
        (["--cron", "x 7 * * *", "--until", "2026-03-20"], "minute: 'x' is not a number"),
    ],
)
def test_ops_advisory_create_refuses_unservable_schedules_past_times_and_unknown_cron_names(
    stack: Provisioned, capsys: pytest.CaptureFixture[str], schedule: list[str], message: str
) -> None:
    argv = ["advisory", "create", "--title", "T", "--text", "x", "--category", "scam", "--province-wide"]
    with clock.use(lambda: _ms("2026-03-02T10:00") / 1000):
        code, _, err = run([*argv, *schedule], capsys)
    assert code == 2
    assert message in err and "invalid literal" not in err
    assert manage.list_all(wiring.table()) == []


def test_ops_advisory_cron_takes_month_and_weekday_names(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["advisory", "create", "--title", "T", "--text", "x", "--category", "scam", "--province-wide"]
    with clock.use(lambda: _ms("2026-03-02T10:00") / 1000):  # a Monday, after 07:00
        code, out, err = run([*argv, "--cron", "0 7 * mar-APR mon", "--until", "2026-03-20"], capsys)
    assert code == 0, err
    assert "first due 2026-03-09 07:00 Vietnam time" in out  # the next Monday
    (advisory,) = manage.list_all(wiring.table())
    assert advisory.next_due_ms == _ms("2026-03-09T07:00")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--units", "no-such-unit", "--at", "2099-01-01T08:00"], "unknown units"),
        (["--province-wide", "--units", "x", "--at", "2099-01-01T08:00"], "either --province-wide"),
        (["--province-wide"], "either --at"),
        (["--province-wide", "--at", "tomorrow"], "Vietnam-time"),
        (["--province-wide", "--cron", "61 * * * *", "--until", "2099-01-01"], "schedule"),
        (["--province-wide", "--cron", "0 7 * * *"], "end date"),
        (["--province-wide", "--cron", "0 7 * * *", "--until", "2000-01-01"], "no occurrence"),
        (["--province-wide", "--at", "2099-01-01T08:00", "--link", "not a url"], "link"),
    ],
)
def test_ops_advisory_create_refuses_bad_input_and_changes_nothing(
    stack: Provisioned, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["advisory", "create", "--title", "T", "--text", "x", "--category", "scam", *extra]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert manage.list_all(wiring.table()) == []


def test_ops_advisory_cancel_of_an_unknown_id_exits_2(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["advisory", "cancel", "nope"], capsys)
    assert code == 2 and "no advisory" in err


# ------------------------------------------------------------------------------ follower sync
def test_follower_sync_creates_marks_and_unmarks_contacts(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    zalo = start_simulator(monkeypatch)
    try:
        oa = demo_accounts()[0]
        table, settings, pepper = wiring.table(), get_settings(), wiring.pepper()
        users = [f"7{i:017d}" for i in range(120)]
        for user in users:
            zalo.sim.follow(oa.oa_id, user)
        known, gone = users[0], "7999999999999999999"
        for user, following in ((known, False), (gone, True)):
            _contact(oa, user, 0, follower=following)
        account = table.get_oa(oa.oa_id)
        assert account is not None
        result = followers.sync_followers(
            table, settings, wiring.token_store(), pepper, account, clock.now_ms()
        )
        assert (result.total, result.listed, result.created, result.complete) == (120, 120, 119, True)
        assert (result.now_following, result.now_unfollowed) == (1, 1)
        contacts = {c.pseudonym: c for c in contacts_of(table, {oa.oa_id})}
        assert sum(c.follower for c in contacts.values()) == 120
        assert not contacts[pseudonym(pepper, oa.oa_id, gone)].follower
        created = table.get_contact(pseudonym(pepper, oa.oa_id, users[5]))
        assert created is not None and created.follower
        opened = envelope.open_sealed(
            settings.kms_key_id,
            created.user_id_sealed or b"",
            {"oa_id": oa.oa_id, "contact": created.pseudonym},
        )
        assert opened.decode() == users[5]
        pages = [c for c in zalo.sim.calls if c["path"].endswith("/getlist")]
        assert len(pages) == 3 and all(c["error"] in (0, None) for c in pages)
    finally:
        zalo.running.stop()


def test_follower_sync_beyond_the_paging_limit_walks_the_periods_and_unmarks_nobody(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    zalo = start_simulator(monkeypatch)
    try:
        oa = demo_accounts()[1]
        table, settings, pepper = wiring.table(), get_settings(), wiring.pepper()
        for i in range(130):
            zalo.sim.follow(oa.oa_id, f"6{i:017d}")
        silent = "6999999999999999999"  # a follower past the cut: Zalo's list cannot reach them
        handle = pseudonym(pepper, oa.oa_id, silent)
        table.create_contact(Contact(pseudonym=handle, oa_id=oa.oa_id, unit_id=oa.unit_id, follower=True))
        account = table.get_oa(oa.oa_id)
        assert account is not None
        # pretend Zalo's 10,000 cut is at 100 so 130 followers exceed it
        result = followers.sync_followers(
            table, settings, wiring.token_store(), pepper, account, clock.now_ms(), max_offset=50
        )
        assert result.total == 130 and result.listed == 100 and not result.complete
        assert result.cut_filters[0] == "all" and result.now_unfollowed == 0
        contact = table.get_contact(handle)
        assert contact is not None and contact.follower
        assert all(c["error"] in (0, None) for c in zalo.sim.calls)
    finally:
        zalo.running.stop()


def test_follower_sync_reaches_recent_followers_past_the_cut_through_the_period_lists(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain list stops at the cut; the per-period lists (which the simulator filters by each
    follower's last interaction) reach those who interacted in the last 30 days beyond it."""
    zalo = start_simulator(monkeypatch)
    try:
        oa = demo_accounts()[1]
        table, settings, pepper = wiring.table(), get_settings(), wiring.pepper()
        silent = [f"5{i:017d}" for i in range(100)]
        for user in silent:  # followed 40 days ago and quiet since: first in Zalo's plain list
            zalo.sim.follow(oa.oa_id, user)
        recent = [f"4{i:017d}" for i in range(30)]
        # then 10 followers 20 days ago, 10 five days ago, 5 yesterday and 5 today
        for days_later, group in (
            (20, recent[:10]),
            (15, recent[10:20]),
            (4, recent[20:25]),
            (1, recent[25:]),
        ):
            zalo.clock.advance(days_later * DAY)
            for user in group:
                zalo.sim.follow(oa.oa_id, user)
        account = table.get_oa(oa.oa_id)
        assert account is not None
        # pretend Zalo's 10,000 cut is at 100: the plain list reaches only the 100 silent followers
        result = followers.sync_followers(
            table, settings, wiring.token_store(), pepper, account, clock.now_ms(), max_offset=50
        )
        assert (result.total, result.listed, result.created, result.complete) == (130, 130, 130, True)
        for user in recent:
            contact = table.get_contact(pseudonym(pepper, oa.oa_id, user))
            assert contact is not None and contact.follower
        assert all(c["error"] in (0, None) for c in zalo.sim.calls)
    finally:
        zalo.running.stop()


# ------------------------------------------------------------------------------ delivery details
def _contact(oa: Any, user: str, last_ms: int, follower: bool = True) -> str:
    table, settings, pepper = wiring.table(), get_settings(), wiring.pepper()
    handle = pseudonym(pepper, oa.oa_id, user)
    sealed = envelope.seal(settings.kms_key_id, user.encode(), {"oa_id": oa.oa_id, "contact": handle})
    table.create_contact(
        Contact(
            pseudonym=handle,
            oa_id=oa.oa_id,
            unit_id=oa.unit_id,
            user_id_sealed=sealed,
            follower=follower,
            last_interaction_ms=last_ms,
        )
    )
    return handle


def _setup(stack: Provisioned, monkeypatch: pytest.MonkeyPatch, at: str) -> Any:
    for name, value in stack.env("AdvisorySenderFunction").items():
        monkeypatch.setenv(name, value)
    zalo = start_simulator(monkeypatch)
    zalo.clock.advance(_ms(at) / 1000 - time.time())
    return zalo


def _create(context: Any, unit: str, at_ms: int, **extra: Any) -> str:
    return str(publish_advisory_now(context, unit, at_ms, **extra)["advisory_id"])


def test_night_time_promotions_wait_for_six_and_receipts_reach_the_report(
    stack: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    zalo = _setup(stack, monkeypatch, "2026-01-31T21:59:30")  # month end, 30 s before the night ban
    try:
        oa = demo_accounts()[0]
        now = int(zalo.clock() * 1000)
        recent, old = "5000000000000000001", "5000000000000000002"
        for user, last in ((recent, now - DAY * 1000), (old, now - 30 * DAY * 1000)):
            _contact(oa, user, last)
            zalo.sim.interact(oa.oa_id, user, at=last / 1000)
            zalo.sim.follow(oa.oa_id, user)
        advisory_id = _create(lambda_context, oa.unit_id, now + 60_000)  # due at 22:00:30
        assert advisories.handler({}, lambda_context)["advisories"] == 0  # not due yet
        zalo.clock.advance(60)
        assert advisories.handler({}, lambda_context)["enqueued"] == 2
        waiting = deliver_fanout_once(stack, lambda_context)
        assert len(waiting) == 1  # the message comes back for the promotion at 06:00
        assert [s["kind"] for s in zalo.sim.sent] == ["cs"]
        report = manage.report(wiring.table(), None, advisory_id)[0].oas[0]
        assert (report.sent, report.deferred, report.targeted) == (1, 1, 2)
        zalo.clock.advance(_ms("2026-02-01T06:00:01") / 1000 - zalo.clock())
        release_fanout(stack, waiting)
        assert deliver_fanout_once(stack, lambda_context) == []
        assert [s["kind"] for s in zalo.sim.sent] == ["cs", "promotion"]
        assert not zalo.sim.violations
        # receipts: the webhook marks the advisory's deliveries received, then seen
        for sent in zalo.sim.sent:
            _receipt(oa, sent["user_id"], "user_received_message", sent["message_id"], lambda_context)
        _receipt(
            oa,
            zalo.sim.sent[0]["user_id"],
            "user_seen_message",
            zalo.sim.sent[0]["message_id"],
            lambda_context,
        )
        report = manage.report(wiring.table(), None, advisory_id)[0].oas[0]
        assert (report.sent, report.received, report.seen, report.deferred) == (2, 2, 1, 0)
        assert report.accounted() == report.targeted == 2
    finally:
        zalo.running.stop()


def _receipt(oa: Any, user: str, event_name: str, message_id: str, context: Any) -> None:
    import json

    from tipline_local.samples import api_event, zalo_body

    message = {"msg_ids": [message_id]} if event_name == "user_seen_message" else {"msg_id": message_id}
    body = {**zalo_body(event_name, oa, user_id=user, ts=clock.now_ms()), "message": message}
    response = webhook.handler(api_event(json.dumps(body).encode(), oa), context)
    assert response["statusCode"] == 200


def test_a_cancelled_advisory_stops_its_queued_deliveries(
    stack: Provisioned,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    zalo = _setup(stack, monkeypatch, "2026-03-31T23:59:00")  # month end, a minute before midnight
    try:
        oa = demo_accounts()[0]
        now = int(zalo.clock() * 1000)
        for i in range(3):
            user = f"40000000000000000{i}"
            _contact(oa, user, now - DAY * 1000)
            zalo.sim.interact(oa.oa_id, user, at=now / 1000 - DAY)
        advisory_id = _create(lambda_context, oa.unit_id, _ms("2026-04-01T00:00"))
        zalo.clock.advance(60)
        assert advisories.handler({}, lambda_context)["enqueued"] == 3
        status, _ = call(lambda_context, "DELETE", f"/v1/advisories/{advisory_id}", claims(oa.unit_id))
        assert status == 200
        capsys.readouterr()
        assert deliver_fanout_once(stack, lambda_context) == []
        assert advisory_outcomes(capsys.readouterr().out) == {"Failed": 3}
        assert zalo.sim.sent == []
        report = manage.report(wiring.table(), None, advisory_id)[0].oas[0]
        assert report.failed == {"the advisory was cancelled": 3}
    finally:
        zalo.running.stop()


def test_recurring_advisory_runs_each_occurrence_once_until_its_end(
    stack: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    zalo = _setup(stack, monkeypatch, "2026-11-29T23:00")
    try:
        oa = demo_accounts()[0]
        now = int(zalo.clock() * 1000)
        user = "3000000000000000001"
        _contact(oa, user, now)
        zalo.sim.interact(oa.oa_id, user, at=now / 1000)
        body = {"schedule": {"cron": "0 0 * * *", "end_ms": _ms("2026-12-01T12:00")}}
        advisory_id = _create(lambda_context, oa.unit_id, 0, **body)
        runs = []
        for at in ("2026-11-30T00:00:10", "2026-11-30T00:05", "2026-12-01T00:00:10", "2026-12-02T00:00:10"):
            zalo.clock.advance(_ms(at) / 1000 - zalo.clock())
            zalo.sim.interact(oa.oa_id, user)
            wiring.table().record_interaction(
                pseudonym(wiring.pepper(), oa.oa_id, user), int(zalo.clock() * 1000)
            )
            runs.append(advisories.handler({}, lambda_context)["advisories"])
            assert deliver_fanout_once(stack, lambda_context) == []
        assert runs == [1, 0, 1, 0]  # midnight Nov 30, midnight Dec 1 (month end), then the end date
        loaded = manage.load(wiring.table(), advisory_id)
        assert loaded is not None and loaded.status == AdvisoryStatus.DONE
        assert len(zalo.sim.sent) == 2
    finally:
        zalo.running.stop()
