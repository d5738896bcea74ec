"""Webhook intake through the real handler, against moto provisioned from template.yaml."""

from __future__ import annotations

import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fixtures.events import EVENTS, load_event
from fixtures.webhook import (
    SAMPLES_RECEIVED_MS,
    Fault,
    deliver,
    demo_oa,
    drain,
    encode,
    items_with_prefix,
    now_ms,
    received_at,
    run_spill_consumer,
    subscribe_to_urgent,
    table_items,
    text_event,
    urgent_alerts,
)
from tipline.adapters import aws
from tipline.domain import QueuedReply
from tipline.intake import tipcode
from tipline.intake.signature import expected_signature, header_value
from tipline.wiring import table
from tipline_local.samples import SAMPLE_EVENTS, zalo_body

pytestmark = pytest.mark.usefixtures("stack")


def _status(response: dict[str, Any]) -> int:
    return int(response["statusCode"])


def _acks(stack: Any) -> list[QueuedReply]:
    return [QueuedReply.model_validate_json(m["Body"]) for m in drain(stack, "RepliesQueue")]


# -- every event type ----------------------------------------------------------------------------
MESSAGE_EVENTS = [n for n in SAMPLE_EVENTS if "_send_" in n and not n.startswith("oa_")]


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_every_sample_event_is_answered_200(name: str, stack: Any, lambda_context: Any) -> None:
    response = webhook_handler(load_event(f"webhook/{name}.json"), lambda_context)
    assert _status(response) == 200, response["body"]
    assert not drain(stack, "IntakeSpillQueue"), "nothing should need the spill path"


