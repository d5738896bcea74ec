"""Canary tests: what a citizen wrote and who they are never leave the envelope."""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import boto3
import pytest
from fixtures.webhook import (
    Fault,
    deliver,
    demo_oa,
    drain,
    item_text,
    items_with_prefix,
    now_ms,
    subscribe_to_urgent,
    table_items,
)
from tipline.adapters import aws, envelope
from tipline.config import get_settings
from tipline.errors import DecryptionFailed
from tipline.handlers import intake_spill
from tipline.keys import tip_pk
from tipline.wiring import table
from tipline_local.samples import SAMPLE_EVENTS, sqs_event, zalo_body


def _canary_body(name: str, index: int, canaries: list[str]) -> dict[str, Any]:
    marker = f"CANARY{secrets.token_hex(6).upper()}"
    user_id = str(9_000_000_000_000_000 + secrets.randbelow(10**15))
    canaries += [marker, user_id]
    body = zalo_body(name, demo_oa(), user_id=user_id, ts=now_ms() + index, text=f"báo tin {marker} cấp cứu")
    message = body.get("message")
    if isinstance(message, dict):
        for attachment in message.get("attachments", []):
            payload = attachment["payload"]
            for key in ("url", "thumbnail", "description", "name"):
                if key in payload:
                    payload[key] = f"{payload[key]}{marker}"
            if "coordinates" in payload:
                payload["coordinates"] = {"latitude": f"21.{index}{marker}", "longitude": "105.8"}
    if "info" in body:
        body["info"] = {field: f"{value} {marker}" for field, value in body["info"].items()}
    return body


def _every_message(url: str) -> list[dict[str, Any]]:
    """Every message a queue holds, received until it is empty (and deleted, so none is read twice)."""
    client = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    ):
        for message in batch:
            found.append(message)
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_no_canary_in_logs_items_or_any_message_of_any_queue_or_topic(
    stack: Any, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    """The whole flow's output after it settled: every item of the table, every message of every
    queue the template defines (replies, fetch, spill, fan-out and their dead-letter queues) and of
    the urgent topic, and every log line."""
    observer = subscribe_to_urgent(stack)
    canaries: list[str] = []
    names = [name for name in SAMPLE_EVENTS if name != "user_withdraw"]
    for index, name in enumerate(names):
        assert deliver(lambda_context, _canary_body(name, index, canaries))["statusCode"] == 200
    # One message through the spill path too, so the spill queue body is inspected.
    with Fault(aws.dynamodb(), "UpdateItem", "InternalServerError"):
        assert deliver(lambda_context, _canary_body("user_send_text", 99, canaries))["statusCode"] == 200
    spilled = _every_message(stack.queue_urls["IntakeSpillQueue"])
    assert spilled, "expected traffic on the spill queue"
    event = sqs_event(spilled, stack.resolver.attributes["IntakeSpillQueue.Arn"])
    assert intake_spill.handler(event, lambda_context)["batchItemFailures"] == []  # the flow settles

    messages = {queue: [m["Body"] for m in _every_message(url)] for queue, url in stack.queue_urls.items()}
    messages["UrgentTopic"] = [m["Body"] for m in _every_message(observer)]
    messages["IntakeSpillQueue"] += [m["Body"] for m in spilled]
    for queue in ("RepliesQueue", "IntakeSpillQueue", "FetchQueue", "UrgentTopic"):
        assert messages[queue], f"expected traffic on {queue}"
    assert len(messages["RepliesQueue"]) > 10, "more than one receive's worth: the scan must loop"
    haystacks = {
        "logs": captured_logs.getvalue(),
        "items": "\n".join(item_text(item) for item in table_items(stack)),
        **{queue: "\n".join(bodies) for queue, bodies in messages.items()},
    }
    assert "tip opened" in haystacks["logs"], "the logs were captured"
    for where, text in haystacks.items():
        leaked = [canary for canary in canaries if canary in text]
        assert leaked == [], f"{len(leaked)} canaries found in {where}"


def _first_inbound(stack: Any) -> tuple[str, str, bytes]:
    entry = next(e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in")
    return entry["pk"]["S"].removeprefix("TIP#"), entry["oa_id"]["S"], bytes(entry["sealed"]["B"])


def test_sealed_content_opens_only_on_its_own_tip(stack: Any, lambda_context: Any) -> None:
    deliver(lambda_context, zalo_body("user_send_text", demo_oa(), user_id="41", ts=now_ms(), text="tin A"))
    deliver(lambda_context, zalo_body("user_send_text", demo_oa(), user_id="42", ts=now_ms(), text="tin B"))
    drain(stack, "RepliesQueue")
    tip_a, oa_id, sealed = _first_inbound(stack)
    key = get_settings().kms_key_id
    assert json.loads(envelope.open_sealed(key, sealed, {"oa_id": oa_id, "tip_id": tip_a}))["text"] in {
        "tin A",
        "tin B",
    }
    other_tip = next(
        t["tip_id"]["S"] for t in items_with_prefix(stack, "TIP#", "META") if t["tip_id"]["S"] != tip_a
    )
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(key, sealed, {"oa_id": oa_id, "tip_id": other_tip})
    # Copied onto the other tip's record, it still refuses to open there.
    entry = table().thread(tip_pk(other_tip))[0]
    table().put(tip_pk(other_tip), entry.entry_key, {**entry.model_dump(), "sealed": sealed})
    moved = table().get_entry(tip_pk(other_tip), entry.entry_key)
    assert moved is not None and moved.sealed == sealed
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(key, moved.sealed, {"oa_id": oa_id, "tip_id": other_tip})


@pytest.mark.parametrize("position", ["data key", "nonce", "ciphertext", "tag", "version"])
def test_a_flipped_bit_fails_to_open(position: str, stack: Any) -> None:
    key = get_settings().kms_key_id
    context = {"oa_id": "oa", "tip_id": "t1"}
    sealed = bytearray(envelope.seal(key, b"bien so 29A-12345", context))
    key_len = int.from_bytes(sealed[1:3], "big")
    index = {
        "version": 0,
        "data key": 3 + key_len // 2,
        "nonce": 3 + key_len + 2,
        "ciphertext": 3 + key_len + 12 + 1,
        "tag": len(sealed) - 1,
    }[position]
    sealed[index] ^= 0x01
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(key, bytes(sealed), context)


def test_sealing_round_trips_and_is_versioned(stack: Any) -> None:
    key = get_settings().kms_key_id
    context = {"oa_id": "oa", "tip_id": "t1"}
    sealed = envelope.seal(key, "Nội dung tố giác".encode(), context)
    assert sealed[0] == envelope.VERSION_1
    assert envelope.open_sealed(key, sealed, context).decode() == "Nội dung tố giác"
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(key, sealed[:10], context)
