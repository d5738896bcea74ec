"""Consumer of the intake spill queue: completes events the webhook accepted but could not store.

A record that still fails is retried by SQS and, after maxReceiveCount, parked in the spill DLQ.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.config import get_settings
from tipline.errors import NotFound
from tipline.intake.events import oa_id_of, parse_event
from tipline.intake.service import accept
from tipline.intake.spill import unspill
from tipline.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord) -> None:
    payload = json.loads(unspill(record.body))
    oa_id = oa_id_of(payload)
    oa = wiring.table().get_oa(oa_id, cache_seconds=get_settings().registry_cache_seconds) if oa_id else None
    if oa is None:
        raise NotFound("spilled event names an OA that is no longer registered")
    event = parse_event(payload)
    outcome = accept(wiring.intake(), event, oa, now_ms=clock.now_ms(), takeover=True)
    logger.info(
        "spilled event completed", event_name=event.event_name, outcome=outcome, message_id=record.message_id
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
