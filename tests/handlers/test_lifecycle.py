"""Retention of closed tips, legal holds and the sweeper, against moto (which never expires items)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fixtures.events import load_event
from fixtures.sender import Poller, Zalo, citizen_writes, simulated_zalo
from fixtures.webhook import deliver, drain, items_with_prefix, now_ms, table_items, text_event
from tipline import clock
from tipline.config import get_settings
from tipline.domain import Tip, TipStatus
from tipline.handlers import retention_sweeper
from tipline.keys import tip_pk
from tipline.lifecycle.retention import DAY_SECONDS, TTL_GRACE_DAYS, apply_retention, forget_after, ttl_for
from tipline.wiring import table

pytestmark = pytest.mark.usefixtures("stack")


def _open_tip(stack: Any, lambda_context: Any, user_id: str, at_ms: int) -> Tip:
    deliver(lambda_context, text_event("báo tin", user_id=user_id, ts=at_ms), at_ms=at_ms)
    drain(stack, "RepliesQueue")
    tip_id = next(
        item["tip_id"]["S"]
        for item in items_with_prefix(stack, "TIP#", "META")
        if item["created_at_ms"]["N"] == str(at_ms)
    )
    tip = table().get_tip(tip_id)
    assert tip is not None
    return tip


def _close(tip: Tip, closed_ms: int, hold: bool = False) -> Tip:
    """What the officer API's triage does when a tip is resolved (stored, then retention applied)."""
    closed = tip.model_copy(
        update={"status": TipStatus.RESOLVED, "closed_at_ms": closed_ms, "legal_hold": hold}
    )
    boto3.client("dynamodb").update_item(
        TableName=table().name,
        Key={"pk": {"S": tip_pk(tip.tip_id)}, "sk": {"S": "META"}},
        UpdateExpression="SET #s = :s, closed_at_ms = :c, legal_hold = :h",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": "resolved"},
            ":c": {"N": str(closed_ms)},
            ":h": {"BOOL": hold},
        },
    )
    apply_retention(table(), get_settings(), closed)
    reread = table().get_tip(tip.tip_id)
    assert reread is not None
    return reread


def _tip_items(stack: Any, tip: Tip) -> list[dict[str, Any]]:
    return [
        item
        for item in table_items(stack)
        if item["pk"]["S"] == tip_pk(tip.tip_id)
        or item["pk"]["S"] == f"CODE#{tip.code}"
        or item["sk"]["S"] == f"TIP#{tip.tip_id}"
    ]


def test_open_tips_never_expire_and_closed_ones_do_after_retention() -> None:
    tip = Tip(
        tip_id="t", code="c", oa_id="o", unit_id="u", pseudonym="p", created_at_ms=0, last_activity_ms=0
    )
    assert forget_after(tip, 180) is None
    closed = tip.model_copy(update={"status": TipStatus.REJECTED, "closed_at_ms": 1_000_000})
    assert forget_after(closed, 180) == 1_000 + 180 * DAY_SECONDS
    assert ttl_for(closed, 180) == 1_000 + (180 + TTL_GRACE_DAYS) * DAY_SECONDS, "TTL is only a backstop"
    assert forget_after(closed.model_copy(update={"legal_hold": True}), 180) is None


def test_closing_a_tip_sets_the_same_expiry_on_every_item_of_it(stack: Any, lambda_context: Any) -> None:
    tip = _open_tip(stack, lambda_context, "501", now_ms())
    assert all("expires_at" not in item for item in _tip_items(stack, tip))
    closed = _close(tip, now_ms())
    items = _tip_items(stack, tip)
    assert len(items) >= 5  # META, message, ack, code, contact link
    assert {item["expires_at"]["N"] for item in items} == {str(closed.expires_at)}


def test_a_legal_hold_stops_expiry_and_lifting_it_restores_it(stack: Any, lambda_context: Any) -> None:
    tip = _open_tip(stack, lambda_context, "502", now_ms())
    held = _close(tip, now_ms(), hold=True)
    assert held.expires_at is None
    assert all("expires_at" not in item for item in _tip_items(stack, tip))
    released = _close(held, now_ms(), hold=False)
    assert released.expires_at is not None


