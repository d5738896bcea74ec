"""SQS: replies.fifo, the intake spill queue and the fan-out queue."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable


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
