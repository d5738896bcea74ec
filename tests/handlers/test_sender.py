"""The reply sender: replies.fifo (moto) -> the real sender handler -> the Zalo simulator (served).

Tips and acknowledgements come from the real webhook handler; SQS batches are really received from
replies.fifo, so FIFO ordering, visibility and redrive to the dead-letter queue are SQS's own.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from fixtures.sender import Poller, Zalo, citizen_writes, citizens_write, entries, outbound, simulated_zalo
from fixtures.webhook import Fault, deliver, demo_oa, now_ms, receive, sqs_event
from tipline.adapters import aws, zalo
from tipline.config import get_settings
from tipline.domain import DeliveryStatus
from tipline.keys import META, contact_pk, thread_pk
from tipline.wiring import table
from tipline_local.provision import Provisioned
from tipline_local.samples import zalo_body

CANARY = "CANARY-sender-7f3a tôi bị lừa 20 triệu"
USER = "246845883529197922"


@pytest.fixture
def zalo_sim(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    yield from simulated_zalo(monkeypatch)


def test_an_acknowledgement_reaches_the_citizen_once_and_receipts_mark_it(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    citizen_writes(zalo_sim, lambda_context, CANARY, USER)
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert len(messages) == 1 and not failed
    sent = zalo_sim.cs_sent(USER)
    assert len(sent) == 1
    [entry] = outbound(stack)
    assert entry.status == DeliveryStatus.SENT and entry.zalo_message_id == sent[0]["message_id"]
    assert entry.reason is None, "a reply sent on its first attempt needs no note"
    # The same message delivered again (at-least-once) is recognised and not sent twice.
    from tipline.handlers import reply_sender as sender

    again = sender.handler(sqs_event(messages, stack.resolver.attributes["RepliesQueue.Arn"]), lambda_context)
    assert again == {"batchItemFailures": []}
    assert len(zalo_sim.cs_sent(USER)) == 1
    # Zalo's receipt for that message id marks the reply delivered, through the webhook.
    oa = demo_oa()
    body = zalo_body("user_received_message", oa, user_id=USER, ts=now_ms())
    body["message"]["msg_id"] = sent[0]["message_id"]
    assert deliver(lambda_context, body)["statusCode"] == 200
    assert outbound(stack)[0].status == DeliveryStatus.DELIVERED
    logs = captured_logs.getvalue()
    assert "reply sent" in logs
    for secret in (CANARY, USER, sent[0]["text"], oa.access_token):
        assert secret not in logs


def test_receipts_out_of_order_leave_a_seen_reply_seen(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    citizen_writes(zalo_sim, lambda_context, "báo tin", USER)
    Poller(stack, lambda_context).once()
    [message_id] = [m["message_id"] for m in zalo_sim.cs_sent(USER)]
    oa = demo_oa()
    seen = zalo_body("user_seen_message", oa, user_id=USER, ts=now_ms())
    seen["message"]["msg_ids"] = [message_id]
    received = zalo_body("user_received_message", oa, user_id=USER, ts=now_ms())
    received["message"]["msg_id"] = message_id
    for receipt in (seen, received):  # the "received" receipt arrives last
        assert deliver(lambda_context, receipt)["statusCode"] == 200
    assert outbound(stack)[0].status == DeliveryStatus.SEEN


def test_a_lost_receipt_pointer_costs_the_marks_not_the_reply(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    citizen_writes(zalo_sim, lambda_context, CANARY, USER)
    with Fault(aws.dynamodb(), "BatchWriteItem", "InternalServerError") as fault:
        messages, failed = Poller(stack, lambda_context).once()
    assert fault.hits >= 1
    assert len(messages) == 1 and not failed  # sent and recorded: the message is done
    [entry] = outbound(stack)
    assert entry.status == DeliveryStatus.SENT and len(zalo_sim.cs_sent(USER)) == 1
    logs = captured_logs.getvalue()
    assert "receipt pointers not written" in logs
    assert CANARY not in logs and USER not in logs and entry.zalo_message_id not in logs
    body = zalo_body("user_received_message", demo_oa(), user_id=USER, ts=now_ms())
    body["message"]["msg_id"] = entry.zalo_message_id
    assert deliver(lambda_context, body)["statusCode"] == 200  # unknown to us: answered, ignored
    assert outbound(stack)[0].status == DeliveryStatus.SENT


def test_when_the_batch_read_fails_each_reply_reads_its_own(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    users = citizens_write(zalo_sim, lambda_context, "báo tin", 720000000000000000, 3)
    reads = iter(range(1000))
    first_read = Fault(aws.dynamodb(), "BatchGetItem", "InternalServerError", when=lambda _: next(reads) == 0)
    with first_read as fault:
        messages, failed = Poller(stack, lambda_context).once()
    assert fault.hits == 1 and len(messages) == 3 and not failed
    assert [len(zalo_sim.cs_sent(user)) for user in users] == [1, 1, 1]


def _ack_entry(stack: Provisioned) -> Any:
    [entry] = outbound(stack)
    return entry


def test_outside_the_7_day_window_fails_for_the_officer_without_calling_zalo(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    eight_days_ago = now_ms() - 8 * 24 * 3600 * 1000
    citizen_writes(zalo_sim, lambda_context, "cũ rồi", USER, ts=eight_days_ago)
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert len(messages) == 1 and not failed  # permanent: acknowledged, never retried
    entry = _ack_entry(stack)
    assert entry.status == DeliveryStatus.FAILED
    wrote = datetime.fromtimestamp(eight_days_ago / 1000, timezone(timedelta(hours=7)))  # Vietnam time
    assert entry.reason == (
        f"outside Zalo's 7-day reply window: the citizen last wrote on {wrote:%d/%m/%Y %H:%M}; "
        "the reply can be sent after they write again"
    )
    assert not zalo_sim.calls_to("/v3.0/oa/message/cs")
    assert receive(stack, "RepliesQueue") == []


HOUR_MS = 3600 * 1000
WEEK_MS = 7 * 24 * HOUR_MS


@pytest.mark.parametrize(("age_ms", "sent"), [(WEEK_MS - HOUR_MS, True), (WEEK_MS + 1, False)])
def test_the_7_day_window_edge_sends_inside_and_refuses_one_ms_past_it(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, age_ms: int, sent: bool
) -> None:
    citizen_writes(zalo_sim, lambda_context, "báo tin", USER, ts=now_ms() - age_ms)
    messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 1 and not failed
    entry = _ack_entry(stack)
    assert entry.status == (DeliveryStatus.SENT if sent else DeliveryStatus.FAILED), entry.reason
    assert len(zalo_sim.cs_sent(USER)) == int(sent)


@pytest.mark.parametrize(
    ("code", "words"),
    [(-217, "blocked"), (-201, "invalid"), (-230, "7-day"), (-244, "turned off"), (-223, "ops must act")],
)
def test_permanent_refusals_are_recorded_with_a_reason_and_not_retried(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, code: int, words: str
) -> None:
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(error=code, path_prefix="/v3.0/oa/message/cs")
    messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 1 and not failed
    entry = _ack_entry(stack)
    assert entry.status == DeliveryStatus.FAILED and entry.reason is not None and words in entry.reason
    assert len(zalo_sim.calls_to("/v3.0/oa/message/cs")) == 1
    assert receive(stack, "RepliesQueue") == []
    contact = table().get_contact(entry.pseudonym)
    assert contact is not None and contact.zalo_blocked == (code == -217)
    assert contact.officer_block is None, "Zalo's answer is not an officer's block"


def _contact_update(stack: Provisioned, pseudonym: str, **update: Any) -> None:
    """Change the citizen's contact item as a withdrawal or Zalo's block would have left it."""
    client = boto3.client("dynamodb")
    name = stack.resolver.refs["TiplineTable"]
    key = {"pk": {"S": contact_pk(pseudonym)}, "sk": {"S": META}}
    if update.get("deleted"):
        client.delete_item(TableName=name, Key=key)
    else:
        client.update_item(TableName=name, Key=key, UpdateExpression="REMOVE user_id_sealed")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("contact deleted", "the citizen's contact was erased (withdrawn); nothing can be sent"),
        ("user id erased", "the citizen's contact was erased (withdrawn); nothing can be sent"),
        ("text erased", "the reply's text was erased; nothing can be sent"),
        ("blocked", "the citizen has blocked the OA; they can be answered after they write again"),
        ("undecryptable", "the reply or the citizen's id could not be decrypted"),
    ],
)
def test_a_reply_that_cannot_be_sent_fails_with_the_reason_an_officer_reads(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, change: str, reason: str
) -> None:
    """Checked before any Zalo call: failed for good (acknowledged, not retried), the entry says why."""
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    entry = _ack_entry(stack)
    if change == "contact deleted":
        _contact_update(stack, entry.pseudonym, deleted=True)
    elif change == "user id erased":
        _contact_update(stack, entry.pseudonym)
    elif change == "text erased":
        table().erase_sealed(thread_pk(entry.tip_id, entry.pseudonym), entry.entry_key)
    elif change == "blocked":
        table().set_contact_flags(entry.pseudonym, zalo_blocked=True)
    poller = Poller(stack, lambda_context)
    if change == "undecryptable":
        with Fault(aws.kms(), "Decrypt", "InvalidCiphertextException"):
            messages, failed = poller.once()
    else:
        messages, failed = poller.once()
    assert len(messages) == 1 and not failed
    assert (_ack_entry(stack).status, _ack_entry(stack).reason) == (DeliveryStatus.FAILED, reason)
    assert not zalo_sim.calls_to("/v3.0/oa/message/cs")


def test_a_message_that_does_not_match_its_thread_entry_is_parked_with_why(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    """A queued reply naming another OA, or pointing at the citizen's own message, is never sent."""
    from tipline.replies.batch import MAX_RECEIVES

    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    [ack] = receive(stack, "RepliesQueue")
    reply = json.loads(ack["Body"])
    [inbound] = [e for e in entries(stack, (reply["tip_id"], reply["pseudonym"])) if e.direction == "in"]
    wrong = {
        "another oa": {**reply, "oa_id": demo_oa(2).oa_id},
        "inbound entry": {**reply, "entry_key": inbound.entry_key},
    }
    sqs = boto3.client("sqs")
    url = stack.queue_urls["RepliesQueue"]
    for name, body in wrong.items():
        sqs.send_message(
            QueueUrl=url, MessageBody=json.dumps(body), MessageGroupId=name, MessageDeduplicationId=name
        )
    poller = Poller(stack, lambda_context)
    poller.receipts[ack["MessageId"]] = ack["ReceiptHandle"]
    poller.release({ack["MessageId"]})
    for _ in range(MAX_RECEIVES + 1):
        _, failed = poller.once()
        poller.release(failed)
    dead = sqs.receive_message(
        QueueUrl=stack.queue_urls["RepliesDeadLetterQueue"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    assert (
        sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in dead)
        == ["the message does not match its thread entry"] * 2
    )
    assert [s["oa_id"] for s in zalo_sim.cs_sent(USER)] == [demo_oa().oa_id], "only the true reply"


def test_a_token_that_cannot_be_refreshed_defers_the_reply_saying_so(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(error=-216, path_prefix="/v3.0/oa/message/cs")
    zalo_sim.sim.inject(status=503, path_prefix="/v4/oa/access_token")
    messages, failed = Poller(stack, lambda_context).once()
    assert failed == {messages[0]["MessageId"]}
    entry = _ack_entry(stack)
    assert (entry.status, entry.reason) == (
        DeliveryStatus.DEFERRED,
        f"the token of OA {demo_oa().oa_id} could not be refreshed (attempt 1)",
    )


@pytest.mark.parametrize(
    "fault",
    [
        {"error": -32},
        {"error": -211},
        {"error": -218},
        {"status": 503},
        {"status": 500},
        {"timeout": True},
    ],
    ids=["rate-limit", "quota", "receive-quota", "http-503", "http-500", "timeout"],
)
def test_transient_errors_defer_with_backoff_then_send_once(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, fault: dict[str, Any]
) -> None:
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(**fault, path_prefix="/v3.0/oa/message/cs")
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert failed == {messages[0]["MessageId"]}
    entry = _ack_entry(stack)
    assert entry.status == DeliveryStatus.DEFERRED and entry.reason and "retrying" in entry.reason
    delay = poller.visibility[messages[0]["MessageId"]]
    assert 1 <= delay <= 900
    if fault.get("error") == -32:
        assert delay >= 60  # a per-minute limit: wait for the next minute at least
    assert receive(stack, "RepliesQueue") == []  # invisible until its backoff is over
    assert not zalo_sim.cs_sent()
    poller.release(failed)
    messages, failed = poller.once()
    assert len(messages) == 1 and not failed
    assert len(zalo_sim.cs_sent(USER)) == 1
    entry = _ack_entry(stack)
    assert entry.status == DeliveryStatus.SENT and entry.reason == "sent on attempt 2"


def test_a_reply_deferred_on_every_receive_is_parked_with_its_last_reason(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    """Zalo keeps answering 503: on its last receive the reply goes to the DLQ, saying why."""
    from tipline.replies.batch import MAX_RECEIVES

    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(status=503, count=MAX_RECEIVES, path_prefix="/v3.0/oa/message/cs")
    poller = Poller(stack, lambda_context)
    for receives in range(1, MAX_RECEIVES + 1):
        messages, failed = poller.once()
        assert len(messages) == 1, f"receive {receives}"
        poller.release(failed)
    assert not failed, "the last receive parks the reply and deletes it from the queue"
    assert receive(stack, "RepliesQueue") == []
    assert not zalo_sim.cs_sent()
    entry = _ack_entry(stack)
    assert (entry.status, entry.reason) == (
        DeliveryStatus.DEFERRED,
        f"Zalo answered HTTP 503; retrying (attempt {MAX_RECEIVES})",
    )
    [dead] = boto3.client("sqs").receive_message(
        QueueUrl=stack.queue_urls["RepliesDeadLetterQueue"], MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes["reason"] == "Zalo answered HTTP 503; retrying"
    assert attributes["oa_id"] == demo_oa().oa_id


def test_a_reply_of_a_disabled_oa_is_parked_at_once_with_the_reason_and_not_sent(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    account = table().get_oa(demo_oa().oa_id)
    assert account is not None
    table().put_oa(account.model_copy(update={"disabled": True}))
    messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 1 and not failed, "parked on its first receive, not retried"
    assert not zalo_sim.cs_sent()
    entry = _ack_entry(stack)
    assert (entry.status, entry.reason) == (
        DeliveryStatus.DEFERRED,
        "held: the OA is disabled by operations; sent after it is enabled again",
    )
    [dead] = boto3.client("sqs").receive_message(
        QueueUrl=stack.queue_urls["RepliesDeadLetterQueue"], MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert (attributes["reason"], attributes["oa_id"]) == ("oa_disabled", demo_oa().oa_id)


def test_an_expired_token_is_refreshed_once_and_the_reply_sent(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(error=-216, path_prefix="/v3.0/oa/message/cs")
    messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 1 and not failed
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1
    assert len(zalo_sim.cs_sent(USER)) == 1
    assert _ack_entry(stack).status == DeliveryStatus.SENT


def test_a_token_another_container_already_renewed_is_used_not_refreshed_again(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    from tipline.tokens.store import TokenStore
    from tipline.wiring import token_store

    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    oa_id = demo_oa().oa_id
    seen = token_store().access_token(oa_id)  # this container holds the current token
    TokenStore(table(), get_settings()).refresh(oa_id)  # another container renews it meanwhile
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1
    zalo_sim.sim.inject(error=-216, path_prefix="/v3.0/oa/message/cs")  # the held token is refused
    messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 1 and not failed
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1, "the renewed token is used, not spent again"
    assert token_store().access_token(oa_id).version == seen.version + 1
    assert _ack_entry(stack).status == DeliveryStatus.SENT


def test_a_token_rejected_again_after_its_refresh_is_retried_later_not_refreshed_twice(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(error=-220, count=2, path_prefix="/v3.0/oa/message/cs")
    messages, failed = Poller(stack, lambda_context).once()
    assert failed == {messages[0]["MessageId"]}
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1
    assert _ack_entry(stack).status == DeliveryStatus.DEFERRED


def test_a_token_expiring_mid_batch_causes_exactly_one_refresh_and_every_reply_is_sent(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    users = citizens_write(zalo_sim, lambda_context, "xin chào", 500000000000000000, 10)
    sim, clock = zalo_sim.sim, zalo_sim.clock
    original = sim._send_cs

    def send_then_age(request: Any, oa: Any) -> Any:
        data = original(request, oa)
        if len(zalo_sim.cs_sent()) == 3:
            clock.advance(25 * 3600 + 60)  # the OA's access token expires after the third reply
        return data

    sim._send_cs = send_then_age  # type: ignore[method-assign]
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert len(messages) == 10 and not failed
    assert len(zalo_sim.calls_to("/v4/oa/access_token")) == 1
    assert sorted(s["user_id"] for s in zalo_sim.cs_sent()) == sorted(users)
    # Citizens run concurrently: every call still in flight when the token expired is rejected once
    # (one to seven of them) and retried once with the new token, which only one of them refreshed.
    errors = [c["error"] for c in zalo_sim.calls_to("/v3.0/oa/message/cs")]
    assert errors.count(0) == 10 and 1 <= errors.count(-220) <= 7
    assert len(errors) == 10 + errors.count(-220)
    assert all(e.status == DeliveryStatus.SENT for e in outbound(stack))
    assert not sim.is_locked(demo_oa().oa_id) and not sim.violations


def _in_queue_order(zalo_sim: Zalo, stack: Provisioned, user: str) -> bool:
    """The citizen's replies reached Zalo in the order they were queued (their entry keys)."""
    sent = [s["message_id"] for s in zalo_sim.cs_sent(user)]
    mine = [e.zalo_message_id for e in outbound(stack) if e.zalo_message_id in sent]  # entry-key order
    return len(sent) > 1 and sent == mine


def test_citizens_of_one_batch_are_served_concurrently_and_each_citizen_in_order(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each single-reply citizen's Zalo call waits at a two-party barrier: it passes only while
    another citizen's call is in flight, so a sender that served citizens one by one would break it
    (and fail those replies). One citizen's three replies never overlap and leave in queue order."""
    monkeypatch.setenv("ACK_QUIET_MINUTES", "0")  # every message is acknowledged
    get_settings.cache_clear()
    ordered = "810000000000000000"
    others = [f"81000000000000010{i}" for i in range(6)]  # an even number: the barrier pairs them
    for round_ in range(3):
        citizen_writes(zalo_sim, lambda_context, f"tin {round_}", ordered)
    for user in others:
        citizen_writes(zalo_sim, lambda_context, "xin chào", user)
    pair = threading.Barrier(2, timeout=5)
    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    send = zalo.send_consultation

    def observed(token: str, user_id: str, text: str) -> zalo.SentMessage:
        with lock:
            in_flight[user_id] += 1
            peak[user_id] = max(peak[user_id], in_flight[user_id])
            peak["all"] = max(peak["all"], in_flight.total())
        try:
            if user_id in others:
                pair.wait()
            return send(token, user_id, text)
        finally:
            with lock:
                in_flight[user_id] -= 1

    monkeypatch.setattr(zalo, "send_consultation", observed)
    messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 9 and not failed
    assert sorted(s["user_id"] for s in zalo_sim.cs_sent()) == sorted([ordered] * 3 + others)
    assert peak["all"] >= 2 and not pair.broken
    assert peak[ordered] == 1  # one citizen: strictly one after another
    assert _in_queue_order(zalo_sim, stack, ordered)
    assert all(e.status == DeliveryStatus.SENT for e in outbound(stack))


def test_a_failure_skips_the_rest_of_its_citizen_only_while_citizens_run_concurrently(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three citizens, two replies each, in one batch; Zalo rate-limits the first call it gets,
    which is necessarily some citizen's first reply. That citizen's second reply is skipped (not
    sent, visible again at once) and both are reported; the other citizens' replies are all sent."""
    monkeypatch.setenv("ACK_QUIET_MINUTES", "0")
    get_settings.cache_clear()
    users = [f"82000000000000000{i}" for i in range(3)]
    for round_ in range(2):
        for user in users:
            citizen_writes(zalo_sim, lambda_context, f"tin {round_}", user)
    zalo_sim.sim.inject(error=-32, count=1, path_prefix="/v3.0/oa/message/cs")
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert len(messages) == 6
    [unlucky] = [user for user in users if not zalo_sim.cs_sent(user)]
    assert all(len(zalo_sim.cs_sent(user)) == 2 for user in users if user != unlucky)
    deferred = [e for e in outbound(stack) if e.status == DeliveryStatus.DEFERRED]
    queued = [e for e in outbound(stack) if e.status == DeliveryStatus.QUEUED]
    assert len(deferred) == 1 and len(queued) == 1 and deferred[0].pseudonym == queued[0].pseudonym
    group = [m for m in messages if m["Attributes"]["MessageGroupId"] == deferred[0].pseudonym]
    assert failed == {m["MessageId"] for m in group}  # exactly the failed head and the skipped one
    head, skipped = (m["MessageId"] for m in group)
    assert poller.visibility[head] >= 60 and poller.visibility[skipped] == 0
    assert len(zalo_sim.calls_to("/v3.0/oa/message/cs")) == 5  # the skipped one never called Zalo
    poller.release({head})
    messages, failed = poller.once()
    assert [m["MessageId"] for m in messages] == [head, skipped] and not failed
    assert _in_queue_order(zalo_sim, stack, unlucky)
    assert all(_in_queue_order(zalo_sim, stack, user) for user in users)


def test_a_response_lost_after_zalo_accepted_is_resent_and_may_arrive_twice(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    """The documented at-least-once edge (see tipline.replies.delivery): no reply is lost; a copy may
    be duplicated; the entry says so, then ends with the id of the copy Zalo confirmed. The log
    names the reply at warning level (the load test attributes a duplicate by it)."""
    citizen_writes(zalo_sim, lambda_context, "xin chào", USER)
    zalo_sim.sim.inject(timeout=True, effective=True, path_prefix="/v3.0/oa/message/cs")
    poller = Poller(stack, lambda_context)
    _, failed = poller.once()
    assert failed
    entry = _ack_entry(stack)
    assert entry.status == DeliveryStatus.DEFERRED and entry.reason
    assert entry.reason.endswith(" (Zalo may have received it: the citizen could get it twice) (attempt 1)")
    warnings = [json.loads(line) for line in captured_logs.getvalue().splitlines() if "twice" in line]
    assert [(w["level"], w["message"], w["reply_id"]) for w in warnings] == [
        ("WARNING", "reply may reach the citizen twice", entry.entry_key.rsplit("#", 1)[-1])
    ]
    poller.release(failed)
    poller.once()
    sent = zalo_sim.cs_sent(USER)
    assert len(sent) == 2
    entry = _ack_entry(stack)
    assert entry.status == DeliveryStatus.SENT and entry.zalo_message_id == sent[1]["message_id"]


def test_a_poison_message_goes_to_the_dead_letter_queue_without_delaying_other_citizens(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    sqs = boto3.client("sqs")
    url = stack.queue_urls["RepliesQueue"]
    junk = sqs.send_message(
        QueueUrl=url, MessageBody="{not json", MessageGroupId="g1", MessageDeduplicationId="j1"
    )
    missing = {
        "reply_id": "r-x",
        "oa_id": demo_oa().oa_id,
        "pseudonym": "nobody",
        "tip_id": "t-x",
        "entry_key": "MSG#0000000000001#r-x",
    }
    ghost = sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps(missing), MessageGroupId="nobody", MessageDeduplicationId="g1"
    )
    users = citizens_write(zalo_sim, lambda_context, "xin chào", 600000000000000000, 3)
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert len(messages) == 5
    assert failed == {junk["MessageId"], ghost["MessageId"]}
    assert sorted(s["user_id"] for s in zalo_sim.cs_sent()) == sorted(users)  # in the first batch
    for _ in range(10):
        messages, failed = poller.once()
        if not messages:
            break
        assert {m["MessageId"] for m in messages} <= {junk["MessageId"], ghost["MessageId"]}
    # On its last receive the sender parks each in the DLQ itself, saying why and for which OA.
    dead = sqs.receive_message(
        QueueUrl=stack.queue_urls["RepliesDeadLetterQueue"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    parked = {
        m["Body"]: (
            m["MessageAttributes"]["reason"]["StringValue"],
            m.get("MessageAttributes", {}).get("oa_id", {}).get("StringValue"),
        )
        for m in dead
    }
    assert parked == {
        "{not json": ("the message is not a queued reply", None),
        json.dumps(missing): ("the reply's thread entry does not exist", demo_oa().oa_id),
    }
    assert receive(stack, "RepliesQueue") == []
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines() if line.startswith("{")]
    poison = [line for line in lines if line.get("message") == "poison reply message"]
    assert {line["message_id"] for line in poison} == {junk["MessageId"], ghost["MessageId"]}
    assert {line["reason"] for line in poison} == {
        "the message is not a queued reply",
        "the reply's thread entry does not exist",
    }


def test_a_ten_minute_zalo_outage_ends_with_every_reply_delivered_once_and_in_order(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zalo answers 503 for five minutes, then rate-limits for five more. Time is virtual: the
    simulator's clock moves, and SQS visibility timeouts the sender asked for are ended by the test
    when their time has come, never waited for."""
    monkeypatch.setenv("ACK_QUIET_MINUTES", "0")  # every message is acknowledged: 3 replies each
    from tipline.config import get_settings

    get_settings.cache_clear()
    users = [f"70000000000000000{i}" for i in range(3)]
    for round_ in range(3):
        for user in users:
            citizen_writes(zalo_sim, lambda_context, f"tin {round_}", user)
    cs = "/v3.0/oa/message/cs"
    zalo_sim.sim.inject(status=503, count=10**6, path_prefix=cs)
    poller = Poller(stack, lambda_context)
    now, phase = 0.0, "503"
    due: dict[str, float] = {}
    for _ in range(80):
        poller.visibility.clear()
        messages, failed = poller.once()
        for message in messages:
            message_id = message["MessageId"]
            if message_id in failed:
                due[message_id] = now + poller.visibility.get(message_id, 180)
            else:
                due.pop(message_id, None)
        if messages:
            continue
        if not due:
            break
        step = max(0.0, min(due.values()) - now)
        now += step
        zalo_sim.clock.advance(step)
        if phase == "503" and now >= 300:
            zalo_sim.sim.clear_faults()
            zalo_sim.sim.inject(error=-32, count=10**6, path_prefix=cs)
            phase = "-32"
        elif phase == "-32" and now >= 600:
            zalo_sim.sim.clear_faults()
            phase = "over"
        ready = {message_id for message_id, at in due.items() if at <= now}
        poller.release(ready)
        for message_id in ready:
            del due[message_id]
    assert phase == "over" and now >= 600
    refused = [c for c in zalo_sim.calls_to(cs) if c["error"] is None or c["error"] != 0]
    assert len(refused) >= 6  # the outage was felt, on more than one attempt
    entries = outbound(stack)
    assert len(entries) == 9 and all(e.status == DeliveryStatus.SENT for e in entries)
    for pseudonym in {e.pseudonym for e in entries}:
        mine = [e for e in entries if e.pseudonym == pseudonym]  # sorted by entry key: queue order
        user = {s["message_id"]: s["user_id"] for s in zalo_sim.cs_sent()}[mine[0].zalo_message_id or ""]
        assert [s["message_id"] for s in zalo_sim.cs_sent(user)] == [e.zalo_message_id for e in mine]
    assert len(zalo_sim.cs_sent()) == 9
    assert receive(stack, "RepliesDeadLetterQueue") == []
    assert not zalo_sim.sim.violations


def test_the_zalo_pace_spaces_calls_to_the_containers_share_of_the_rate_limit() -> None:
    now = [100.0]
    slept: list[float] = []
    pace = zalo.Pace(clock=lambda: now[0], sleep=slept.append)
    assert [pace.wait(10) for _ in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert slept == pytest.approx([0.1, 0.2, 0.3])
    now[0] += 1.0  # a quiet second later, the next call goes at once
    assert pace.wait(10) == 0.0
    assert zalo.Pace(clock=lambda: 0.0, sleep=slept.append).wait(0) == 0.0  # 0: uncapped


def test_the_senders_concurrency_times_its_pace_stays_under_zalos_rate_limit() -> None:
    """Citizens of a batch run concurrently, so the cap is calls a second per container, not
    MaximumConcurrency alone."""
    from tipline_local.template import functions, load_template

    function = functions(load_template())["SenderFunction"]
    rate = float(function["Environment"]["Variables"]["ZALO_CALLS_PER_SECOND"])
    [source] = [e["Properties"] for e in function["Events"].values() if e["Type"] == "SQS"]
    containers = source["ScalingConfig"]["MaximumConcurrency"]
    assert 0 < rate * containers * 60 <= 4000


def test_a_batch_reads_every_replys_entry_and_contact_in_one_call(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    """One consistent BatchGetItem for the whole batch (two replies of one citizen among them);
    no reply reads its entry or contact again."""
    users = citizens_write(zalo_sim, lambda_context, "báo tin", 600000000000000100, 3)
    citizen_writes(zalo_sim, lambda_context, "liên hệ", users[0])  # a second reply to the first
    reads: list[dict[str, Any]] = []
    with Fault(aws.dynamodb(), "BatchGetItem", "never", when=reads.append):
        messages, failed = Poller(stack, lambda_context).once()
    assert len(messages) == 4 and not failed
    assert len(zalo_sim.cs_sent()) == 4
    [read] = reads
    [(_, request)] = read["RequestItems"].items()
    assert request["ConsistentRead"] is True
    keys = {(k["pk"]["S"], k["sk"]["S"]) for k in request["Keys"]}
    entries = {(thread_pk(e.tip_id, e.pseudonym), e.entry_key) for e in outbound(stack)}
    assert entries <= keys and len(entries) == 4
    assert len({pk for pk, _ in keys if pk.startswith("CONTACT#")}) == 3


def test_the_same_reply_twice_in_one_batch_is_sent_once(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    """At-least-once: a reply's message may come twice in one batch. The second copy reads the entry
    again (the batch read was taken by the first) and finds it sent."""
    from tipline.handlers import reply_sender as sender

    citizen_writes(zalo_sim, lambda_context, "báo tin", USER)
    [message] = receive(stack, "RepliesQueue")
    copy = {**message, "MessageId": f"{message['MessageId']}-again"}
    event = sqs_event([message, copy], stack.resolver.attributes["RepliesQueue.Arn"])
    assert sender.handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(zalo_sim.cs_sent(USER)) == 1
    assert _ack_entry(stack).status == DeliveryStatus.SENT


def test_a_citizens_id_is_opened_once_for_a_burst_of_replies(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any
) -> None:
    """Per reply one KMS call for its text; the citizen's user id only for the first of a burst."""
    citizen_writes(zalo_sim, lambda_context, "báo tin", USER)  # an acknowledgement
    citizen_writes(zalo_sim, lambda_context, "liên hệ", USER)  # and a menu answer, to the same citizen
    opened: list[dict[str, str]] = []
    with Fault(aws.kms(), "Decrypt", "never", when=lambda call: opened.append(call["EncryptionContext"])):
        for _ in range(2):
            Poller(stack, lambda_context).once()
    assert len(zalo_sim.cs_sent(USER)) == 2
    # The menu answer's text is sealed under the contact's context, as is the user id: two opens,
    # not three (the acknowledgement's text opens under its tip, the OA's token under its purpose).
    contact_opens = [context for context in opened if set(context) == {"oa_id", "contact"}]
    assert len(contact_opens) == 2, opened
    assert len([context for context in opened if "tip_id" in context]) == 1
