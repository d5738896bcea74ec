"""The webhook's AWS calls before its answer, per event kind (issue 18): counted, not timed.

A new tip took 20 calls, a follow-up 11; each call adds DynamoDB, KMS or SQS latency to an answer
Zalo waits 2 seconds for. ``make bench`` reports the same counts over many events with a latency
model; this test keeps the budget from creeping back.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from fixtures.webhook import (
    SAMPLES_RECEIVED_MS,
    Fault,
    deliver,
    demo_oa,
    drain,
    items_with_prefix,
    now_ms,
    run_spill_consumer,
    text_event,
)
from tipline.handlers import webhook
from tipline_local import webhook_calls
from tipline_local.samples import zalo_body


def test_each_event_kind_stays_within_its_aws_call_budget(stack: Any, lambda_context: Any) -> None:
    per_kind = webhook_calls.run(
        webhook.handler, lambda_context, demo_oa(), citizens=3, start_ms=SAMPLES_RECEIVED_MS
    )
    means = webhook_calls.mean_calls(per_kind)
    over = {kind: means[kind] for kind in webhook_calls.KINDS if means[kind] > webhook_calls.TARGETS[kind]}
    assert over == {}, f"over budget: {over} (all: {means})"
    # What the counted events did: one tip per citizen (and the warm-up's), each with both messages.
    tips = items_with_prefix(stack, "TIP#", "META")
    assert len(tips) == 4
    assert sorted(int(tip["message_count"]["N"]) for tip in tips) == [1, 2, 2, 2]


def test_a_duplicate_delivery_is_answered_from_its_claim_alone(stack: Any, lambda_context: Any) -> None:
    per_kind = webhook_calls.run(
        webhook.handler, lambda_context, demo_oa(), citizens=1, start_ms=SAMPLES_RECEIVED_MS
    )
    assert per_kind["duplicate"] == [[("dynamodb", "PutItem")]]


def test_every_follow_fits_the_budget_a_new_follower_included(stack: Any, lambda_context: Any) -> None:
    per_kind = webhook_calls.run(
        webhook.handler, lambda_context, demo_oa(), citizens=1, start_ms=SAMPLES_RECEIVED_MS
    )
    new_follower, known_follow, unfollow = per_kind["follow"]
    # Claimed and applied together; a citizen not seen before needs their Zalo id sealed first.
    assert new_follower == [
        ("dynamodb", "TransactWriteItems"),
        ("kms", "GenerateDataKey"),
        ("dynamodb", "TransactWriteItems"),
    ]
    assert known_follow == unfollow == [("dynamodb", "TransactWriteItems")]
    contacts = items_with_prefix(stack, "CONTACT#", "META")
    followers = [c for c in contacts if c["follower"]["BOOL"]]
    unfollowed = [c for c in contacts if not c["follower"]["BOOL"] and int(c["follower_at_ms"]["N"]) > 0]
    assert (len(contacts), len(followers), len(unfollowed)) == (3, 1, 1)  # with the warm-up's contact
    assert "user_id_sealed" in followers[0]
    claims = items_with_prefix(stack, "EVENT#", "META")
    assert {claim["state"]["S"] for claim in claims} == {"done"}


def _data_key(sealed: bytes) -> bytes:
    """The KMS-encrypted data key inside a sealed value (envelope format version 1)."""
    version, length = struct.unpack_from(">BH", sealed)
    assert version == 1, "the stored format is unchanged: every reader opens it"
    return sealed[3 : 3 + length]


def test_one_data_key_per_context_per_event_each_value_bound_to_its_own(
    stack: Any, lambda_context: Any
) -> None:
    from tipline.adapters import envelope
    from tipline.config import get_settings
    from tipline.errors import DecryptionFailed

    oa = demo_oa()
    assert (
        deliver(lambda_context, text_event("báo tin: CANARY-KEYS", oa=oa), at_ms=now_ms())["statusCode"]
        == 200
    )
    [contact] = items_with_prefix(stack, "CONTACT#", "META")
    [tip] = items_with_prefix(stack, "TIP#", "META")
    entries = {e["direction"]["S"]: e for e in items_with_prefix(stack, "TIP#", "MSG#")}
    message, ack = bytes(entries["in"]["sealed"]["B"]), bytes(entries["out"]["sealed"]["B"])
    user_id = bytes(contact["user_id_sealed"]["B"])
    # The message and its acknowledgement share the event's key for the tip, each with its own nonce;
    # the citizen's Zalo id has a key of its own (its context opens for fewer roles).
    assert _data_key(message) == _data_key(ack) != _data_key(user_id)
    assert message[3 + len(_data_key(message)) :][:12] != ack[3 + len(_data_key(ack)) :][:12]
    key_id = get_settings().kms_key_id
    tip_context = {"oa_id": oa.oa_id, "tip_id": tip["tip_id"]["S"]}
    contact_context = {"oa_id": oa.oa_id, "contact": contact["pseudonym"]["S"]}
    assert b"CANARY-KEYS" in envelope.open_sealed(key_id, message, tip_context)
    assert b"CANARY-KEYS" not in envelope.open_sealed(key_id, ack, tip_context)
    envelope.open_sealed(key_id, user_id, contact_context)
    for blob, context in ((message, contact_context), (user_id, tip_context)):
        with pytest.raises(DecryptionFailed):
            envelope.open_sealed(key_id, blob, context)


def test_a_new_citizen_s_answered_command_seals_id_and_answer_with_one_data_key(
    stack: Any, lambda_context: Any
) -> None:
    """Both belong to the contact (the same context): one GenerateDataKey for the event, not two."""
    assert deliver(lambda_context, text_event("Liên hệ", user_id="889"), at_ms=now_ms())["statusCode"] == 200
    [contact] = items_with_prefix(stack, "CONTACT#", "META")
    [answer] = [item for item in items_with_prefix(stack, "CONTACT#") if item.get("kind", {}).get("S")]
    assert answer["kind"]["S"] == "auto_answer"
    assert _data_key(bytes(answer["sealed"]["B"])) == _data_key(bytes(contact["user_id_sealed"]["B"]))


@pytest.mark.parametrize("follow_up", [False, True], ids=["new tip", "follow-up"])
def test_a_fetch_job_that_cannot_be_queued_is_queued_when_the_spilled_event_completes(
    stack: Any, lambda_context: Any, follow_up: bool
) -> None:
    """The claim is done with the message's last write only when nothing is left to queue after it."""
    from tipline.adapters import aws

    oa, at = demo_oa(), now_ms()
    if follow_up:
        deliver(lambda_context, text_event("báo tin", user_id="515", oa=oa, ts=at - 1000), at_ms=at)
    image = zalo_body("user_send_image", oa, user_id="515", ts=at, msg_id="image-1")
    fetches = lambda params: params["QueueUrl"].endswith("-fetch")  # noqa: E731
    with Fault(
        aws.sqs(), "SendMessageBatch", "AWS.SimpleQueueService.ServiceUnavailable", when=fetches
    ) as fault:
        assert deliver(lambda_context, image, at_ms=at)["statusCode"] == 200
    assert fault.hits == 1 and drain(stack, "FetchQueue") == []
    assert run_spill_consumer(stack, lambda_context)["batchItemFailures"] == []
    assert len(drain(stack, "FetchQueue")) == 1
    inbound = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    assert len(inbound) == (2 if follow_up else 1)


