"""The officer API through its real handler, against moto provisioned from template.yaml.

Token checks (garbage, expired, signed by another key) are the JWT authorizer's job: API Gateway in
AWS, the local stack's HTTP front locally (tests/test_local_stack.py). Here the handler receives
claims exactly as API Gateway passes them, or none.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fixtures.officer import call, claims, open_tip
from fixtures.webhook import deliver, demo_oa, drain, items_with_prefix, now_ms, text_event
from tipline import clock, wiring
from tipline.adapters import aws
from tipline.domain import Contact, DeliveryStatus, QueuedReply, Tip
from tipline.errors import Conflict
from tipline.intake.pseudonym import short_pseudonym
from tipline.keys import META, contact_pk, tip_pk
from tipline_local.template import functions, load_template

pytestmark = pytest.mark.usefixtures("stack")

OWN = "pc02-hoan-kiem"  # the demo OA the webhook samples write to
OTHER = "pc08-traffic"


_tip = open_tip


def _audits(stack: Any) -> list[dict[str, Any]]:
    return items_with_prefix(stack, "AUDIT#", table="AuditTable")


WROTE_MS = 1_800_000_000_000  # 2027-01-15 08:00 UTC: when the citizen of the dated tests wrote


def _tip_written_at(stack: Any, context: Any, at_ms: int) -> str:
    with clock.use(lambda: at_ms / 1000):
        return _tip(stack, context)


def _change_contact(stack: Any, tip_id: str, operation: str, **params: Any) -> None:
    """A raw DynamoDB change of the tip's contact item, as a withdrawal or deletion leaves it."""
    tip = wiring.table().get_tip(tip_id)
    assert tip is not None
    getattr(aws.dynamodb(), operation)(
        TableName=stack.resolver.refs["TiplineTable"],
        Key={"pk": {"S": contact_pk(tip.pseudonym)}, "sk": {"S": META}},
        **params,
    )


def _routes(tip_id: str) -> list[tuple[str, str, dict[str, str] | None, dict[str, Any] | None]]:
    return [
        ("GET", f"/v1/tips/{tip_id}", {"reason": "xác minh"}, None),
        ("POST", f"/v1/tips/{tip_id}/replies", None, {"text": "Cảm ơn bạn, chúng tôi đang xác minh."}),
        ("PATCH", f"/v1/tips/{tip_id}", None, {"status": "in_progress"}),
        ("GET", f"/v1/tips/{tip_id}/attachments/MSG-0000000000001-x-0", {"reason": "xem"}, None),
        (
            "POST",
            f"/v1/tips/{tip_id}/transfer",
            None,
            {"unit_id": "province", "reason": "thuộc thẩm quyền tỉnh"},
        ),
    ]


@pytest.mark.parametrize("who", ["other unit", "no claims"])
def test_tip_routes_outside_scope_answer_404_and_without_identity_401(
    who: str, stack: Any, lambda_context: Any
) -> None:
    tip_id = _tip(stack, lambda_context)
    identity = None if who == "no claims" else claims(OTHER)
    expected = 401 if identity is None else 404
    for method, path, query, body in _routes(tip_id):
        status, answer = call(lambda_context, method, path, identity, query, body)
        assert status == expected, (method, path, answer)
    assert _audits(stack) == [], "nothing was read or changed"
    assert drain(stack, "RepliesQueue") == []


def test_an_access_token_is_refused_even_a_commanders(stack: Any, lambda_context: Any) -> None:
    """API Gateway's JWT authorizer accepts Cognito access tokens too (client_id instead of aud);
    the API takes ID tokens only, so a token minted for another purpose cannot stand in for one."""
    tip_id = _tip(stack, lambda_context)
    access = {**claims("province", "commander"), "token_use": "access", "client_id": "officer-app"}
    for method, path, query, body in [*_routes(tip_id), ("GET", "/v1/tips", None, None)]:
        status, answer = call(lambda_context, method, path, access, query, body)
        assert status == 401, (method, path, answer)
    assert _audits(stack) == []
    assert call(lambda_context, "GET", "/v1/tips", claims("province", "commander"))[0] == 200


