"""Fault injection at the adapter boundary (botocore) for the intake path.

For each fault, events are delivered while one AWS operation fails at various points of the work;
afterwards the spill consumer runs until its queue is empty. Invariants: every webhook answered 200
ends as exactly one stored message and one acknowledgement; a 503 leaves nothing half-visible that
would later be doubled; nothing is lost between the two.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fixtures.webhook import Fault, deliver, drain, items_with_prefix, now_ms, run_spill_consumer, text_event
from tipline.adapters import aws
from tipline.domain import QueuedReply

pytestmark = pytest.mark.usefixtures("stack")

FAULTS = {
    "dynamodb throttled on PutItem": ("dynamodb", "PutItem", "ProvisionedThroughputExceededException"),
    "dynamodb throttled on UpdateItem": ("dynamodb", "UpdateItem", "ThrottlingException"),
    "dynamodb error on GetItem": ("dynamodb", "GetItem", "InternalServerError"),
    "dynamodb transaction fails": ("dynamodb", "TransactWriteItems", "InternalServerError"),
    "sqs send fails": ("sqs", "SendMessage", "AWS.SimpleQueueService.ServiceUnavailable"),
    "kms throttled": ("kms", "GenerateDataKey", "ThrottlingException"),
}


def _client(service: str) -> Any:
    return getattr(aws, service)()


class EveryNth:
    """Fails the Nth matching call of each delivery, moving the failure through the work."""

    def __init__(self, nth: int, spare_spill: bool) -> None:
        self.nth = nth
        self.spare_spill = spare_spill
        self.count = itertools.count(1)

    def __call__(self, params: dict[str, Any]) -> bool:
        if self.spare_spill and "spill" in str(params.get("QueueUrl", "")):
            return False  # the spill queue itself stays up: that fault has its own test
        return next(self.count) == self.nth


def _complete_spills(stack: Any, context: Any) -> None:
    for _ in range(10):
        result = run_spill_consumer(stack, context)
        assert result["batchItemFailures"] == []
        if not drain(stack, "IntakeSpillQueue"):
            return


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_accepted_event_ends_as_exactly_one_message_and_one_ack(
    fault: str, stack: Any, lambda_context: Any
) -> None:
    service, operation, code = FAULTS[fault]
    client = _client(service)
    deliver(lambda_context, text_event("khởi động", user_id="1"))  # a warm container: it holds a spill key
    drain(stack, "RepliesQueue")
    accepted: set[str] = {"1"}
    refused: set[str] = set()
    start = now_ms()
    for nth in range(1, 9):
        user = str(1000 + nth)
        with Fault(client, operation, code, when=EveryNth(nth, spare_spill=True)):
            status = deliver(lambda_context, text_event(f"tin báo số {nth}", user_id=user, ts=start + nth))[
                "statusCode"
            ]
        assert status in {200, 503}
        (accepted if status == 200 else refused).add(user)
    _complete_spills(stack, lambda_context)

    inbound = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    tips = items_with_prefix(stack, "TIP#", "META")
    assert len(inbound) == len(tips) == len(accepted), (len(inbound), len(tips), accepted, refused)
    acks = [QueuedReply.model_validate_json(m["Body"]) for m in drain(stack, "RepliesQueue")]
    assert len({a.reply_id for a in acks}) == len(acks) == len(accepted) - 1  # the warm-up's ack was drained
    assert refused == set(), "with the spill queue up, a warm container keeps every verified event"


def test_a_spill_queue_outage_after_a_store_failure_answers_503_and_keeps_nothing_half_done(
    stack: Any, lambda_context: Any
) -> None:
    deliver(lambda_context, text_event("khởi động", user_id="1"))
    drain(stack, "RepliesQueue")
    body = text_event("không giữ được", user_id="2", msg_id="kept-once", ts=now_ms())
    tip_writes = Fault(
        aws.dynamodb(),
        "PutItem",
        "InternalServerError",
        when=lambda p: p["Item"]["pk"]["S"].startswith("TIP#"),
    )
    with tip_writes, Fault(aws.sqs(), "SendMessage", "AWS.SimpleQueueService.ServiceUnavailable"):
        assert deliver(lambda_context, body)["statusCode"] == 503
    # Zalo does not reliably redeliver after an error; when it does, the event completes exactly once.
    assert deliver(lambda_context, body)["statusCode"] == 200
    assert deliver(lambda_context, body)["statusCode"] == 200
    _complete_spills(stack, lambda_context)
    inbound = [e for e in items_with_prefix(stack, "TIP#", "MSG#") if e["direction"]["S"] == "in"]
    assert len(inbound) == 2  # the warm-up and this one
    assert len(drain(stack, "RepliesQueue")) == 1


# -- the step-by-step path: what completes an event whose first attempt stopped half-way -------------
def _contact_of(lambda_context: Any, user_id: str, text: str | None = None) -> Any:
    """The contact of a citizen who followed (no tip) or, with ``text``, wrote a tip."""
    from fixtures.webhook import demo_oa
    from tipline import wiring
    from tipline.intake.pseudonym import pseudonym
    from tipline_local.samples import zalo_body

    oa = demo_oa()
    body = (
        text_event(text, user_id=user_id) if text else zalo_body("follow", oa, user_id=user_id, ts=now_ms())
    )
    assert deliver(lambda_context, body)["statusCode"] == 200
    contact = wiring.table().get_contact(pseudonym(wiring.pepper(), oa.oa_id, user_id))
    assert contact is not None
    return contact


def _step_by_step(contact: Any, event_key: str, at_ms: int, grouped: bool = False) -> tuple[Any, bool]:
    from fixtures.webhook import demo_oa
    from tipline import wiring
    from tipline.intake.service import _open_or_join_tip

    oa = wiring.table().get_oa(demo_oa().oa_id)
    assert oa is not None
    return _open_or_join_tip(wiring.intake(), oa, contact, event_key, at_ms, grouped)


def test_a_retry_whose_first_attempt_pointed_the_contact_but_stored_no_tip_creates_that_tip(
    stack: Any, lambda_context: Any
) -> None:
    from tipline import wiring

    contact = _contact_of(lambda_context, "6100000000000000001")
    tip_id, at_ms = wiring.intake().derive("tip", "event-1"), now_ms()
    assert wiring.table().point_contact_to_tip(contact.pseudonym, tip_id, at_ms, expected=None)
    pointed = wiring.table().get_contact(contact.pseudonym)
    tip, opened = _step_by_step(pointed, "event-1", at_ms)
    assert opened and tip == wiring.table().get_tip(tip_id)
    assert (tip.oa_id, tip.unit_id, tip.pseudonym, tip.created_at_ms) == (
        contact.oa_id,
        contact.unit_id,
        contact.pseudonym,
        at_ms,
    )
    assert _step_by_step(pointed, "event-1", at_ms) == (tip, True), "a second retry finds the same tip"


def test_step_by_step_a_message_joins_an_open_tip_and_opens_one_after_a_resolved_tip(
    stack: Any, lambda_context: Any
) -> None:
    from tipline import wiring
    from tipline.domain import TipStatus

    contact = _contact_of(lambda_context, "6100000000000000002", "có người lừa đảo")
    open_tip = wiring.table().get_tip(contact.open_tip_id)
    assert open_tip is not None
    at_ms = now_ms() + 10
    assert _step_by_step(contact, "event-2", at_ms) == (open_tip, False)
    wiring.table().update_tip(open_tip, {"status": TipStatus.RESOLVED})
    tip, opened = _step_by_step(contact, "event-3", at_ms)
    assert opened and tip.tip_id == wiring.intake().derive("tip", "event-3") != open_tip.tip_id
    pointed = wiring.table().get_contact(contact.pseudonym)
    assert pointed is not None and (pointed.open_tip_id, pointed.open_tip_at_ms) == (tip.tip_id, at_ms)


def test_step_by_step_a_grouped_message_joins_the_open_tip_even_past_the_join_window(
    stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipline.config import get_settings

    monkeypatch.setenv("TIP_JOIN_HOURS", "0")
    get_settings.cache_clear()
    contact = _contact_of(lambda_context, "6100000000000000003", "có người lừa đảo")
    later = now_ms() + 60_000
    tip, opened = _step_by_step(contact, "event-4", later, grouped=True)
    assert (tip.tip_id, opened) == (contact.open_tip_id, False)
    tip, opened = _step_by_step(contact, "event-5", later, grouped=False)
    assert opened and tip.tip_id != contact.open_tip_id


def test_step_by_step_a_message_that_lost_the_race_for_the_contact_joins_the_winner_s_tip(
    stack: Any, lambda_context: Any
) -> None:
    from tipline import wiring

    follower = _contact_of(lambda_context, "6100000000000000004")  # no tip yet, as this message saw it
    winner = _contact_of(lambda_context, "6100000000000000004", "tin báo đầu tiên")  # another message won
    assert follower.open_tip_id is None and winner.open_tip_id is not None
    tip, opened = _step_by_step(follower, "event-6", now_ms() + 10)
    assert (tip.tip_id, opened) == (winner.open_tip_id, False)
    assert wiring.table().get_tip(wiring.intake().derive("tip", "event-6")) is None, "no second tip"


def test_a_follow_that_fails_is_completed_by_the_spill_consumer(stack: Any, lambda_context: Any) -> None:
    """The one-transaction follow fails: the event is spilled, and its retry applies it step by step."""
    from fixtures.webhook import demo_oa
    from tipline_local.samples import zalo_body

    body = zalo_body("follow", demo_oa(), user_id="6200000000000000001", ts=now_ms())
    with Fault(_client("dynamodb"), "TransactWriteItems", "InternalServerError"):
        assert deliver(lambda_context, body)["statusCode"] == 200
    assert not items_with_prefix(stack, "CONTACT#", "META"), "nothing written: the event was spilled"
    _complete_spills(stack, lambda_context)
    [contact] = items_with_prefix(stack, "CONTACT#", "META")
    assert contact["follower"]["BOOL"] is True and "user_id_sealed" in contact
    assert int(contact["last_interaction_ms"]["N"]) == int(body["timestamp"])
