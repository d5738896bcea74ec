"""Consumer of replies.fifo: sends each queued reply to its citizen.

The batch engine (groups per citizen, concurrency, partial batch response) is
:mod:`tipline.replies.batch`; one reply's delivery is :mod:`tipline.replies.delivery`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import wiring
from tipline.config import get_settings
from tipline.handlers.sqs import receive_count, string_attributes
from tipline.observability import logger, metrics
from tipline.replies.batch import QueuedMessage, process
from tipline.replies.delivery import Sender


def _message(record: SQSRecord) -> QueuedMessage:
    return QueuedMessage(
        message_id=record.message_id,
        body=record.body,
        receipt_handle=record.receipt_handle,
        group_id=record.attributes.message_group_id,
        receive_count=receive_count(record),
        attributes=string_attributes(record),
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Built here, once per invocation, before the batch's workers start (they share it).
    sender = Sender(table=wiring.table(), settings=get_settings(), tokens=wiring.token_store())
    return process(sender, [_message(SQSRecord(raw)) for raw in event.get("Records", [])])
