"""The webhook's AWS calls before its answer, per event kind (issue 18): counted, not timed.

A new tip took 20 calls, a follow-up 11; each call adds DynamoDB, KMS or SQS latency to an answer
Zalo waits 2 seconds for. ``make bench`` reports the same counts over many events with a latency
model; this test keeps the budget from creeping back.
"""

from __future__ import annotations

from typing import Any

from fixtures.webhook import SAMPLES_RECEIVED_MS, demo_oa, items_with_prefix
from tipline.handlers import webhook
from tipline_local import webhook_calls


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
