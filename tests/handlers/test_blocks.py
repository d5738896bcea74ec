"""Blocks: Zalo's "the citizen blocked the OA" (-217) and an officer's block are separate facts.

Through the real handlers, against moto and the served Zalo simulator: the webhook stores what
citizens write, the reply sender meets Zalo's -217, the officer API blocks, shows, lists and lifts
blocks. Neither fact ever keeps a message from being stored or checked for urgency: Zalo's clears when
the citizen writes or follows again; an officer's stops acknowledgements and automatic answers only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from fixtures.officer import call, claims
from fixtures.sender import Poller, Zalo, citizen_writes, outbound, simulated_zalo
from fixtures.webhook import (
    delete,
    deliver,
    demo_oa,
    drain,
    items_with_prefix,
    now_ms,
    receive,
    subscribe_to_urgent,
    text_event,
    urgent_alerts,
)
from tipline import clock, wiring
from tipline.advisories.model import VIETNAM
from tipline.domain import Contact, DeliveryStatus
from tipline.handlers import advisory_scheduler, advisory_sender
from tipline.intake.pseudonym import pseudonym, short_pseudonym
from tipline_local.provision import Provisioned
from tipline_local.samples import sqs_event, zalo_body

OWN, OTHER = "pc02-hoan-kiem", "pc08-traffic"
COMMANDER = claims("province", "commander", subject="commander-1")
USER = "246845883529197922"
URGENT = "Cháy lớn ở ngõ 12, có người mắc kẹt trên tầng 3"
MINUTE, DAY = 60.0, 86400.0


@pytest.fixture
def zalo_sim(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    yield from simulated_zalo(monkeypatch)


def _handle(user_id: str) -> str:
    return pseudonym(wiring.pepper(), demo_oa().oa_id, user_id)


def _contact(stack: Provisioned, user_id: str = USER) -> Contact:
    contact = wiring.table().get_contact(_handle(user_id))
    assert contact is not None
    return contact


def _tips(context: Any) -> list[dict[str, Any]]:
    """The tips as the provincial command lists them, oldest first."""
    items = call(context, "GET", "/v1/tips", COMMANDER)[1]["items"]
    return sorted(items, key=lambda tip: tip["created_at"])


def _read(context: Any, tip_id: str, who: dict[str, Any] | None = None) -> dict[str, Any]:
    status, detail = call(context, "GET", f"/v1/tips/{tip_id}", who or claims(OWN), {"reason": "xác minh"})
    assert status == 200, detail
    return detail  # type: ignore[no-any-return]


def _inbound(detail: dict[str, Any]) -> list[tuple[str | None, bool]]:
    return [(m["text"], m["grouped"]) for m in detail["messages"] if m["direction"] == "in"]


def _blocked_by_the_citizen(stack: Provisioned, zalo_sim: Zalo, context: Any) -> tuple[Poller, str]:
    """A citizen writes, is acknowledged, then blocks the OA in Zalo: an officer's reply meets -217."""
    citizen_writes(zalo_sim, context, "Tôi muốn báo tin về một vụ lừa đảo", USER)
    poller = Poller(stack, context)
    poller.drain()
    assert len(zalo_sim.cs_sent(USER)) == 1, "the acknowledgement"
    (tip,) = _tips(context)
    zalo_sim.sim.block(demo_oa().oa_id, USER)
    answer = call(
        context, "POST", f"/v1/tips/{tip['tip_id']}/replies", claims(OWN), body={"text": "Xin chào"}
    )
    assert answer[0] == 202
    poller.drain()
    (reply,) = [e for e in outbound(stack) if e.kind == "officer_reply"]
    assert reply.status == DeliveryStatus.FAILED and reply.reason and "blocked" in reply.reason
    assert zalo_sim.sim.refusals[-217] == 1
    return poller, str(tip["tip_id"])


