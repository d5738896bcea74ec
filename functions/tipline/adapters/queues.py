"""SQS: replies.fifo, the intake spill queue and the fan-out queue."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable, TiplineError


def send(queue_url: str, body: str, group_id: str | None = None, dedup_id: str | None = None) -> str:
    kwargs: dict[str, str] = {"QueueUrl": queue_url, "MessageBody": body}
    if group_id is not None:
        kwargs["MessageGroupId"] = group_id
    if dedup_id is not None:
        kwargs["MessageDeduplicationId"] = dedup_id
    try:
        response = aws.sqs().send_message(**kwargs)  # type: ignore[arg-type]
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("sqs send_message failed") from exc
    return response["MessageId"]


# Message attributes of a parked message (tipline-ops dlq-inspect reads them): ids and reasons only.
PARK_REASON = "reason"
PARK_OA = "oa_id"
PARK_REASON_CHARS = 200


def fault_reason(fault: Exception, where: str) -> str:
    """A parked message's reason for an unexpected fault: our own errors say what failed (ids-free
    wording); anything else is named by its class only (its text could carry a value)."""
    what = f"{type(fault).__name__}: {fault}" if isinstance(fault, TiplineError) else type(fault).__name__
    return f"{what} (see the {where}'s log)"


def park(
    dead_letter_url: str,
    body: str,
    reason: str,
    oa_id: str | None,
    group_id: str | None,
    dedup_id: str,
    kept: Mapping[str, str] | None = None,
) -> None:
    """Put a message its consumer gives up on into the dead-letter queue itself, saying why and for
    which OA (what SQS's own move after maxReceiveCount cannot say). The body is kept as it was, and
    so are its ``kept`` attributes (a redrive's count, so a message that came back stays parked)."""
    if not dead_letter_url:
        raise DependencyUnavailable("no dead-letter queue is configured to park the message")
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in (kept or {}).items()}
    attributes[PARK_REASON] = {"DataType": "String", "StringValue": reason[:PARK_REASON_CHARS] or "-"}
    if oa_id:
        attributes[PARK_OA] = {"DataType": "String", "StringValue": oa_id}
    kwargs: dict[str, object] = {
        "QueueUrl": dead_letter_url,
        "MessageBody": body,
        "MessageAttributes": attributes,
    }
    if dead_letter_url.endswith(".fifo"):
        kwargs["MessageGroupId"] = group_id or dedup_id
        kwargs["MessageDeduplicationId"] = f"parked-{dedup_id}"[:128]
    try:
        aws.sqs().send_message(**kwargs)  # type: ignore[arg-type]
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("sqs send_message to the dead-letter queue failed") from exc


def send_batch(queue_url: str, bodies: list[str]) -> int:
    """Send bodies to a standard queue, ten per call; raises if any entry failed. Returns the count."""
    sent = 0
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        try:
            response = aws.sqs().send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("sqs send_message_batch failed") from exc
        if response.get("Failed"):
            raise DependencyUnavailable("sqs send_message_batch refused entries")
        sent += len(entries)
    return sent


def change_visibility(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """Postpone a received message's next delivery (backoff between retries)."""
    try:
        aws.sqs().change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("sqs change_message_visibility failed") from exc
