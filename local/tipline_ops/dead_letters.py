"""Dead letters of every queue: `tipline-ops dlq-inspect` (totals, reasons, OA, first and last seen,
never a citizen's text) and what `redrive` needs to count and park messages that came back."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import boto3
from tipline import clock
from tipline.config import get_settings

from tipline_ops.commands import QUEUES, BadInput

# A message attribute the redrive sets: how often a message was moved back from its dead-letter queue.
REDRIVES = "redrives"


# A message that comes back after this many redrives is parked: it stays in the DLQ for a person.
MAX_REDRIVES = 1


def dlq_inspect(args: argparse.Namespace) -> int:
    """A dead-letter queue: its total, and per message id, receives, redrives, OA, reason, first and
    last seen. Never a body (the OA id and reason are read from it, nothing else is printed)."""
    if not 1 <= args.limit <= 1000:
        raise BadInput("--limit must be between 1 and 1000")
    dlq_url = dead_letter_queue_url(args.queue)
    sqs = boto3.client("sqs")
    total = dead_letter_total(dlq_url)
    now_ms = clock.now_ms()
    rows = [
        _row(message, now_ms)
        for message in sample_dead_letters(dlq_url, min(args.limit, total) if total else args.limit)
    ]
    for row in rows:  # visible again at once: inspecting must not delay a redrive
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=row.pop("handle"), VisibilityTimeout=0)
    if args.json:
        document = {"queue": args.queue, "dead_letter_queue": dlq_url, "total": total, "messages": rows}
        print(json.dumps(document, indent=1))
        return 0
    print(f"{args.queue} dead-letter queue: {len(rows)} of {total} message(s) shown")
    if rows:
        ages = [row["first_seen_s_ago"] for row in rows]
        print(f"  oldest first seen {max(ages)}s ago, newest {min(ages)}s ago")
    for row in rows:
        print(
            f"  {row['message_id']}  oa={row['oa_id']}  receives={row['receives']}  "
            f"redrives={row['redrives']}  first_seen={row['first_seen_s_ago']}s ago  "
            f"last_seen={row['last_seen_s_ago']}s ago  reason={row['reason']}"
        )
    return 0


def dead_letter_total(dlq_url: str) -> int:
    names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    answer: Any = boto3.client("sqs").get_queue_attributes(QueueUrl=dlq_url, AttributeNames=names)
    return sum(int(answer.get("Attributes", {}).get(name, 0)) for name in names)


def sample_dead_letters(dlq_url: str, wanted: int) -> list[dict[str, Any]]:
    """Up to ``wanted`` distinct messages, held invisible for 60 s (the caller releases them).

    SQS answers a receive from a sample of its servers, so an empty answer is not "no more": keep
    asking (long polling, which asks them all) until ``wanted`` are held or three answers are empty.
    """
    sqs = boto3.client("sqs")
    held: dict[str, dict[str, Any]] = {}
    empty = 0
    while len(held) < wanted and empty < 3:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, wanted - len(held)),
            VisibilityTimeout=60,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        empty = 0 if batch else empty + 1
        for message in batch:
            held.setdefault(message["MessageId"], dict(message))
    return list(held.values())


def redrives_of(message: dict[str, Any]) -> int:
    value = message.get("MessageAttributes", {}).get(REDRIVES, {}).get("StringValue", "0")
    return int(value) if str(value).isdigit() else 0


def _row(message: dict[str, Any], now_ms: int) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    sent = int(attributes.get("SentTimestamp", now_ms))
    last = int(attributes.get("ApproximateFirstReceiveTimestamp", sent))
    return {
        "message_id": message["MessageId"],
        "oa_id": _attribute(message, "oa_id", r"[0-9]{1,32}") or _body_field(message, "oa_id") or "-",
        "receives": int(attributes.get("ApproximateReceiveCount", 0)),
        "redrives": redrives_of(message),
        "first_seen_s_ago": max(0, now_ms - sent) // 1000,
        "last_seen_s_ago": max(0, now_ms - max(sent, last)) // 1000,
        "reason": _reason(message),
        "handle": message["ReceiptHandle"],
    }


def dead_letter_queue_url(queue: str) -> str:
    if queue not in QUEUES:
        raise BadInput(f"--queue must be one of {', '.join(QUEUES)}")
    url = str(getattr(get_settings(), QUEUES[queue]))
    if not url:
        raise BadInput(f"the {queue} queue is not configured here")
    sqs = boto3.client("sqs")
    redrive = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    if "RedrivePolicy" not in redrive:
        raise BadInput(f"the {queue} queue has no dead-letter queue")
    arn = json.loads(redrive["RedrivePolicy"])["deadLetterTargetArn"]
    account, name = arn.split(":")[4], arn.split(":")[5]
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def _reason(message: dict[str, Any]) -> str:
    """The reason its consumer recorded when it parked it (message attribute), or the body's own
    'reason' field (a spilled event's)."""
    attribute = _attribute(message, "reason", r"[^\x00-\x1f]{1,200}")
    if attribute:
        return attribute[:REASON_CHARS]
    return (_body_field(message, "reason", r"[^\x00-\x1f]{1,200}") or "-")[:REASON_CHARS]


REASON_CHARS = 120


def _attribute(message: dict[str, Any], name: str, pattern: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return value if isinstance(value, str) and re.fullmatch(pattern, value) else None


def _body_field(message: dict[str, Any], name: str, pattern: str = r"[\w.:-]{1,64}") -> str | None:
    """One id-like field of a JSON body (bodies carry ids only; nothing else of them is shown)."""
    try:
        body = json.loads(message.get("Body", ""))
    except json.JSONDecodeError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and re.fullmatch(pattern, value) else None


def register(subcommands: Any) -> None:
    """Add this module's subcommands to tipline-ops's argparse subparsers."""
    command = subcommands.add_parser(
        "dlq-inspect", help="list a DLQ's message ids, receive counts, ages, reasons"
    )
    command.add_argument("--queue", required=True, choices=sorted(QUEUES))
    command.add_argument("--limit", type=int, default=100)
    command.add_argument("--json", action="store_true")
    command.set_defaults(run=dlq_inspect)