def test_the_sweeper_deletes_expired_tips_and_keeps_the_rest(stack: Any, lambda_context: Any) -> None:
    long_ago = now_ms() - 400 * DAY_SECONDS * 1000
    expired = _close(_open_tip(stack, lambda_context, "601", long_ago), long_ago + 1000)
    held = _close(_open_tip(stack, lambda_context, "602", long_ago + 5), long_ago + 1000, hold=True)
    recent = _close(_open_tip(stack, lambda_context, "603", now_ms()), now_ms())
    still_open = _open_tip(stack, lambda_context, "604", now_ms() + 5)

    swept = retention_sweeper.handler(load_event("schedule/daily.json"), lambda_context)
    assert swept["deleted"] == 1
    assert _tip_items(stack, expired) == []
    for kept in (held, recent, still_open):
        assert table().get_tip(kept.tip_id) is not None
    assert clock.now_s() < (recent.expires_at or 0)


def test_after_withdraw_nothing_of_the_citizen_can_be_decrypted(stack: Any, lambda_context: Any) -> None:
    from fixtures.webhook import demo_oa
    from tipline.adapters import envelope
    from tipline.config import get_settings
    from tipline.domain import sealing_context
    from tipline_local.samples import zalo_body

    key = get_settings().kms_key_id
    deliver(lambda_context, text_event("tin của tôi", user_id="701"))
    deliver(lambda_context, text_event("Liên hệ", user_id="701", ts=now_ms() + 5))  # a contact-thread answer
    deliver(lambda_context, text_event("tin của người khác", user_id="702", ts=now_ms() + 10))

    def sealed_values() -> list[tuple[dict[str, str], bytes]]:
        values = []
        for item in table_items(stack):
            pk = item["pk"]["S"]
            if not pk.startswith(("TIP#", "CONTACT#")):
                continue  # OA tokens and other non-citizen records
            if "sealed" in item:
                tip_id = item.get("tip_id", {}).get("S")
                values.append(
                    (
                        sealing_context(item["oa_id"]["S"], tip_id, item["pseudonym"]["S"]),
                        bytes(item["sealed"]["B"]),
                    )
                )
            if pk.startswith("CONTACT#") and "user_id_sealed" in item:
                context = {"oa_id": item["oa_id"]["S"], "contact": pk.removeprefix("CONTACT#")}
                values.append((context, bytes(item["user_id_sealed"]["B"])))
        return values

    def opened() -> set[bytes]:
        return {envelope.open_sealed(key, blob, context) for context, blob in sealed_values()}

    before = opened()
    assert b"701" in before
    assert any("tin của tôi" in value.decode() for value in before)
    deliver(lambda_context, zalo_body("user_withdraw", demo_oa(), user_id="701", ts=now_ms() + 20))
    after = opened()
    assert b"701" not in after
    assert not any("tin của tôi" in value.decode() for value in after)
    assert b"702" in after, "other citizens are untouched"