def test_collection_routes_by_caller(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    for path in ("/v1/tips", "/v1/stats", "/v1/audit", "/v1/openapi.json"):
        assert call(lambda_context, "GET", path, None)[0] == 401, path
    own = call(lambda_context, "GET", "/v1/tips", claims(OWN))[1]
    assert [item["tip_id"] for item in own["items"]] == [tip_id]
    assert call(lambda_context, "GET", "/v1/tips", claims(OTHER))[1]["items"] == []
    assert call(lambda_context, "GET", "/v1/tips", claims(OTHER), {"unit": OWN})[0] == 404
    commander = call(lambda_context, "GET", "/v1/tips", claims("province", "commander"), {"unit": OWN})[1]
    assert [item["tip_id"] for item in commander["items"]] == [tip_id]
    assert call(lambda_context, "GET", "/v1/stats", claims(OTHER))[1] == []
    assert call(lambda_context, "GET", "/v1/stats", claims(OWN))[1][0]["by_status"] == {"new": 1}
    assert call(lambda_context, "GET", "/v1/audit", claims(OWN), {"tip_id": tip_id})[0] == 404
    assert (
        call(lambda_context, "GET", "/v1/audit", claims("province", "commander"), {"tip_id": tip_id})[0]
        == 200
    )
    assert call(lambda_context, "GET", "/v1/openapi.json", claims(OWN))[1]["paths"]


@pytest.mark.parametrize("role", ["officer", "commander"])
def test_own_unit_and_commander_can_work_a_tip(role: str, stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    who = claims(OWN) if role == "officer" else claims("province", "commander")
    status, detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", who, {"reason": "xác minh"})
    assert status == 200
    assert detail["messages"][0]["text"] == "có người lừa đảo"
    assert detail["citizen"].startswith("C-")
    assert "246845883529197922" not in str(detail), "officers never see the Zalo id"
    status, queued = call(
        lambda_context, "POST", f"/v1/tips/{tip_id}/replies", who, body={"text": "Đã nhận."}
    )
    assert status == 202
    (reply,) = [QueuedReply.model_validate_json(m["Body"]) for m in drain(stack, "RepliesQueue")]
    assert reply.tip_id == tip_id
    assert reply.reply_id == queued["reply_id"]
    status, summary = call(lambda_context, "PATCH", f"/v1/tips/{tip_id}", who, body={"status": "resolved"})
    assert status == 200, summary
    assert summary["status"] == "resolved"


def _kms_calls() -> list[str]:
    seen: list[str] = []
    aws.kms().meta.events.register("before-call.kms.*", lambda model, **_: seen.append(model.name))
    return seen


def test_reading_audits_exactly_once_and_listing_never_decrypts(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    calls = _kms_calls()
    for _ in range(3):
        assert call(lambda_context, "GET", "/v1/tips", claims(OWN))[0] == 200
    assert call(lambda_context, "GET", "/v1/stats", claims(OWN))[0] == 200
    assert calls == [], "listing and stats call KMS zero times"
    assert _audits(stack) == []
    call(
        lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN, subject="officer-9"), {"reason": "xác minh"}
    )
    assert "Decrypt" in calls
    (audit,) = _audits(stack)
    assert audit["actor"]["S"] == "officer-9"
    assert audit["action"]["S"] == "read"
    assert audit["reason"]["S"] == "xác minh"
    call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "lần hai"})
    assert len(_audits(stack)) == 2


def test_a_read_without_a_reason_is_422_and_not_audited(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    status, answer = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN))
    assert status == 422
    assert "reason" in str(answer)
    assert _audits(stack) == []


