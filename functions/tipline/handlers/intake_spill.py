"""Consumer of the intake spill queue: completes events the webhook accepted but could not finish.

Every spilled event passes the webhook's gate again, judged at the time the webhook received it:
an event spilled unverified (the OA registry or the app's secret could not be read) has its
signature checked first, and a forged one is dropped here, stored nowhere; an event that was fresh
when received is not refused because it waited in the queue. A record that fails for any other
reason is retried by SQS and, after maxReceiveCount, parked in the spill DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.config import get_settings
from tipline.intake import gate
from tipline.intake.service import accept
from tipline.intake.spill import unspill
from tipline.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord) -> None:
    spilled = unspill(record.body)
    try:
        admitted = gate.admit(
            spilled.raw,
            spilled.signature,
            wiring.table(),
            get_settings(),
            received_ms=spilled.received_ms,
            verified=spilled.verified,
        )
    except gate.Rejected as rejected:  # only an unverified spill can fail the gate: forged or broken
        metrics.add_metric(name="SpillRejected", unit=MetricUnit.Count, value=1)
        logger.warning(
            "spilled event rejected",
            status=rejected.status,
            reason=rejected.reason,
            spill_reason=spilled.reason,
            message_id=record.message_id,
        )
        return
    if admitted.event is None or admitted.oa is None:
        if admitted.kind == "stale":
            metrics.add_metric(name="WebhookStale", unit=MetricUnit.Count, value=1)
        if admitted.kind == "disabled":
            metrics.add_metric(name="WebhookOaDisabled", unit=MetricUnit.Count, value=1)
        logger.info("spilled event not applied", kind=admitted.kind, message_id=record.message_id)
        return
    outcome = accept(wiring.intake(), admitted.event, admitted.oa, now_ms=clock.now_ms(), takeover=True)
    logger.info(
        "spilled event completed",
        event_name=admitted.event_name,
        outcome=outcome,
        verified_here=not spilled.verified,
        message_id=record.message_id,
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