def test_a_citizen_who_blocked_the_oa_is_heard_when_they_come_back_with_an_emergency(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    observer = subscribe_to_urgent(stack)
    poller, first_tip = _blocked_by_the_citizen(stack, zalo_sim, lambda_context)
    sender = _read(lambda_context, first_tip)["sender"]
    assert sender["blocked_the_oa"] is True, "Zalo's answer is shown on the tip"
    assert sender["block"] is None, "Zalo's block is not an officer's"
    assert call(lambda_context, "GET", "/v1/blocks", COMMANDER)[1] == []

    zalo_sim.clock.advance(2 * DAY)  # days later they unblock the OA and report a fire
    zalo_sim.sim.block(demo_oa().oa_id, USER, blocked=False)
    citizen_writes(zalo_sim, lambda_context, URGENT, USER)

    tips = _tips(lambda_context)
    assert len(tips) == 2, "the emergency is stored: a new tip (the first one is two days old)"
    emergency = tips[-1]
    assert emergency["urgent"] is True
    assert _inbound(_read(lambda_context, emergency["tip_id"])) == [(URGENT, False)]
    assert urgent_alerts(observer) == [
        {"unit_id": OWN, "tip_id": emergency["tip_id"], "code": emergency["code"]}
    ]
    assert _contact(stack).zalo_blocked is False, "writing again clears Zalo's block"
    poller.drain()
    ack = zalo_sim.cs_sent(USER)[-1]
    assert emergency["code"] in ack["text"], "the citizen is acknowledged with the new tip's code"
    assert _read(lambda_context, emergency["tip_id"])["sender"]["blocked_the_oa"] is False


def test_following_again_clears_zalo_s_block_and_unfollowing_does_not(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    _blocked_by_the_citizen(stack, zalo_sim, lambda_context)
    oa = demo_oa()
    deliver(lambda_context, zalo_body("unfollow", oa, user_id=USER, ts=now_ms()))
    assert _contact(stack).zalo_blocked is True
    deliver(lambda_context, zalo_body("follow", oa, user_id=USER, ts=now_ms() + 1))
    contact = _contact(stack)
    assert contact.zalo_blocked is False and contact.follower is True


def test_an_officer_block_silences_answers_but_keeps_every_message_and_its_alert(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    observer = subscribe_to_urgent(stack)
    citizen_writes(zalo_sim, lambda_context, "Có người bán hàng giả ở chợ đêm", USER)
    poller = Poller(stack, lambda_context)
    poller.drain()
    (tip,) = _tips(lambda_context)
    status, block = call(
        lambda_context,
        "POST",
        f"/v1/contacts/{tip['citizen']}/block",
        claims(OWN),
        body={"reason": "tin rác lặp lại"},
    )
    assert status == 200, block
    assert {k: block[k] for k in ("citizen", "unit_id", "tip_id", "blocked_by", "reason")} == {
        "citizen": tip["citizen"],
        "unit_id": OWN,
        "tip_id": tip["tip_id"],
        "blocked_by": "officer-1",
        "reason": "tin rác lặp lại",
    }
    assert block["blocked_at"]

    # A menu keyword, the citizen's own tip code, an opt-out and an emergency: no answer to any.
    later = ["Liên hệ", tip["code"], "HUY", URGENT]
    for text in later:
        citizen_writes(zalo_sim, lambda_context, text, USER)
    assert receive(stack, "RepliesQueue") == [], "no acknowledgement, no automatic answer"

    (same,) = _tips(lambda_context)
    detail = _read(lambda_context, same["tip_id"])
    assert _inbound(detail) == [("Có người bán hàng giả ở chợ đêm", False)] + [(t, True) for t in later]
    assert detail["urgent"] is True
    assert urgent_alerts(observer) == [{"unit_id": OWN, "tip_id": tip["tip_id"], "code": tip["code"]}]
    assert detail["sender"] == {"citizen": tip["citizen"], "blocked_the_oa": False, "block": block}
    assert _contact(stack).opted_out is True, "the citizen's own opt-out is still honoured"

    # An officer's deliberate reply still goes out: the block stops only automatic messages.
    text = "Chúng tôi đã ghi nhận."
    assert (
        call(lambda_context, "POST", f"/v1/tips/{tip['tip_id']}/replies", claims(OWN), body={"text": text})[0]
        == 202
    )
    poller.drain()
    assert [m["text"] for m in zalo_sim.cs_sent(USER)][1:] == [text]


def test_blocks_are_listed_in_scope_lifted_and_audited(stack: Provisioned, lambda_context: Any) -> None:
    deliver(lambda_context, text_event("Tin rác", user_id=USER))
    drain(stack, "RepliesQueue")
    (tip,) = _tips(lambda_context)
    citizen, path = tip["citizen"], f"/v1/contacts/{tip['citizen']}/block"
    block = call(lambda_context, "POST", path, claims(OWN), body={"reason": "quấy rối"})[1]
    again = call(lambda_context, "POST", path, COMMANDER, body={"reason": "chặn lần hai"})
    assert again == (200, block), "blocking a blocked citizen changes nothing"

    assert call(lambda_context, "GET", "/v1/blocks", claims(OWN)) == (200, [block])
    assert call(lambda_context, "GET", "/v1/blocks", claims(OTHER)) == (200, [])
    assert call(lambda_context, "GET", "/v1/blocks", COMMANDER) == (200, [block])

    assert call(lambda_context, "DELETE", path, claims(OTHER), {"reason": "gỡ chặn"})[0] == 404
    assert call(lambda_context, "DELETE", path, COMMANDER)[0] == 422, "lifting a block needs a reason"
    status, lifted = call(lambda_context, "DELETE", path, COMMANDER, {"reason": "người dân đã xin lỗi"})
    assert status == 200, lifted
    assert (lifted["citizen"], lifted["lifted_by"], lifted["block"]) == (citizen, "commander-1", block)
    assert call(lambda_context, "DELETE", path, COMMANDER, {"reason": "lần nữa"})[0] == 404
    assert call(lambda_context, "GET", "/v1/blocks", COMMANDER) == (200, [])
    assert _read(lambda_context, tip["tip_id"])["sender"]["block"] is None

    trail = call(lambda_context, "GET", "/v1/audit", COMMANDER, {"tip_id": tip["tip_id"]})[1]
    changes = [(r["action"], r["actor"], r["reason"]) for r in trail if r["action"] != "read"]
    assert changes == [
        ("block", "officer-1", "quấy rối"),
        ("unblock", "commander-1", "người dân đã xin lỗi"),
    ]

    # Acknowledged again once the block is lifted (after the quiet period of the first one).
    later = now_ms() + 2 * 3600 * 1000
    with clock.use(lambda: later / 1000):
        deliver(lambda_context, text_event("Tôi xin lỗi, tôi có tin thật", user_id=USER, ts=later))
    assert len(drain(stack, "RepliesQueue")) == 1


def test_a_contact_stored_blocked_before_the_split_reads_as_zalo_s_block(
    stack: Provisioned, lambda_context: Any
) -> None:
    """Old data has one `blocked` flag. Most were Zalo's -217 (replies and advisories meet it at scale);
    an officer's block of that time is in the audit trail. So it reads as Zalo's block, and clears."""
    deliver(lambda_context, text_event("Tin báo đầu tiên", user_id=USER))
    drain(stack, "RepliesQueue")
    pseudonym = _contact(stack).pseudonym
    boto3.client("dynamodb").update_item(
        TableName=stack.resolver.refs["TiplineTable"],
        Key={"pk": {"S": f"CONTACT#{pseudonym}"}, "sk": {"S": "META"}},
        UpdateExpression="SET blocked = :t REMOVE zalo_blocked",  # as the contact was stored then
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    legacy = _contact(stack)
    assert (legacy.zalo_blocked, legacy.officer_block) == (True, None)
    assert call(lambda_context, "GET", "/v1/blocks", COMMANDER) == (200, [])

    later = now_ms() + 2 * 3600 * 1000
    with clock.use(lambda: later / 1000):
        deliver(lambda_context, text_event(URGENT, user_id=USER, ts=later))
    (tip,) = _tips(lambda_context)
    assert tip["urgent"] is True and tip["message_count"] == 2
    assert len(drain(stack, "RepliesQueue")) == 1, "acknowledged"
    (item,) = items_with_prefix(stack, "CONTACT#", "META")
    assert "blocked" not in item and item["zalo_blocked"] == {"BOOL": False}


def test_an_advisory_meeting_217_sets_zalo_s_block_and_an_officer_s_block_does_not_stop_advisories(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.env("AdvisorySenderFunction").items():
        monkeypatch.setenv(name, value)
    zalo_sim.clock.advance(datetime(2026, 3, 10, 10, tzinfo=VIETNAM).timestamp() - time.time())  # a fixed day
    oa = demo_oa()
    gone, spammer = "5100000000000000001", "5100000000000000002"
    for user in (gone, spammer):  # both follow the OA and wrote to it
        zalo_sim.sim.follow(oa.oa_id, user)
        deliver(lambda_context, zalo_body("follow", oa, user_id=user, ts=now_ms()))
        citizen_writes(zalo_sim, lambda_context, "Có người lừa đảo bán hàng online", user)
    drain(stack, "RepliesQueue")
    spammers_tip = next(t for t in _tips(lambda_context) if t["citizen"] == short_pseudonym(_handle(spammer)))
    path = f"/v1/contacts/{spammers_tip['citizen']}/block"
    assert call(lambda_context, "POST", path, claims(OWN), body={"reason": "tin rác"})[0] == 200
    zalo_sim.sim.block(oa.oa_id, gone)

    advisory = {
        "title": "Cảnh báo lừa đảo",
        "text": "Không chuyển tiền cho người lạ.",
        "category": "scam",
        "target": {"unit_ids": [OWN]},
        "schedule": {"at_ms": now_ms()},
    }
    assert call(lambda_context, "POST", "/v1/advisories", claims(OWN), body=advisory)[0] == 201
    assert advisory_scheduler.handler({}, lambda_context)["enqueued"] == 2
    messages = receive(stack, "FanoutQueue")
    event = sqs_event(messages, stack.resolver.attributes["FanoutQueue.Arn"])
    assert advisory_sender.handler(event, lambda_context) == {"batchItemFailures": []}
    delete(stack, "FanoutQueue", messages)

    assert [s["user_id"] for s in zalo_sim.sim.sent if s["text"].startswith("Cảnh báo")] == [spammer]
    assert (_contact(stack, gone).zalo_blocked, _contact(stack, gone).officer_block) == (True, None)
    assert _contact(stack, spammer).zalo_blocked is False
    zalo_sim.sim.block(oa.oa_id, gone, blocked=False)
    citizen_writes(zalo_sim, lambda_context, "Tôi đã bỏ chặn", gone)
    assert _contact(stack, gone).zalo_blocked is False