def test_invalid_input_names_the_field(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    status, answer = call(
        lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": ""}
    )
    assert status == 422
    assert "text" in str(answer)
    status, _ = call(lambda_context, "PATCH", f"/v1/tips/{tip_id}", claims(OWN), body={"status": "closed"})
    assert status == 422


def test_replies_outside_zalos_window_are_refused_at_once(stack: Any, lambda_context: Any) -> None:
    old = now_ms() - 8 * 24 * 3600 * 1000
    deliver(lambda_context, text_event("tin cũ", user_id="91", ts=old), at_ms=old)
    drain(stack, "RepliesQueue")
    tip_id = items_with_prefix(stack, "TIP#", "META")[0]["tip_id"]["S"]
    status, answer = call(
        lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Chào"}
    )
    assert status == 409
    assert "7 days" in answer["message"]
    assert drain(stack, "RepliesQueue") == []


HOUR_MS = 3600 * 1000
WEEK_MS = 7 * 24 * HOUR_MS


@pytest.mark.parametrize(
    ("age_ms", "expected"), [(WEEK_MS - HOUR_MS, 202), (WEEK_MS, 202), (WEEK_MS + 1, 409)]
)
def test_replies_at_the_edge_of_zalos_window(
    stack: Any, lambda_context: Any, age_ms: int, expected: int
) -> None:
    """6 days 23 h after the citizen wrote an officer may still reply; 7 days and 1 ms after, not."""
    wrote_ms = now_ms()
    with clock.use(lambda: (wrote_ms + 0.5) / 1000):  # half a ms: no float rounding down
        deliver(lambda_context, text_event("tin báo", user_id="92"))
    drain(stack, "RepliesQueue")
    tip_id = items_with_prefix(stack, "TIP#", "META")[0]["tip_id"]["S"]
    with clock.use(lambda: (wrote_ms + age_ms + 0.5) / 1000):
        status, answer = call(
            lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Chào"}
        )
    assert status == expected, answer
    assert len(drain(stack, "RepliesQueue")) == int(expected == 202)


def test_status_transitions_are_checked(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    path = f"/v1/tips/{tip_id}"
    assert call(lambda_context, "PATCH", path, claims(OWN), body={"status": "resolved"})[0] == 409
    assert call(lambda_context, "PATCH", path, claims(OWN), body={"status": "in_progress"})[0] == 200
    assert call(lambda_context, "PATCH", path, claims(OWN), body={"status": "resolved"})[0] == 200
    assert call(lambda_context, "PATCH", path, claims(OWN), body={"legal_hold": True})[0] == 409, (
        "command only"
    )
    assert call(lambda_context, "PATCH", path, claims("p", "commander"), body={"legal_hold": True})[0] == 200


def test_notes_are_sealed_and_shown_in_the_thread(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    note = "Nghi vấn đường dây lừa đảo NOTE-CANARY-7"
    status, _ = call(
        lambda_context, "PATCH", f"/v1/tips/{tip_id}", claims(OWN), body={"note": note, "labels": ["lừa đảo"]}
    )
    assert status == 200
    stored = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "internal"]
    assert len(stored) == 1
    assert "NOTE-CANARY-7" not in str(stored)
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem ghi chú"})[1]
    assert [m["text"] for m in detail["messages"] if m["direction"] == "internal"] == [note]
    assert detail["labels"] == ["lừa đảo"]


def test_transfer_moves_the_tip_and_both_units_audit_show_it(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    status, moved = call(
        lambda_context,
        "POST",
        f"/v1/tips/{tip_id}/transfer",
        claims(OWN),
        body={"unit_id": OTHER, "reason": "CSGT"},
    )
    assert status == 200
    assert moved["unit_id"] == OTHER
    assert call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "x y z"})[0] == 404
    assert call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OTHER), {"reason": "x y z"})[0] == 200
    commander = claims("province", "commander")
    for unit in (OWN, OTHER):
        trail = call(lambda_context, "GET", "/v1/audit", commander, {"unit": unit})[1]
        assert any(r["action"] == "transfer" and r["tip_id"] == tip_id for r in trail), unit
    status, _ = call(
        lambda_context,
        "POST",
        f"/v1/tips/{tip_id}/transfer",
        claims(OTHER),
        body={"unit_id": "nowhere", "reason": "abc"},
    )
    assert status == 409


