"""Consumer of the audit table's stream: every change goes to the write-once archive.

A new record is archived; an overwrite or a delete by anyone but DynamoDB's TTL is archived too
(the archive keeps the original) and counted as ``AuditRecordAltered``, which raises an alarm. A
record that cannot be archived is retried by the event source mapping (bisecting the batch), and a
batch it gives up on is reported to the archive's DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline.audit import archive_change
from tipline.config import get_settings
from tipline.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _record_handler(record: DynamoDBRecord) -> None:
    settings = get_settings()
    archived = archive_change(record.raw_event, settings.audit_archive_bucket, settings.kms_key_id)
    if archived.outcome == "altered":
        metrics.add_metric(name="AuditRecordAltered", unit=MetricUnit.Count, value=1)
        logger.error("audit record altered", event_name=record.raw_event.get("eventName"), key=archived.key)
    elif archived.outcome == "archived":
        metrics.add_metric(name="AuditRecordsArchived", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
