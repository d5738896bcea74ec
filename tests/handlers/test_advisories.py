"""Advisories end to end: officer API -> scheduler handler -> fan-out queue (moto) -> sender handler ->
Zalo simulator, with the simulator's clock crossing Vietnam days when the quota forces deferral."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from fixtures.officer import call, claims
from fixtures.sender import release_fanout, start_simulator
from fixtures.webhook import delete, receive
from tipline import clock, wiring
from tipline.adapters import aws, envelope
from tipline.adapters.store.contacts import contact_item
from tipline.advisories import manage
from tipline.advisories.model import Schedule, next_promotion_start, promotion_hours
from tipline.config import get_settings
from tipline.domain import Contact
from tipline.handlers import advisory_scheduler as advisories
from tipline.handlers import advisory_sender
from tipline.intake import subscription
from tipline.intake.pseudonym import pseudonym
from tipline.keys import contact_pk
from tipline.zalo_rules import VIETNAM
from tipline_local.accounts import demo_accounts
from tipline_local.provision import Provisioned
from tipline_local.samples import sqs_event

# 10,000 followers over three OAs, as the issue asks (~2.5 minutes on a 2-core machine);
# ADVISORY_FOLLOWERS=600 runs a smaller crowd while working on this file.
FOLLOWERS = int(os.environ.get("ADVISORY_FOLLOWERS", "10000"))
DAY = 86400


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=VIETNAM).timestamp() * 1000)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("0 0 * * *", "2026-03-01T23:59", "2026-03-02T00:00"),  # midnight Vietnam time, not UTC
        ("0 6 * * *", "2026-03-02T06:00", "2026-03-03T06:00"),  # strictly after
        ("59 21 * * *", "2026-03-02T21:58", "2026-03-02T21:59"),
        ("0 8 31 * *", "2026-04-01T00:00", "2026-05-31T08:00"),  # April has no 31st
        ("0 9 29 2 *", "2026-01-01T00:00", "2028-02-29T09:00"),  # leap day
        ("30 7 * * 1", "2026-12-31T12:00", "2027-01-04T07:30"),  # year end, Mondays
    ],
)
def test_recurring_schedules_are_evaluated_in_vietnam_time(cron: str, after: str, expected: str) -> None:
    schedule = Schedule(cron=cron, end_ms=_ms("2030-01-01T00:00"))
    assert schedule.next_due(_ms(after)) == _ms(expected)


def test_a_recurring_schedule_ends_at_its_end_date() -> None:
    schedule = Schedule(cron="0 6 * * *", end_ms=_ms("2026-01-31T23:59"))
    assert schedule.next_due(_ms("2026-01-31T06:00")) is None
    assert schedule.next_due(_ms("2026-01-30T07:00")) == _ms("2026-01-31T06:00")


@pytest.mark.parametrize(
    ("at", "allowed", "next_start"),
    [
        ("2026-01-31T05:59", False, "2026-01-31T06:00"),
        ("2026-01-31T06:00", True, "2026-02-01T06:00"),
        ("2026-01-31T21:59", True, "2026-02-01T06:00"),
        ("2026-01-31T22:00", False, "2026-02-01T06:00"),
        ("2026-01-31T23:59", False, "2026-02-01T06:00"),
        ("2026-02-01T00:00", False, "2026-02-01T06:00"),
    ],
)
def test_promotion_hours_around_the_edges(at: str, allowed: bool, next_start: str) -> None:
    assert promotion_hours(_ms(at)) is allowed
    assert next_promotion_start(_ms(at)) == _ms(next_start)


def _scope(stack: Provisioned, context: Any) -> None:
    unit = demo_accounts()[0]
    body = {
        "title": "Cảnh báo",
        "text": "Lừa đảo mới",
        "category": "scam",
        "target": {"province_wide": True},
        "schedule": {"at_ms": 0},
    }
    status, _ = call(context, "POST", "/v1/advisories", claims(unit.unit_id), body=body)
    assert status == 422  # officers cannot go province-wide
    status, created = call(context, "POST", "/v1/advisories", claims("x", "commander"), body=body)
    assert status == 201, created
    status, _ = call(context, "GET", f"/v1/advisories/{created['advisory_id']}", claims(unit.unit_id))
    assert status == 404
    status, _ = call(
        context, "POST", "/v1/advisories", claims(unit.unit_id), body={**body, "text": "x" * 2001}
    )
    assert status == 422


def test_officer_api_scopes_advisories(stack: Provisioned, lambda_context: Any) -> None:
    _scope(stack, lambda_context)
    unit = demo_accounts()[0].unit_id
    body = {
        "title": "Cảnh báo",
        "text": "Trộm xe",
        "category": "theft",
        "target": {"unit_ids": [unit]},
        "schedule": {"cron": "0 7 * * *", "end_ms": clock.now_ms() + 30 * DAY * 1000},
    }
    status, created = call(lambda_context, "POST", "/v1/advisories", claims(unit), body=body)
    assert status == 201, created
    status, listed = call(lambda_context, "GET", "/v1/advisories", claims(unit))
    assert [a["advisory_id"] for a in listed] == [created["advisory_id"]]
    status, cancelled = call(
        lambda_context, "DELETE", f"/v1/advisories/{created['advisory_id']}", claims(unit)
    )
    assert status == 200 and cancelled["status"] == "cancelled"


def _seal_fast(key_id: str, plaintext: bytes, context: dict[str, str]) -> bytes:
    """Seeding only: a data key made by the emulator's KMS backend directly (no HTTP round trip),
    sealed exactly as envelope.seal does; the code under test opens it through the KMS API."""
    from moto.kms.models import kms_backends

    backend = kms_backends["123456789012"][os.environ["AWS_DEFAULT_REGION"]]
    plain, blob, _ = backend.generate_data_key(key_id, context, 32, "AES_256")
    return envelope.seal_with(envelope.DataKey(plaintext=plain, encrypted=blob), plaintext, context)


KINDS = {"recent": 0.3, "old": 0.5, "opted_out": 0.1, "unfollow": 0.05, "never_followed": 0.05}


def _seed(sim: Any, now: float, rng: random.Random) -> dict[str, tuple[str, str, str]]:
    """Contacts over three OAs, written in batches; returns pseudonym -> (kind, oa_id, user_id)."""
    table, settings, pepper = wiring.table(), get_settings(), wiring.pepper()
    accounts = demo_accounts()[:3]
    people: dict[str, tuple[str, str, str]] = {}
    items = []
    for i in range(FOLLOWERS):
        oa = accounts[i % len(accounts)]
        user = f"9{i:017d}"
        handle = pseudonym(pepper, oa.oa_id, user)
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        last = now - (2 * DAY if kind == "recent" else rng.randint(8, 90) * DAY)
        context = {"oa_id": oa.oa_id, "contact": handle}
        contact = Contact(
            pseudonym=handle,
            oa_id=oa.oa_id,
            unit_id=oa.unit_id,
            user_id_sealed=_seal_fast(settings.kms_key_id, user.encode(), context),
            follower=kind != "never_followed",
            opted_out=kind == "opted_out",
            last_interaction_ms=int(last * 1000),
        )
        items.append({"pk": contact_pk(handle), "sk": "META", **contact_item(contact)})
        sim.interact(oa.oa_id, user, at=last)
        sim.follow(oa.oa_id, user, following=kind != "never_followed")
        people[handle] = (kind, oa.oa_id, user)
    table.batch_put(items)
    return people


def test_every_eligible_follower_gets_exactly_one_message_within_zalos_rules(
    stack: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.env("AdvisorySenderFunction").items():
        monkeypatch.setenv(name, value)
    # moto answers a query over 10,000 contacts far slower than DynamoDB; on a loaded machine it can
    # pass the functions' 5 s read timeout, which is about AWS, not about what this test proves.
    monkeypatch.setitem(aws._SERVICE_OPTIONS, "dynamodb", {"read_timeout": 60})
    aws.reset_clients()
    zalo = start_simulator(monkeypatch)
    try:
        # 20:00 Vietnam time today: promotions allowed for two hours, then the night ban.
        base = datetime(2026, 3, 10, 20, tzinfo=VIETNAM).timestamp()  # a fixed day, not today
        zalo.clock.advance(base - time.time())
        people = _seed(zalo.sim, zalo.clock(), random.Random(7))
        commander = claims("province", "commander")
        body = {
            "title": "Cảnh báo lừa đảo",
            "text": "Không chuyển tiền cho người lạ.",
            "link": "https://congan.example.vn/canh-bao",
            "category": "scam",
            "target": {"province_wide": True},
            "schedule": {"at_ms": int(zalo.clock() * 1000)},
        }
        status, created = call(lambda_context, "POST", "/v1/advisories", commander, body=body)
        assert status == 201, created
        planned = advisories.handler({}, lambda_context)
        assert planned["advisories"] == 1
        assert advisories.handler({}, lambda_context)["advisories"] == 0  # planned once
        # some followers unfollow after planning, before their message goes (Zalo and the webhook know)
        table = wiring.table()
        unfollowed = [h for h, (kind, _, _) in people.items() if kind == "unfollow"]
        for handle in unfollowed:
            _, oa_id, user = people[handle]
            zalo.sim.follow(oa_id, user, following=False)
            subscription.unfollowed(table, handle, clock.now_ms())
        days = _drain(stack, zalo, lambda_context)
        promotions = Counter(oa for kind, oa, _ in people.values() if kind == "old")
        assert days >= max(promotions.values()) // 500  # the daily quota forced deferral to later days
        assert not zalo.sim.violations
        assert not [c for c in zalo.sim.calls if c.get("error") in (-211, -213, -230, -234)]
        sent = Counter((s["oa_id"], s["user_id"]) for s in zalo.sim.sent)
        assert set(sent.values()) == {1}
        eligible = {(oa, user) for kind, oa, user in people.values() if kind in ("recent", "old")}
        assert set(sent) == eligible
        kinds = {(oa, user): kind for kind, oa, user in people.values()}
        channels = {kinds[(s["oa_id"], s["user_id"])] + "/" + s["kind"] for s in zalo.sim.sent}
        assert channels == {"recent/cs", "old/promotion"}
        reports = manage.report(table, None, created["advisory_id"])
        assert len(reports) == 1 and len(reports[0].oas) == 3
        totals: Counter[str] = Counter()
        for oa in reports[0].oas:
            assert oa.accounted() == oa.targeted
            assert oa.pending == 0 and oa.deferred == 0 and not oa.failed
            totals.update({"sent": oa.sent, "targeted": oa.targeted, **oa.skipped})
        assert totals["targeted"] == FOLLOWERS
        assert totals["sent"] == len(eligible)
        count = Counter(kind for kind, _, _ in people.values())
        assert totals["opted_out"] == count["opted_out"]
        assert totals["unfollowed"] == count["unfollow"]
        assert totals["not_subscribed"] == count["never_followed"]
    finally:
        zalo.running.stop()


def _drain(stack: Provisioned, zalo: Any, context: Any) -> int:
    """Run the sender over the fan-out queue like Lambda's poller until it is empty; when only
    deferred messages remain, move virtual time to the next allowed moment. Returns days crossed."""
    arn = stack.resolver.attributes["FanoutQueue.Arn"]
    first_day = datetime.fromtimestamp(zalo.clock(), VIETNAM).date()
    waiting: list[str] = []
    for _ in range(5000):
        messages = receive(stack, "FanoutQueue")
        if not messages:
            if not waiting:
                return (datetime.fromtimestamp(zalo.clock(), VIETNAM).date() - first_day).days
            zalo.clock.advance(_until_next_allowed(zalo.clock()))
            release_fanout(stack, waiting)
            waiting = []
            continue
        response = advisory_sender.handler(sqs_event(messages, arn), context)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        waiting += [m["ReceiptHandle"] for m in messages if m["MessageId"] in failed]
        delete(stack, "FanoutQueue", [m for m in messages if m["MessageId"] not in failed])
    raise AssertionError("the fan-out queue did not drain")


def _until_next_allowed(now: float) -> float:
    """Seconds to the next 06:00 Vietnam time (what every deferral in this test waits for)."""
    return next_promotion_start(int(now * 1000)) / 1000 - now + 1