def test_a_blocked_citizen_is_still_heard_but_not_answered(stack: Any, lambda_context: Any) -> None:
    _tip(stack, lambda_context, user_id="555")
    citizen = call(lambda_context, "GET", "/v1/tips", claims(OWN))[1]["items"][0]["citizen"]
    assert (
        call(lambda_context, "POST", "/v1/contacts/C-AAAAAAAA/block", claims(OWN), body={"reason": "spam"})[0]
        == 404
    )
    assert (
        call(lambda_context, "POST", f"/v1/contacts/{citizen}/block", claims(OTHER), body={"reason": "spam"})[
            0
        ]
        == 404
    )
    status, _ = call(
        lambda_context, "POST", f"/v1/contacts/{citizen}/block", claims(OWN), body={"reason": "spam"}
    )
    assert status == 200
    deliver(lambda_context, text_event("spam spam", user_id="555", ts=now_ms() + 100))
    inbound = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    assert len(inbound) == 2, "stored, never hidden (tests/test_blocks.py: grouped, urgent ones alert)"
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1, "grouped into the open tip"
    assert drain(stack, "RepliesQueue") == []
    tip_id = call(lambda_context, "GET", "/v1/tips", claims(OWN))[1]["items"][0]["tip_id"]
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})[1]
    shown = [(m["text"], m["grouped"]) for m in detail["messages"] if m["direction"] == "in"]
    assert shown == [("có người lừa đảo", False), ("spam spam", True)], "the console marks what was grouped"


def test_pages_follow_a_signed_cursor(stack: Any, lambda_context: Any) -> None:
    for index in range(5):
        deliver(lambda_context, text_event(f"tin {index}", user_id=str(100 + index), ts=now_ms() + index))
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    while True:
        page = call(lambda_context, "GET", "/v1/tips", claims(OWN), query)[1]
        seen += [item["tip_id"] for item in page["items"]]
        if not page["next"]:
            break
        query = {"limit": "2", "cursor": page["next"]}
    assert len(seen) == len(set(seen)) == 5
    first = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"limit": "2"})[1]["next"]
    tampered = first[:-3] + ("aaa" if not first.endswith("aaa") else "bbb")
    assert call(lambda_context, "GET", "/v1/tips", claims(OWN), {"cursor": tampered})[0] == 422


def test_cursors_are_signed_with_their_own_secret_never_the_pepper(stack: Any, lambda_context: Any) -> None:
    """The function that faces officers holds no pepper (it would link Zalo ids to pseudonyms): a
    cursor signed with the pepper is refused, one signed with the cursor secret is followed."""
    from tipline.console.listing import decode_cursor, encode_cursor

    for index in range(3):
        deliver(lambda_context, text_event(f"tin {index}", user_id=str(300 + index), ts=now_ms() + index))
    issued = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"limit": "1"})[1]["next"]
    key = decode_cursor(wiring.cursor_key(), issued)
    assert wiring.cursor_key() != wiring.pepper()
    with_pepper = encode_cursor(wiring.pepper(), key)
    assert call(lambda_context, "GET", "/v1/tips", claims(OWN), {"cursor": with_pepper})[0] == 422
    assert call(lambda_context, "GET", "/v1/tips", claims(OWN), {"cursor": issued})[0] == 200


def test_filtered_pages_lose_no_tip(stack: Any, lambda_context: Any) -> None:
    """A filter that matches unevenly across DynamoDB pages must not skip the tips between pages."""
    for index in range(5):
        deliver(lambda_context, text_event(f"tin {index}", user_id=str(200 + index), ts=now_ms() + index))
    listed = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"limit": "5"})[1]["items"]
    tips = [item["tip_id"] for item in listed]  # newest activity first
    wanted = [tips[0], tips[2], tips[3]]
    for tip_id in wanted:
        body = {"status": "in_progress"}
        assert call(lambda_context, "PATCH", f"/v1/tips/{tip_id}", claims(OWN), body=body)[0] == 200
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2", "status": "in_progress"}
    for _ in range(10):
        page = call(lambda_context, "GET", "/v1/tips", claims(OWN), query)[1]
        assert len(page["items"]) <= 2
        seen += [item["tip_id"] for item in page["items"]]
        if not page["next"]:
            break
        query = {**query, "cursor": page["next"]}
    assert seen == wanted