def webhook_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A sample from events/, received shortly after it was stamped."""
    from tipline.handlers import webhook

    with received_at(SAMPLES_RECEIVED_MS):
        return webhook.handler(event, context)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", [n for n in MESSAGE_EVENTS if n.startswith("user_")])
def test_a_citizen_message_opens_a_tip_and_queues_one_ack(name: str, stack: Any, lambda_context: Any) -> None:
    webhook_handler(load_event(f"webhook/{name}.json"), lambda_context)
    tips = items_with_prefix(stack, "TIP#", "META")
    assert len(tips) == 1
    entries = items_with_prefix(stack, "TIP#", "MSG#")
    inbound = [e for e in entries if e["direction"]["S"] == "in"]
    assert len(inbound) == 1
    assert inbound[0]["kind"]["S"] == name
    assert "B" in inbound[0]["sealed"], "the message content is stored sealed"
    acks = _acks(stack)
    assert len(acks) == 1
    assert acks[0].tip_id == tips[0]["tip_id"]["S"]


def test_anonymous_message_is_kept_without_an_ack(stack: Any, lambda_context: Any) -> None:
    webhook_handler(load_event("webhook/anonymous_send_text.json"), lambda_context)
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    assert _acks(stack) == []


def test_follow_and_unfollow_set_the_follower_flag(stack: Any, lambda_context: Any) -> None:
    oa = demo_oa()
    deliver(lambda_context, zalo_body("follow", oa, ts=now_ms()))
    contact = items_with_prefix(stack, "CONTACT#", "META")[0]
    assert contact["follower"]["BOOL"] is True
    deliver(lambda_context, zalo_body("unfollow", oa, ts=now_ms() + 1))
    contact = items_with_prefix(stack, "CONTACT#", "META")[0]
    assert contact["follower"]["BOOL"] is False
    assert not items_with_prefix(stack, "TIP#")


def test_oa_echoes_and_unknown_events_are_ignored(stack: Any, lambda_context: Any) -> None:
    before = len(table_items(stack))
    assert _status(webhook_handler(load_event("webhook/oa_send_text.json"), lambda_context)) == 200
    unknown = {**zalo_body("user_send_text", demo_oa(), ts=now_ms()), "event_name": "user_did_something_new"}
    response = deliver(lambda_context, unknown)
    assert _status(response) == 200
    assert json.loads(response["body"])["status"] == "ignored"
    assert len(table_items(stack)) == before


@pytest.mark.parametrize("probe", [b"", b"{}"])
def test_registration_probe_gets_200_and_changes_nothing(
    probe: bytes, stack: Any, lambda_context: Any
) -> None:
    before = len(table_items(stack))
    assert _status(deliver(lambda_context, probe, signature=None)) == 200
    event = load_event("webhook/user_send_text.json")
    event["requestContext"]["http"]["method"] = "GET"
    event["body"] = ""
    assert _status(webhook_handler(event, lambda_context)) == 200
    assert len(table_items(stack)) == before


# -- rejections ----------------------------------------------------------------------------------
def _signed_for(body: bytes, key: str, oa_index: int = 1) -> str:
    oa = demo_oa(oa_index)
    return header_value(oa.app_id, body, json.loads(body)["timestamp"], key)


def _rejections() -> dict[str, tuple[bytes, str | None, int]]:
    oa = demo_oa()
    body = encode(text_event("một tin báo"))
    good = header_value(oa.app_id, body, json.loads(body)["timestamp"], oa.oa_secret_key)
    reserialised = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
    one_byte = body.replace(b"tin", b"tun")
    assert one_byte != body and len(one_byte) == len(body)
    unknown_oa = encode({**json.loads(body), "recipient": {"id": "999999999999"}})
    wrong_types = encode({**json.loads(body), "message": {"msg_id": {"x": 1}, "text": ["a"]}})
    return {
        "no header": (body, None, 401),
        "wrong key": (body, _signed_for(body, "not-the-oa-secret"), 401),
        "body changed by one byte": (one_byte, good, 401),
        "json re-serialised": (reserialised, good, 401),
        "unknown OA": (unknown_oa, header_value(oa.app_id, unknown_oa, "1", oa.oa_secret_key), 401),
        "oversized": (body + b" " * (64 * 1024), good, 413),
        "malformed json": (b'{"app_id": "360846524940903967", "timestamp": ', good, 400),
        "not an object": (b"[1, 2, 3]", good, 400),
        "wrong types": (wrong_types, _signed_for(wrong_types, oa.oa_secret_key), 400),
    }


@pytest.mark.parametrize("case", list(_rejections()))
def test_each_rejection_stores_and_queues_nothing(case: str, stack: Any, lambda_context: Any) -> None:
    body, signature, status = _rejections()[case]
    before = len(table_items(stack))
    response = deliver(lambda_context, body, signature=signature)
    assert _status(response) == status, response["body"]
    assert json.loads(response["body"])["error"]
    assert len(table_items(stack)) == before
    assert drain(stack, "RepliesQueue") == []
    assert drain(stack, "IntakeSpillQueue") == []


def test_schema_errors_name_fields_but_never_echo_values(stack: Any, lambda_context: Any) -> None:
    oa = demo_oa()
    body = encode({**text_event("x"), "message": {"msg_id": "m1", "text": {"canary": "GHOST-VALUE-42"}}})
    response = deliver(
        lambda_context,
        body,
        signature=header_value(oa.app_id, body, json.loads(body)["timestamp"], oa.oa_secret_key),
    )
    assert _status(response) == 400
    answer = json.loads(response["body"])
    assert any("message" in field for field in answer["fields"])
    assert "GHOST-VALUE-42" not in response["body"]


def test_bare_hex_signature_and_base64_body_are_accepted(stack: Any, lambda_context: Any) -> None:
    oa = demo_oa()
    body = encode(text_event("báo tin có trộm"))
    bare = expected_signature(oa.app_id, body, json.loads(body)["timestamp"], oa.oa_secret_key)
    assert _status(deliver(lambda_context, body, signature=bare, base64_body=True)) == 200
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1


# -- deduplication -------------------------------------------------------------------------------
def _outcomes(logs: io.StringIO) -> list[str]:
    """The intake's outcome of each accepted event, from the structured log lines."""
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    return [line["outcome"] for line in lines if line.get("message") == "event accepted"]


