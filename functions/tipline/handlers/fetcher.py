"""Consumer of the fetch queue: downloads one citizen attachment per message into the evidence bucket.

A transient failure postpones the message with backoff (its visibility timeout) and reports it as a
batch item failure; after the configured attempts the attachment is recorded as not retrieved. An
AWS fault is retried the same way and, after maxReceiveCount, the message waits in the DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.adapters import queues
from tipline.config import get_settings
from tipline.domain import FetchFailure
from tipline.evidence.model import FetchJob
from tipline.evidence.policy import decide
from tipline.evidence.service import Fetcher, RetryLater, fetch_attachment
from tipline.handlers.sqs import receive_count, string_attributes
from tipline.observability import logger, metrics

# Report every failed record, even when all failed: each one already carries its own backoff.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# The fetch queue's maxReceiveCount (template.yaml; a template test keeps them equal): on its last
# receive a failing job is parked in the DLQ by the fetcher itself, with its reason and OA.
MAX_RECEIVES = 8


def _parked(record: SQSRecord, job: FetchJob, reason: str) -> bool:
    """Park the job in the DLQ with its reason; False if that failed (then SQS moves it later)."""
    try:
        queues.park(
            get_settings().fetch_dead_letter_url,
            record.body,
            reason,
            job.oa_id,
            None,
            record.message_id,
            kept=string_attributes(record),
        )
    except Exception:
        logger.warning("could not park the fetch job", attachment_id=job.attachment_id)
        return False
    logger.warning(
        "fetch job parked in the dead-letter queue", attachment_id=job.attachment_id, reason=reason
    )
    return True


def _record_handler(record: SQSRecord) -> None:
    settings = get_settings()
    job = FetchJob.model_validate_json(record.body)
    attempt = receive_count(record)
    try:
        fetch_attachment(Fetcher(wiring.table(), settings), job, attempt, now_ms=clock.now_ms())
    except RetryLater as retry:
        if attempt >= MAX_RECEIVES and _parked(record, job, f"retried {attempt} times: {retry}"):
            return
        queues.change_visibility(settings.fetch_queue_url, record.receipt_handle, retry.delay_seconds)
        raise
    except Exception as fault:
        # An AWS fault: back off too; on the last receive the job is parked with its reason.
        delay = decide(FetchFailure.NETWORK, attempt, attempt + 1).delay_seconds
        logger.exception("attachment fetch failed", tip_id=job.tip_id, attachment_id=job.attachment_id)
        reason = queues.fault_reason(fault, "fetcher")
        if attempt >= MAX_RECEIVES and _parked(record, job, reason):
            return
        try:
            queues.change_visibility(settings.fetch_queue_url, record.receipt_handle, delay)
        except Exception:
            logger.warning("could not postpone the fetch job", attachment_id=job.attachment_id)
        raise


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event,
        record_handler=_record_handler,
        processor=processor,
        context=context,
    )