def test_since_takes_an_iso_time_with_a_zone(stack: Any, lambda_context: Any) -> None:
    hour = 3600 * 1000
    deliver(lambda_context, text_event("tin cũ", user_id="301", ts=now_ms() - 3 * hour))
    deliver(lambda_context, text_event("tin mới", user_id="302", ts=now_ms()))
    cutoff = datetime.fromtimestamp((now_ms() - hour) / 1000, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    for since in (cutoff.isoformat(), str(int(cutoff.timestamp() * 1000))):
        status, page = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"since": since})
        assert status == 200, page
        assert len(page["items"]) == 1, since
        assert datetime.fromisoformat(page["items"][0]["last_activity_at"]) >= cutoff
    status, answer = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"since": "2026-11-28T10:00:00"})
    assert status == 422, "a time without a zone is ambiguous"
    assert "since" in str(answer)


def test_the_openapi_document_describes_every_route_and_the_bearer_scheme(
    stack: Any, lambda_context: Any
) -> None:
    status, document = call(lambda_context, "GET", "/v1/openapi.json", claims(OWN))
    assert status == 200
    routes = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    events = functions(load_template())["OfficerApiFunction"]["Events"].values()
    assert routes == {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events}
    assert document["components"]["securitySchemes"]["OfficerJwt"]["scheme"] == "bearer"
    assert document["security"] == [{"OfficerJwt": []}]


def test_a_transfer_that_lost_a_race_is_a_conflict(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    stale = wiring.table().get_tip(tip_id)
    assert stale is not None
    body = {"unit_id": OTHER, "reason": "CSGT"}
    assert call(lambda_context, "POST", f"/v1/tips/{tip_id}/transfer", claims(OWN), body=body)[0] == 200
    with pytest.raises(Conflict):  # the second mover read the tip before the first one moved it
        wiring.table().update_tip(stale, {"unit_id": "province"}, expected_unit=stale.unit_id)
    moved = wiring.table().get_tip(tip_id)
    assert moved is not None and moved.unit_id == OTHER


def test_a_short_name_two_citizens_share_needs_the_tip_to_block_the_right_one(
    stack: Any, lambda_context: Any
) -> None:
    table, oa = wiring.table(), demo_oa()
    twins = ["ab12cd34ef" + "0" * 54, "ab12cd34ef" + "1" * 54]  # same first 40 bits
    for index, pseudonym in enumerate(twins):
        table.create_contact(Contact(pseudonym=pseudonym, oa_id=oa.oa_id, unit_id=OWN))
        tip = Tip(
            tip_id=f"twin{index}",
            code=f"TWIN{index}",
            oa_id=oa.oa_id,
            unit_id=OWN,
            pseudonym=pseudonym,
            created_at_ms=now_ms(),
            last_activity_ms=now_ms(),
        )
        assert table.put_tip_if_absent(tip)
    citizen = short_pseudonym(twins[0])
    assert citizen == short_pseudonym(twins[1])
    path = f"/v1/contacts/{citizen}/block"
    status, answer = call(lambda_context, "POST", path, claims(OWN), body={"reason": "spam"})
    assert status == 409
    assert "tip_id" in answer["message"]
    body = {"reason": "spam", "tip_id": "twin1"}
    assert call(lambda_context, "POST", path, claims(OTHER), body=body)[0] == 404
    assert call(lambda_context, "POST", "/v1/contacts/C-AAAAAAAA/block", claims(OWN), body=body)[0] == 404
    assert call(lambda_context, "POST", path, claims(OWN), body=body)[0] == 200
    blocked = [table.get_contact(p) for p in twins]
    assert [c.officer_block is not None for c in blocked if c is not None] == [False, True]


def test_concurrent_replies_are_all_counted_and_the_first_sets_the_wait(
    stack: Any, lambda_context: Any
) -> None:
    tip_id = _tip(stack, lambda_context)
    path = f"/v1/tips/{tip_id}/replies"

    def answer(index: int) -> int:
        who = claims(OWN, subject=f"officer-{index}")
        return call(lambda_context, "POST", path, who, body={"text": f"Trả lời {index}"})[0]

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(answer, range(6))) == [202] * 6
    tip = wiring.table().get_tip(tip_id)
    assert tip is not None
    assert (tip.reply_count, tip.status) == (6, "in_progress")
    entries = items_with_prefix(stack, f"TIP#{tip_id}", "MSG#")
    replies = [e for e in entries if e["kind"]["S"] == "officer_reply"]
    # The first reply counted sets the wait, with its own time; threads may stamp and count in
    # different orders, so it is one of the six times, not necessarily the smallest.
    assert tip.first_reply_ms in {int(e["at_ms"]["N"]) for e in replies}
    assert len(replies) == 6
    assert len(drain(stack, "RepliesQueue")) == 6