def test_a_new_citizen_whose_contact_appears_meanwhile_is_stored_step_by_step_and_counted(
    stack: Any, lambda_context: Any
) -> None:
    """Another event of the same citizen creates the contact between this one's contact write and its
    transaction: the transaction writes nothing, and the message is stored step by step, counted in
    the citizen's burst window on the contact the other event created."""
    from tipline import wiring
    from tipline.adapters import aws
    from tipline.domain import Contact
    from tipline.intake.pseudonym import pseudonym

    oa, at = demo_oa(), now_ms()
    handle = pseudonym(wiring.pepper(), oa.oa_id, "616")
    rival = Contact(pseudonym=handle, oa_id=oa.oa_id, unit_id=oa.unit_id, last_interaction_ms=at - 1)
    created: list[bool] = []

    def other_event_first(**_: Any) -> None:
        if not created:
            created.append(wiring.table().create_contact(rival, burst_start_ms=at))

    client = aws.dynamodb()
    client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", other_event_first, "rival"
    )
    try:
        assert (
            deliver(lambda_context, text_event("báo tin", user_id="616", oa=oa, ts=at), at_ms=at)[
                "statusCode"
            ]
            == 200
        )
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="rival")
    assert created == [True]
    assert drain(stack, "IntakeSpillQueue") == [], "completed at once, not spilled"
    [contact] = items_with_prefix(stack, "CONTACT#", "META")
    assert contact["burst_count"]["N"] == "2" and contact["last_interaction_ms"]["N"] == str(at)
    [tip] = items_with_prefix(stack, "TIP#", "META")
    assert tip["message_count"]["N"] == "1" and contact["open_tip_id"]["S"] == tip["tip_id"]["S"]
    assert len(drain(stack, "RepliesQueue")) == 1
