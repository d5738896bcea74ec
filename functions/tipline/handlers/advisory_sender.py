"""Consumer of the advisory fan-out queue: delivers each recipient of a message (ids only).

A message whose recipients did not all fit today (night, once-a-day, quota, Zalo busy) is
reported as failed after its visibility timeout was set to the next allowed time, so SQS brings it
back then; recipients already done are skipped by their delivery records. Any other failure
(the table, KMS, the token store) is retried with exponential backoff and jitter through the
visibility timeout; after the queue's maxReceiveCount the message is in the DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.adapters import queues
from tipline.advisories.delivery import Deliverer, deliver, parse
from tipline.config import get_settings
from tipline.errors import DependencyUnavailable, TiplineError
from tipline.handlers.sqs import receive_count
from tipline.observability import logger, metrics
from tipline.retry import backoff_seconds

processor = BatchProcessor(event_type=EventType.SQS)
processor.raise_on_entire_batch_failure = False


class Deferred(TiplineError):
    """Some recipients wait for the next allowed time; the message comes back then."""


def _deliverer() -> Deliverer:
    return Deliverer(table=wiring.table(), settings=get_settings(), tokens=wiring.token_store())


def _record_handler(record: SQSRecord) -> None:
    message = parse(record.body)
    try:
        outcome = deliver(_deliverer(), message, now_ms=clock.now_ms())
    except DependencyUnavailable:
        receives = receive_count(record)
        seconds = backoff_seconds(receives)
        queues.change_visibility(get_settings().fanout_queue_url, record.receipt_handle, seconds)
        logger.warning("advisory batch failed; retrying", message_id=record.message_id, seconds=seconds)
        raise
    counts = {
        "AdvisoryMessagesSent": outcome.sent,
        "AdvisoryMessagesFailed": outcome.failed,
        "AdvisoryMessagesSkipped": outcome.skipped,
        "AdvisoryMessagesDeferred": outcome.deferred,
        "AdvisoryMessagesDoneBefore": outcome.done_before,  # a duplicate fan-out message got there first
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.defer_seconds:
        queues.change_visibility(
            get_settings().fanout_queue_url, record.receipt_handle, outcome.defer_seconds
        )
        logger.info(
            "advisory recipients deferred", message_id=record.message_id, seconds=outcome.defer_seconds
        )
        raise Deferred(f"{outcome.deferred} recipients deferred")


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
    return response