def test_each_refusal_says_why_and_changes_nothing(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    path = f"/v1/tips/{tip_id}"
    refusals = [
        (
            "PATCH",
            path,
            claims(OWN),
            {"status": "resolved"},
            "a new tip can move to: in_progress, rejected, spam",
        ),
        (
            "PATCH",
            path,
            claims(OWN),
            {"legal_hold": True},
            "only the provincial command can place or lift a legal hold",
        ),
        (
            "POST",
            f"{path}/transfer",
            claims(OWN),
            {"unit_id": "nowhere", "reason": "abc"},
            "unknown unit nowhere",
        ),
        (
            "POST",
            f"{path}/transfer",
            claims(OWN),
            {"unit_id": OWN, "reason": "abc"},
            "the tip already belongs to that unit",
        ),
    ]
    before = wiring.table().get_tip(tip_id)
    for method, route, who, body, reason in refusals:
        assert call(lambda_context, method, route, who, body=body) == (409, {"message": reason})
    assert wiring.table().get_tip(tip_id) == before


def test_closing_a_tip_stamps_when_and_reopening_clears_it(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    path = f"/v1/tips/{tip_id}"

    def closed_at() -> int | None:
        tip = wiring.table().get_tip(tip_id)
        assert tip is not None
        return tip.closed_at_ms

    assert call(lambda_context, "PATCH", path, claims(OWN), body={"status": "in_progress"})[0] == 200
    assert closed_at() is None
    before = clock.now_ms()
    assert call(lambda_context, "PATCH", path, claims(OWN), body={"status": "resolved"})[0] == 200
    stamped = closed_at()
    assert stamped is not None and before <= stamped <= clock.now_ms()
    assert call(lambda_context, "PATCH", path, claims(OWN), body={"status": "in_progress"})[0] == 200
    assert closed_at() is None


def test_notes_name_their_author_and_two_at_the_same_moment_are_both_kept(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tip_id = _tip(stack, lambda_context)
    monkeypatch.setattr(clock, "now_ms", lambda: 1_900_000_000_000)  # both notes in the same millisecond
    for n in (1, 2):
        body = {"note": f"ghi chú {n}"}
        assert (
            call(lambda_context, "PATCH", f"/v1/tips/{tip_id}", claims(OWN, subject="officer-9"), body=body)[
                0
            ]
            == 200
        )
    monkeypatch.undo()
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem ghi chú"})[1]
    notes = [(m["kind"], m["text"], m["author"]) for m in detail["messages"] if m["direction"] == "internal"]
    assert sorted(notes) == [("note", "ghi chú 1", "officer-9"), ("note", "ghi chú 2", "officer-9")]


def test_a_transfer_records_both_units_in_each_trail(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    body = {"unit_id": OTHER, "reason": "CSGT"}
    assert call(lambda_context, "POST", f"/v1/tips/{tip_id}/transfer", claims(OWN), body=body)[0] == 200
    moves = [r for r in _audits(stack) if r["action"]["S"] == "transfer" and r["tip_id"]["S"] == tip_id]
    assert sorted(r["unit_id"]["S"] for r in moves) == sorted([OWN, OTHER])
    for record in moves:
        details = {k: v["S"] for k, v in record["details"]["M"].items()}
        assert details == {"from_unit": OWN, "to_unit": OTHER}


def test_a_transfer_racing_another_move_is_a_conflict_and_the_other_move_stands(
    stack: Any, lambda_context: Any
) -> None:
    """Another officer moves the tip between this transfer's read and its write."""
    tip_id = _tip(stack, lambda_context)
    dynamodb = aws.dynamodb()
    raced: list[str] = []

    def move_first(params: dict[str, Any], **_: Any) -> None:
        if not raced and "unit_id" in str(params.get("ExpressionAttributeNames", {})):
            raced.append(tip_id)
            stale = wiring.table().get_tip(tip_id)
            assert stale is not None
            wiring.table().update_tip(stale, {"unit_id": "province"}, expected_unit=stale.unit_id)

    dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", move_first, unique_id="race")
    try:
        body = {"unit_id": OTHER, "reason": "CSGT"}
        status, answer = call(lambda_context, "POST", f"/v1/tips/{tip_id}/transfer", claims(OWN), body=body)
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", unique_id="race")
    assert raced, "the competing move happened"
    assert (status, answer) == (409, {"message": "the tip was deleted or moved to another unit meanwhile"})
    moved = wiring.table().get_tip(tip_id)
    assert moved is not None and moved.unit_id == "province"


def test_triage_sets_and_clears_each_field_and_audits_what_changed(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    path = f"/v1/tips/{tip_id}"
    officer, commander = claims(OWN, subject="officer-3"), claims("province", "commander", subject="cmd-1")

    def tip() -> Tip:
        found = wiring.table().get_tip(tip_id)
        assert found is not None
        return found

    body = {"status": "in_progress", "assignee": "officer-3", "labels": ["lừa đảo", "lừa đảo", "mạng"]}
    status, summary = call(lambda_context, "PATCH", path, officer, body=body)
    assert status == 200 and (summary["status"], summary["assignee"]) == ("in_progress", "officer-3")
    assert (tip().assignee, tip().labels) == ("officer-3", ["lừa đảo", "mạng"])
    [record] = [r for r in _audits(stack) if r["action"]["S"] == "triage"]
    assert (record["actor"]["S"], record["reason"]["S"]) == ("officer-3", "triage")
    assert {k: v["S"] for k, v in record["details"]["M"].items()} == {
        "status": "in_progress",
        "assignee": "officer-3",
        "labels": "['lừa đảo', 'mạng']",
    }
    assert call(lambda_context, "PATCH", path, officer, body={"assignee": ""})[0] == 200
    assert tip().assignee is None, '"" unassigns'

    # Resolving sets the retention; a legal hold keeps the tip; lifting the hold restores it.
    assert call(lambda_context, "PATCH", path, officer, body={"status": "resolved"})[0] == 200
    assert tip().expires_at is not None
    assert call(lambda_context, "PATCH", path, commander, body={"legal_hold": True})[0] == 200
    assert (tip().legal_hold, tip().expires_at) == (True, None)
    holds = [r for r in _audits(stack) if r["action"]["S"] == "triage" and "legal_hold" in r["details"]["M"]]
    assert [r["actor"]["S"] for r in holds] == ["cmd-1"], "the commander is named by their subject"
    assert call(lambda_context, "PATCH", path, commander, body={"legal_hold": False})[0] == 200
    assert tip().legal_hold is False and tip().expires_at is not None


@pytest.mark.parametrize(
    ("contact_change", "reason"),
    [
        ("REMOVE user_id_sealed", "the citizen withdrew their data; they can no longer be contacted"),
        ("SET anonymous = :yes", "the citizen wrote anonymously; Zalo does not let the OA answer them"),
    ],
)
def test_a_reply_to_a_citizen_who_cannot_be_answered_is_refused_saying_why(
    stack: Any, lambda_context: Any, contact_change: str, reason: str
) -> None:
    tip_id = _tip(stack, lambda_context)
    values = {":yes": {"BOOL": True}} if ":yes" in contact_change else {}
    _change_contact(
        stack,
        tip_id,
        "update_item",
        UpdateExpression=contact_change,
        **({"ExpressionAttributeValues": values} if values else {}),
    )
    answer = call(lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Chào"})
    assert answer == (409, {"message": reason})
    assert drain(stack, "RepliesQueue") == []
    assert not [r for r in _audits(stack) if r["action"]["S"] == "reply"]


def test_a_reply_outside_the_window_names_the_last_interaction_and_a_sent_one_is_audited_by_id(
    stack: Any, lambda_context: Any
) -> None:
    wrote_ms = WROTE_MS
    tip_id = _tip_written_at(stack, lambda_context, wrote_ms)
    with clock.use(lambda: (wrote_ms + HOUR_MS) / 1000):
        status, queued = call(
            lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Chào"}
        )
    assert status == 202
    [record] = [r for r in _audits(stack) if r["action"]["S"] == "reply"]
    assert {k: v["S"] for k, v in record["details"]["M"].items()} == {"reply_id": queued["reply_id"]}
    with clock.use(lambda: (wrote_ms + 8 * 24 * HOUR_MS) / 1000):
        answer = call(
            lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Chào"}
        )
    assert answer == (
        409,
        {
            "message": "Zalo allows replies only within 7 days of the citizen's last message or follow; "
            "the last interaction was 2027-01-15T08:00:00+00:00"
        },
    )


def test_a_tip_shows_an_officers_block_and_still_reads_when_its_contact_is_gone(
    stack: Any, lambda_context: Any
) -> None:
    tip_id = _tip(stack, lambda_context)
    citizen = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})[1]["citizen"]
    status, block = call(
        lambda_context, "POST", f"/v1/contacts/{citizen}/block", claims(OWN), body={"reason": "tin rác"}
    )
    assert status == 200, block
    sender = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})[1]["sender"]
    assert sender == {"citizen": citizen, "blocked_the_oa": False, "block": block}
    _change_contact(stack, tip_id, "delete_item")
    status, detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})
    assert status == 200 and detail["sender"] == {"citizen": citizen, "blocked_the_oa": False, "block": None}


