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