def test_a_redelivered_event_is_stored_once(
    stack: Any, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    body = text_event("lừa đảo qua điện thoại", msg_id="dup-1")
    for _ in range(3):
        assert _status(deliver(lambda_context, body)) == 200
    assert _outcomes(captured_logs) == ["tip_opened", "duplicate", "duplicate"]
    assert len(items_with_prefix(stack, "TIP#", "MSG#")) == 2  # the message and its ack
    assert len(_acks(stack)) == 1


def test_a_follow_up_is_reported_as_updating_its_tip_and_receipts_mark_the_reply(
    stack: Any, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    """Zalo's receipts name its own message id: the pointer the sender left leads to the reply, which
    is marked delivered, then seen."""
    from tipline.domain import DeliveryStatus
    from tipline.keys import thread_pk

    oa = demo_oa()
    for index in range(2):
        assert _status(deliver(lambda_context, text_event(f"tin số {index}", msg_id=f"up-{index}"))) == 200
    assert _outcomes(captured_logs) == ["tip_opened", "tip_updated"]
    [reply] = _acks(stack)
    pk = thread_pk(reply.tip_id, reply.pseudonym)
    table().remember_sent([(oa.oa_id, "zalo-msg-1", pk, reply.entry_key)])
    for name, status in (("user_received_message", "delivered"), ("user_seen_message", "seen")):
        body = zalo_body(name, oa, ts=now_ms())
        body["message"] = (
            {"msg_ids": ["zalo-msg-1"]} if name == "user_seen_message" else {"msg_id": "zalo-msg-1"}
        )
        assert _status(deliver(lambda_context, body)) == 200
        entry = table().get_entry(pk, reply.entry_key)
        assert entry is not None and entry.status == DeliveryStatus(status)


def test_events_alike_but_for_one_part_of_their_identity_are_each_applied(
    stack: Any, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    """An event's identity is its kind, its OA and its message id, or without one its citizen and
    time: events that share all but one of those are different events, none a duplicate."""
    first, second = demo_oa(0), demo_oa(1)
    at = now_ms() - 10_000
    bodies = [
        (zalo_body("follow", first, user_id="7100000000000000001", ts=at), first),
        (zalo_body("follow", first, user_id="7100000000000000002", ts=at), first),  # another citizen
        (zalo_body("unfollow", first, user_id="7100000000000000001", ts=at), first),  # another kind
        (zalo_body("follow", first, user_id="7100000000000000001", ts=at + 1), first),  # another time
        (zalo_body("follow", second, user_id="7100000000000000001", ts=at), second),  # another OA
        (text_event("tin báo", oa=first, msg_id="same-msg"), first),
        (text_event("tin báo", oa=second, msg_id="same-msg"), second),  # another OA
        (zalo_body("user_reacted_message", first, msg_id="same-msg", ts=now_ms()), first),  # a reaction to it
    ]
    for body, oa in bodies:
        assert _status(deliver(lambda_context, body, oa=oa)) == 200
    assert _outcomes(captured_logs) == ["contact_updated"] * 5 + ["tip_opened", "tip_opened", "ignored"]
    followers = [c for c in items_with_prefix(stack, "CONTACT#", "META") if c["follower"]["BOOL"]]
    assert len(followers) == 3, "the first citizen followed again after the unfollow, and the other OA"


def test_an_event_another_delivery_is_working_on_is_spilled_not_applied_twice(
    stack: Any, lambda_context: Any
) -> None:
    """A delivery that claimed the event failed before finishing it (or still works on it): Zalo's
    retry finds the claim and spills the event instead of applying it beside the first; the spill
    consumer completes it once."""
    body = text_event("có người lạ đột nhập", msg_id="in-flight-1")
    with Fault(aws.dynamodb(), "TransactWriteItems", "InternalServerError") as fault:
        assert _status(deliver(lambda_context, body)) == 200
    assert fault.hits == 1
    assert _status(deliver(lambda_context, body)) == 200
    assert items_with_prefix(stack, "TIP#") == [], "nothing applied while the first claim stands"
    assert run_spill_consumer(stack, lambda_context)["batchItemFailures"] == []
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    assert len(items_with_prefix(stack, "TIP#", "MSG#")) == 2  # the message and its ack
    assert len(_acks(stack)) == 1


def test_a_follow_applied_step_by_step_is_done_and_its_retry_is_a_duplicate(
    stack: Any, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    """A follow older than the citizen's last message cannot be applied in one write; applied step
    by step, its claim is still marked done, so Zalo's retry of it is a duplicate (not spilled)."""
    oa, user = demo_oa(), "7200000000000000001"
    assert _status(deliver(lambda_context, text_event("tin báo", user_id=user, ts=now_ms()))) == 200
    follow = zalo_body("follow", oa, user_id=user, ts=now_ms() - 5000)
    for _ in range(2):
        assert _status(deliver(lambda_context, follow)) == 200
    assert _outcomes(captured_logs) == ["tip_opened", "contact_updated", "duplicate"]
    assert drain(stack, "IntakeSpillQueue") == []


def test_a_redelivered_follow_after_the_unfollow_is_a_duplicate_and_changes_nothing(
    stack: Any, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    oa, user = demo_oa(), "246845883529197922"
    follow = zalo_body("follow", oa, user_id=user, ts=now_ms() - 2000)
    for body in (follow, zalo_body("unfollow", oa, user_id=user, ts=now_ms() - 1000), follow):
        assert _status(deliver(lambda_context, body)) == 200
    assert _outcomes(captured_logs) == ["contact_updated", "contact_updated", "duplicate"]
    [contact] = items_with_prefix(stack, "CONTACT#", "META")
    assert not contact["follower"]["BOOL"]


def test_fifty_concurrent_deliveries_give_one_message_and_one_ack(stack: Any, lambda_context: Any) -> None:
    body = text_event("có người đánh nhau trước cổng chợ", msg_id="burst-1")
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: _status(deliver(lambda_context, body)), range(50)))
    assert statuses == [200] * 50
    # Copies that found the event in progress were spilled; completing them must not double anything.
    result = run_spill_consumer(stack, lambda_context)
    assert result["batchItemFailures"] == []
    inbound = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    assert len(inbound) == 1
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    acks = _acks(stack)
    assert len({a.reply_id for a in acks}) == 1
    assert len(acks) == 1


# -- tips, codes and answers -----------------------------------------------------------------------
def _tip(stack: Any) -> dict[str, Any]:
    (tip,) = items_with_prefix(stack, "TIP#", "META")
    return tip


def test_follow_up_messages_join_the_open_tip_and_are_not_acked_again(
    stack: Any, lambda_context: Any
) -> None:
    start = now_ms()
    deliver(lambda_context, text_event("xe máy bị trộm", ts=start))
    deliver(lambda_context, text_event("biển số 29A-12345", ts=start + 1000))
    tip = _tip(stack)
    assert tip["message_count"]["N"] == "2"
    assert len(_acks(stack)) == 1


def test_follow_up_after_the_quiet_period_gets_a_short_ack(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipline.config import get_settings

    monkeypatch.setenv("ACK_QUIET_MINUTES", "0")
    get_settings.cache_clear()
    start = now_ms()
    deliver(lambda_context, text_event("xe máy bị trộm", ts=start))
    deliver(lambda_context, text_event("thêm thông tin", ts=start + 1000))
    assert len(_acks(stack)) == 2


def test_a_closed_join_window_opens_a_new_tip(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipline.config import get_settings

    monkeypatch.setenv("TIP_JOIN_HOURS", "0")
    get_settings.cache_clear()
    deliver(lambda_context, text_event("tin thứ nhất"))
    deliver(lambda_context, text_event("tin thứ hai", ts=now_ms() + 5))
    assert len(items_with_prefix(stack, "TIP#", "META")) == 2


def _reply_texts(stack: Any) -> list[str]:
    """Open the queued replies the way the sender will, to read what the citizen would get."""
    from tipline.adapters import envelope
    from tipline.config import get_settings
    from tipline.domain import sealing_context
    from tipline.keys import thread_pk

    texts = []
    for reply in _acks(stack):
        entry = table().get_entry(thread_pk(reply.tip_id, reply.pseudonym), reply.entry_key)
        assert entry is not None and entry.sealed is not None
        context = sealing_context(reply.oa_id, reply.tip_id, reply.pseudonym)
        texts.append(
            json.loads(envelope.open_sealed(get_settings().kms_key_id, entry.sealed, context))["text"]
        )
    return texts


def test_the_ack_names_the_tip_code_confidentiality_and_113(stack: Any, lambda_context: Any) -> None:
    deliver(lambda_context, text_event("báo tin"))
    code = tipcode.display(_tip(stack)["code"]["S"])
    (ack,) = _reply_texts(stack)
    assert code in ack
    assert "bí mật" in ack
    assert "113" in ack


def test_status_by_code_answers_the_owner_and_nobody_else(stack: Any, lambda_context: Any) -> None:
    deliver(lambda_context, text_event("báo tin", user_id="111"))
    drain(stack, "RepliesQueue")
    code = _tip(stack)["code"]["S"]
    typed = tipcode.display(code).lower().replace("-", " ")
    deliver(lambda_context, text_event(typed, user_id="111", ts=now_ms() + 10))
    (own,) = _reply_texts(stack)
    assert "đang chờ xử lý" in own

    deliver(lambda_context, text_event(tipcode.display(code), user_id="222", ts=now_ms() + 20))
    (other,) = _reply_texts(stack)
    unknown = tipcode.new_code()
    deliver(lambda_context, text_event(tipcode.display(unknown), user_id="222", ts=now_ms() + 30))
    (missing,) = _reply_texts(stack)
    assert other.replace(tipcode.display(code), "X") == missing.replace(tipcode.display(unknown), "X")
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1, "code queries are not tips"


@pytest.mark.parametrize(
    ("text", "section"), [("Tin tức", "news"), ("#dichvucong", "public_services"), ("liên hệ", "contact")]
)
def test_menu_keywords_get_answers_not_tips(text: str, section: str, stack: Any, lambda_context: Any) -> None:
    from tipline.intake.texts import DEFAULT_MENU_ANSWERS

    deliver(lambda_context, text_event(text))
    assert _reply_texts(stack) == [DEFAULT_MENU_ANSWERS[section]]
    assert not items_with_prefix(stack, "TIP#")


def test_a_first_message_that_is_a_command_is_answered_and_starts_the_citizen_s_burst(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A citizen's very first message, a command, creates their contact and opens their burst
    window: with a limit of one message, the command is answered (it is the first, not over the
    limit), and the next message in the window is kept but grouped, without an acknowledgement.
    The answer is stored as an automatic answer, a millisecond after the command."""
    from tipline.config import get_settings
    from tipline.keys import thread_pk

    monkeypatch.setenv("CITIZEN_BURST_LIMIT", "1")
    get_settings.cache_clear()
    start = now_ms()
    assert _status(deliver(lambda_context, text_event("Liên hệ", user_id="888", ts=start))) == 200
    (reply,) = _acks(stack)
    answer = table().get_entry(thread_pk(reply.tip_id, reply.pseudonym), reply.entry_key)
    assert answer is not None
    assert (answer.kind, answer.at_ms, answer.tip_id) == ("auto_answer", start + 1, None)
    assert (
        _status(deliver(lambda_context, text_event("có người lừa đảo", user_id="888", ts=start + 5))) == 200
    )
    assert _acks(stack) == [], "the second message of the window is over the limit of one"
    (inbound,) = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    assert inbound["grouped"]["BOOL"] is True


@pytest.mark.parametrize(
    ("first", "flag"),
    [("HỦY", "opted_out"), ("Hủy!", "opted_out"), ("nhận tin.", "opted_in"), ("code", None)],
)
def test_a_new_citizen_whose_first_message_is_an_opt_out_opt_in_or_code_is_stored_and_answered(
    first: str, flag: str | None, stack: Any, lambda_context: Any
) -> None:
    """The answer acts on the citizen's contact (their choice, the code's owner), so it is stored
    before the answer, though no tip is opened."""
    from tipline.intake import texts
    from tipline.intake.pseudonym import pseudonym
    from tipline.wiring import pepper

    text = tipcode.display(tipcode.new_code()) if first == "code" else first
    assert _status(deliver(lambda_context, text_event(text, user_id="999"))) == 200
    expected = {
        "opted_out": texts.OPTED_OUT,
        "opted_in": texts.OPTED_IN_NOT_FOLLOWING,  # not a follower: why advisories may not reach them
        None: texts.unknown_code(text),
    }
    assert _reply_texts(stack) == [expected[flag]]
    contact = table().get_contact(pseudonym(pepper(), demo_oa().oa_id, "999"))
    assert contact is not None and contact.user_id_sealed is not None
    assert flag is None or getattr(contact, flag) is True
    assert not items_with_prefix(stack, "TIP#")


def test_a_follower_s_nhan_tin_and_a_citizen_s_own_code_get_their_own_answers(
    stack: Any, lambda_context: Any
) -> None:
    from tipline.intake import texts
    from tipline_local.samples import zalo_body

    assert _status(deliver(lambda_context, zalo_body("follow", demo_oa(), user_id="998", ts=now_ms()))) == 200
    deliver(lambda_context, text_event("NHẬN TIN", user_id="998"))
    assert _reply_texts(stack) == [texts.OPTED_IN]
    deliver(lambda_context, text_event("báo tin: có người lừa đảo", user_id="998"))
    drain(stack, "RepliesQueue")
    code = tipcode.display(_tip(stack)["code"]["S"])
    deliver(lambda_context, text_event(code, user_id="998"))
    assert _reply_texts(stack) == [texts.status_answer(code, "new")]


def test_an_anonymous_command_and_a_captioned_photo_are_kept_as_tips_not_answered(
    stack: Any, lambda_context: Any
) -> None:
    """Only a citizen's plain text is a command: Zalo lets the OA answer no anonymous citizen, and a
    photo is evidence whatever its caption says."""
    from tipline.keys import thread_pk
    from tipline_local.samples import zalo_body

    for name, text in (("anonymous_send_text", "HỦY"), ("user_send_image", "Liên hệ")):
        assert _status(deliver(lambda_context, zalo_body(name, demo_oa(), ts=now_ms(), text=text))) == 200
    kinds = sorted(
        e["kind"]["S"] for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"
    )
    assert kinds == ["anonymous_send_text", "user_send_image"]
    [reply] = _acks(stack)
    entry = table().get_entry(thread_pk(reply.tip_id, reply.pseudonym), reply.entry_key)
    assert entry is not None and entry.kind == "ack", "the photo's tip is acknowledged, nothing answered"


def test_the_burst_window_is_citizen_burst_minutes_long_to_the_millisecond(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a limit of one message a minute: a citizen's first message is within it (acknowledged),
    their next one 59.999 s later is grouped, and one a full minute after their first starts a new
    window."""
    from tipline.config import get_settings

    monkeypatch.setenv("CITIZEN_BURST_LIMIT", "1")
    monkeypatch.setenv("CITIZEN_BURST_MINUTES", "1")
    get_settings.cache_clear()
    start = now_ms()
    for user, later in (("551", 59_999), ("552", 60_000)):
        for index, at_ms in enumerate((start, start + later)):
            event = text_event(f"tin số {index}", user_id=user, msg_id=f"burst-{user}-{index}", ts=at_ms)
            assert _status(deliver(lambda_context, event, at_ms=at_ms)) == 200
    grouped = sorted(
        (int(e["at_ms"]["N"]) - start, e.get("grouped", {}).get("BOOL", False))
        for e in items_with_prefix(stack, "TIP#", "MSG#")
        if e["direction"]["S"] == "in"
    )
    assert grouped == [(0, False), (0, False), (59_999, True), (60_000, False)]
    assert len(_acks(stack)) == 2, "each citizen's first message is acknowledged"


@pytest.mark.parametrize("hours", [1, 0])
def test_a_follow_up_joins_its_tip_within_the_join_window_to_the_millisecond(
    hours: int, stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TIP_JOIN_HOURS after the tip's last message a follow-up still joins it; a millisecond later
    it opens a new tip. A window of 0 joins nothing, not even a message of the same millisecond."""
    from tipline.config import get_settings

    monkeypatch.setenv("TIP_JOIN_HOURS", str(hours))
    get_settings.cache_clear()
    window, start = hours * 3_600_000, now_ms()
    for index, at_ms in enumerate((start, start + window, start + 2 * window + 1)):
        event = text_event(f"tin số {index}", user_id="444", msg_id=f"join-{index}", ts=at_ms)
        assert _status(deliver(lambda_context, event, at_ms=at_ms)) == 200
    counts = sorted(int(tip["message_count"]["N"]) for tip in items_with_prefix(stack, "TIP#", "META"))
    assert counts == ([1, 2] if hours else [1, 1, 1])


def test_menu_answers_can_be_configured_per_oa(stack: Any, lambda_context: Any) -> None:
    oa = table().get_oa(demo_oa().oa_id)
    assert oa is not None
    table().put_oa(oa.model_copy(update={"menu": {"contact": "Gọi trực ban: 024 1234 5678"}}))
    deliver(lambda_context, text_event("Liên hệ"))
    assert _reply_texts(stack) == ["Gọi trực ban: 024 1234 5678"]


def test_urgent_keywords_mark_the_tip_and_alert_with_ids_only(stack: Any, lambda_context: Any) -> None:
    observer = subscribe_to_urgent(stack)
    deliver(lambda_context, text_event("Cứu với, CHÁY nhà ở ngõ 5, có người mắc kẹt"))
    tip = _tip(stack)
    assert tip["urgent"]["BOOL"] is True
    subjects: list[str] = []
    (alert,) = urgent_alerts(observer, subjects)
    assert subjects == ["Tin báo khẩn"]
    assert alert == {
        "unit_id": "pc02-hoan-kiem",
        "tip_id": tip["tip_id"]["S"],
        "code": tipcode.display(tip["code"]["S"]),
    }


def test_ordinary_words_do_not_raise_an_alarm(stack: Any, lambda_context: Any) -> None:
    deliver(lambda_context, text_event("tôi thấy người chạy xe lạng lách"))
    assert _tip(stack)["urgent"]["BOOL"] is False


def test_withdraw_erases_the_citizens_personal_data(stack: Any, lambda_context: Any) -> None:
    oa = demo_oa()
    deliver(lambda_context, text_event("báo tin", user_id="333"))
    assert any("sealed" in e for e in items_with_prefix(stack, "TIP#", "MSG#"))
    withdraw = zalo_body("user_withdraw", oa, user_id="333", ts=now_ms() + 5)
    assert _status(deliver(lambda_context, withdraw)) == 200
    assert not items_with_prefix(stack, "CONTACT#", "META")
    assert not any("sealed" in e for e in items_with_prefix(stack, "TIP#", "MSG#"))
    assert _tip(stack)["message_count"]["N"] == "1", "counts without personal data stay"


# -- durability ------------------------------------------------------------------------------------
def test_a_store_failure_spills_the_event_and_the_consumer_completes_it(
    stack: Any, lambda_context: Any
) -> None:

    body = text_event("báo tin khi DynamoDB lỗi", msg_id="spill-1")
    with Fault(
        aws.dynamodb(),
        "PutItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: params["Item"]["pk"]["S"].startswith(("TIP#", "CONTACT#")),
    ) as fault:
        assert _status(deliver(lambda_context, body)) == 200
    assert fault.hits >= 1
    assert not items_with_prefix(stack, "TIP#")
    assert run_spill_consumer(stack, lambda_context)["batchItemFailures"] == []
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    assert len(_acks(stack)) == 1


def test_a_queue_failure_spills_and_the_ack_is_sent_later(stack: Any, lambda_context: Any) -> None:

    with Fault(
        aws.sqs(),
        "SendMessage",
        "AWS.SimpleQueueService.ServiceUnavailable",
        when=lambda params: "replies" in params["QueueUrl"],
    ):
        assert _status(deliver(lambda_context, text_event("báo tin khi SQS lỗi"))) == 200
    assert _acks(stack) == []
    assert run_spill_consumer(stack, lambda_context)["batchItemFailures"] == []
    assert len(_acks(stack)) == 1
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1


def test_when_nothing_can_keep_the_event_the_webhook_answers_503(stack: Any, lambda_context: Any) -> None:

    with Fault(aws.kms(), "GenerateDataKey", "ThrottlingException"):
        response = deliver(lambda_context, text_event("báo tin khi KMS lỗi"))
    assert _status(response) == 503
    assert not items_with_prefix(stack, "TIP#")
    assert drain(stack, "IntakeSpillQueue") == []


def test_a_warm_container_spills_even_while_kms_fails(stack: Any, lambda_context: Any) -> None:

    assert _status(deliver(lambda_context, text_event("tin đầu tiên", user_id="1"))) == 200
    with Fault(aws.kms(), "GenerateDataKey", "ThrottlingException"):
        assert _status(deliver(lambda_context, text_event("tin khi KMS lỗi", user_id="2"))) == 200
    assert run_spill_consumer(stack, lambda_context)["batchItemFailures"] == []
    assert len(items_with_prefix(stack, "TIP#", "META")) == 2


def test_samples_in_events_are_signed_for_the_demo_registry() -> None:
    for path in sorted(Path(EVENTS, "webhook").glob("*.json")):
        event = json.loads(path.read_text("utf-8"))
        body = event["body"].encode()
        oa = demo_oa()
        timestamp = json.loads(body)["timestamp"]
        assert event["headers"]["x-zevent-signature"] == header_value(
            oa.app_id, body, timestamp, oa.oa_secret_key
        ), path.name
    assert Counter(p.stem for p in Path(EVENTS, "webhook").glob("*.json")) == Counter(SAMPLE_EVENTS)


def test_a_flooding_citizen_is_kept_but_grouped_without_acks(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tipline.config import get_settings

    monkeypatch.setenv("CITIZEN_BURST_LIMIT", "3")
    monkeypatch.setenv("TIP_JOIN_HOURS", "0")  # even past the join window, the excess joins the open tip
    get_settings.cache_clear()
    start = now_ms()
    flooded: list[tuple[int, Any, dict[str, str]]] = []  # (message, value, metric) of each flood count
    for index in range(8):
        text = "cháy nhà!" if index == 6 else f"tin số {index}"
        assert _status(deliver(lambda_context, text_event(text, user_id="777", ts=start + index))) == 200
        emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        flooded += [
            (index, line["CitizenFloodGrouped"], metric)
            for line in emitted
            for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            if metric["Name"] == "CitizenFloodGrouped"
        ]
    assert flooded == [(3, [1.0], {"Name": "CitizenFloodGrouped", "Unit": "Count"})], (
        "one count, as the citizen first goes over the limit (the flood alarm counts citizens)"
    )
    inbound = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    assert len(inbound) == 8, "nothing is dropped"
    assert sum(1 for e in inbound if e.get("grouped", {}).get("BOOL")) == 5
    tips = items_with_prefix(stack, "TIP#", "META")
    assert len(tips) == 3, "three tips within the limit (join window 0), the excess grouped into the last"
    assert len(_acks(stack)) == 3
    urgent = [t for t in tips if t["urgent"]["BOOL"]]
    assert len(urgent) == 1, "an emergency inside a flood still marks its tip urgent (one alert per tip)"