def _put_evidence(stack: Any, tip_id: str) -> str:
    bucket = stack.resolver.refs["EvidenceBucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key=f"evidence/{tip_id}/a1", Body=b"\x89PNG evidence")
    return str(bucket)


def _evidence_versions(bucket: str, tip_id: str) -> list[Any]:
    listing = boto3.client("s3").list_object_versions(Bucket=bucket, Prefix=f"evidence/{tip_id}/")
    return [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]


def test_the_sweeper_purges_evidence_of_expired_tips_and_withdrawn_citizens(
    stack: Any, lambda_context: Any
) -> None:
    from fixtures.webhook import demo_oa
    from tipline_local.samples import zalo_body

    long_ago = now_ms() - 400 * DAY_SECONDS * 1000
    expired = _close(_open_tip(stack, lambda_context, "801", long_ago), long_ago + 1000)
    withdrawn = _open_tip(stack, lambda_context, "802", now_ms())
    kept = _open_tip(stack, lambda_context, "803", now_ms() + 5)
    bucket = ""
    for tip in (expired, withdrawn, kept):
        bucket = _put_evidence(stack, tip.tip_id)
    deliver(lambda_context, zalo_body("user_withdraw", demo_oa(), user_id="802", ts=now_ms() + 10))
    assert _evidence_versions(bucket, withdrawn.tip_id), (
        "the webhook cannot touch the bucket; the sweeper does"
    )

    retention_sweeper.handler(load_event("schedule/daily.json"), lambda_context)
    assert _evidence_versions(bucket, expired.tip_id) == []
    assert _evidence_versions(bucket, withdrawn.tip_id) == []
    assert _evidence_versions(bucket, kept.tip_id) != []
    assert table().pending_evidence_purges() == []


# -- what outlived its purpose: receipt pointers, open-tip pointers, idle contacts ---------------------------
def _items(stack: Any, prefix: str) -> list[dict[str, Any]]:
    return [item for item in table_items(stack) if item["pk"]["S"].startswith(prefix)]


@pytest.fixture
def zalo_sim(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    yield from simulated_zalo(monkeypatch)


def test_a_deleted_tip_takes_its_receipt_pointers_and_its_contacts_open_tip_pointer(
    stack: Any, lambda_context: Any, zalo_sim: Zalo
) -> None:
    citizen_writes(zalo_sim, lambda_context, "báo tin", "901")
    Poller(stack, lambda_context).drain()  # the acknowledgement goes out: Zalo's message id is kept
    (pointer,) = _items(stack, "ZMSG#")
    assert int(pointer["expires_at"]["N"]) - clock.now_s() == pytest.approx(30 * DAY_SECONDS, abs=120)
    (tip_item,) = items_with_prefix(stack, "TIP#", "META")
    tip = table().get_tip(tip_item["tip_id"]["S"])
    assert tip is not None
    before = table().get_contact(tip.pseudonym)
    assert before is not None and before.open_tip_id == tip.tip_id
    _close(tip, now_ms() - 400 * DAY_SECONDS * 1000)

    assert retention_sweeper.handler(load_event("schedule/daily.json"), lambda_context)["deleted"] == 1
    assert _items(stack, "ZMSG#") == [], "the pointer went with its tip"
    contact = table().get_contact(tip.pseudonym)
    assert contact is not None, "the citizen wrote today: the contact stays"
    assert contact.open_tip_id is None, "no pointer to a tip that is gone"


def test_an_idle_contact_with_no_tip_left_expires_and_followers_and_recent_ones_stay(
    stack: Any, lambda_context: Any
) -> None:
    from fixtures.webhook import demo_oa
    from tipline_local.samples import zalo_body

    long_ago = now_ms() - 400 * DAY_SECONDS * 1000
    idle = _close(_open_tip(stack, lambda_context, "911", long_ago), long_ago + 1000)
    answer = text_event("Liên hệ", user_id="911", ts=long_ago + 2000)  # a contact-thread answer
    deliver(lambda_context, answer, at_ms=long_ago + 2000)
    follower_tip = _close(_open_tip(stack, lambda_context, "912", long_ago + 5), long_ago + 1000)
    deliver(
        lambda_context, zalo_body("follow", demo_oa(), user_id="912", ts=long_ago + 10), at_ms=long_ago + 10
    )
    recent = _close(_open_tip(stack, lambda_context, "913", long_ago + 20), long_ago + 1000)
    deliver(lambda_context, text_event("còn nữa", user_id="913", ts=now_ms()))  # wrote again today
    drain(stack, "RepliesQueue")
    assert _items(stack, f"CONTACT#{idle.pseudonym}")

    assert [i for i in _items(stack, f"CONTACT#{idle.pseudonym}") if i["sk"]["S"].startswith("MSG#")]
    following = table().get_contact(follower_tip.pseudonym)
    assert following is not None and following.follower, "the follow event was stored"

    swept = retention_sweeper.handler(load_event("schedule/daily.json"), lambda_context)
    assert swept == {"deleted": 3, "contacts_forgotten": 1}
    assert _items(stack, f"CONTACT#{idle.pseudonym}") == [], "the contact, its sealed Zalo id and answers"
    follower = table().get_contact(follower_tip.pseudonym)
    assert follower is not None and follower.follower, "a follower asked for advisories"
    assert table().get_contact(recent.pseudonym) is not None