def test_a_tips_detail_carries_what_the_console_shows_of_each_message_and_of_the_window(
    stack: Any, lambda_context: Any
) -> None:
    wrote_ms = WROTE_MS
    tip_id = _tip_written_at(stack, lambda_context, wrote_ms)
    officer, commander = claims(OWN, subject="officer-4"), claims("province", "commander")
    with clock.use(lambda: (wrote_ms + HOUR_MS) / 1000):
        body = {"text": "Chúng tôi đang xác minh."}
        assert call(lambda_context, "POST", f"/v1/tips/{tip_id}/replies", officer, body=body)[0] == 202
        assert (
            call(lambda_context, "PATCH", f"/v1/tips/{tip_id}", commander, body={"legal_hold": True})[0]
            == 200
        )
    officer_reply = next(e for e in wiring.table().thread(tip_pk(tip_id)) if e.kind == "officer_reply")
    wiring.table().set_delivery(tip_pk(tip_id), officer_reply.entry_key, DeliveryStatus.FAILED, reason="thử")

    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})[1]
    assert (detail["legal_hold"], detail["reply_refused"]) == (True, None)
    assert detail["reply_until"] == "2027-01-22T08:00:00+00:00", "7 days after the citizen wrote"
    inbound = next(m for m in detail["messages"] if m["direction"] == "in")
    assert (inbound["at"], inbound["text"], inbound["delivery"], inbound["author"]) == (
        "2027-01-15T08:00:00+00:00",
        "có người lừa đảo",
        None,
        None,
    )
    reply = next(m for m in detail["messages"] if m["kind"] == "officer_reply")
    assert (reply["at"], reply["author"], reply["delivery"], reply["reason"]) == (
        "2027-01-15T09:00:00+00:00",
        "officer-4",
        "failed",
        "thử",
    )

    _change_contact(stack, tip_id, "update_item", UpdateExpression="REMOVE user_id_sealed")
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})[1]
    assert (detail["reply_refused"], detail["reply_until"]) == ("withdrawn", None)


def test_an_officer_reply_is_queued_with_its_text_and_audited_as_an_officer_reply(
    stack: Any, lambda_context: Any
) -> None:
    tip_id = _tip(stack, lambda_context)
    drain(stack, "RepliesQueue")
    status, queued = call(
        lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Cảm ơn anh/chị"}
    )
    assert status == 202
    [entry] = [e for e in wiring.table().thread(tip_pk(tip_id)) if e.kind == "officer_reply"]
    assert queued == {"reply_id": queued["reply_id"], "entry": entry.entry_key, "status": "queued"}
    [message] = drain(stack, "RepliesQueue")
    assert QueuedReply.model_validate_json(message["Body"]).reply_id == queued["reply_id"]
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xem"})[1]
    assert [m["text"] for m in detail["messages"] if m["kind"] == "officer_reply"] == ["Cảm ơn anh/chị"]
    [record] = [r for r in _audits(stack) if r["action"]["S"] == "reply"]
    assert record["reason"]["S"] == "officer reply"
