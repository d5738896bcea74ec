"""SQS record helpers shared by the queue consumers."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def receive_count(record: SQSRecord) -> int:
    """How many times SQS has handed this message out, this time included (1 if it does not say)."""
    try:
        return max(1, int(record.attributes.approximate_receive_count))
    except (TypeError, ValueError):
        return 1


def string_attributes(record: SQSRecord) -> dict[str, str]:
    """The record's string message attributes (a redrive's count, say), to keep when it is parked."""
    found: dict[str, str] = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        text = value.get("stringValue") if isinstance(value, dict) else None
        if isinstance(text, str):
            found[name] = text
    return found
