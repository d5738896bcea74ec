"""Consumer of replies.fifo: sends each queued reply to its citizen (tipline.replies.sender).

Powertools' FIFO batch processor with ``skip_group_on_error``: a message that fails stops the rest
of its own message group (one citizen) in this batch, never the other citizens'. A failed message
postpones itself (its visibility timeout: backoff with jitter, or 0 for a poison message so it
reaches the dead-letter queue after maxReceiveCount without waiting); the skipped ones behind it are
made visible again at once, and SQS holds them back until their group's head is delivered.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import wiring
from tipline.adapters import queues
from tipline.config import get_settings
from tipline.domain import DeliveryStatus
from tipline.observability import logger, metrics
from tipline.replies.sender import Poison, RetryLater, Sender, backoff_seconds, deliver, parse

processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# Report every failed record, even when all failed: each one already set its own visibility.
processor.raise_on_entire_batch_failure = False

_METRIC = {
    DeliveryStatus.SENT: "RepliesSent",
    DeliveryStatus.FAILED: "RepliesFailed",
}
_handled: set[str] = set()


def _sender() -> Sender:
    return Sender(table=wiring.table(), settings=get_settings(), tokens=wiring.token_store())


def _attempt(record: SQSRecord) -> int:
    try:
        return max(1, int(record.attributes.approximate_receive_count))
    except (TypeError, ValueError):
        return 1


def _postpone(record: SQSRecord, seconds: int) -> None:
    try:
        queues.change_visibility(get_settings().replies_queue_url, record.receipt_handle, seconds)
    except Exception:
        logger.warning("could not change a reply's visibility", message_id=record.message_id)


def _record_handler(record: SQSRecord) -> None:
    _handled.add(record.message_id)
    attempt = _attempt(record)
    try:
        reply = parse(record.body)
        status = deliver(_sender(), reply, attempt, now_ms=int(time.time() * 1000))
    except RetryLater as retry:
        metrics.add_metric(name="RepliesDeferred", unit=MetricUnit.Count, value=1)
        _postpone(record, retry.delay_seconds)
        raise
    except Poison as poison:
        logger.error(
            "poison reply message", message_id=record.message_id, reason=str(poison), receives=attempt
        )
        _postpone(record, 0)
        raise
    except Exception:
        # An AWS fault (DynamoDB, KMS, Secrets Manager): back off too; after maxReceiveCount, the DLQ.
        logger.exception("reply delivery failed", message_id=record.message_id, receives=attempt)
        _postpone(record, backoff_seconds(attempt))
        raise
    if status in _METRIC:
        metrics.add_metric(name=_METRIC[status], unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _handled.clear()
    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        if record.message_id in failed and record.message_id not in _handled:
            _postpone(record, 0)  # skipped behind its group's failed head: SQS keeps the order
    return response
