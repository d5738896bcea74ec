"""Helpers for driving the real webhook handler and looking at what it left behind in moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
from tipline import clock
from tipline.handlers import intake_spill, webhook
from tipline_local.accounts import AccountSeed, demo_accounts
from tipline_local.provision import Provisioned
from tipline_local.samples import api_event, sqs_event, zalo_body


def demo_oa(index: int = 1) -> AccountSeed:
    return demo_accounts()[index]


def now_ms() -> int:
    return clock.now_ms()


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def deliver(
    context: Any,
    body: dict[str, Any] | bytes,
    oa: AccountSeed | None = None,
    signature: str | None = "valid",
    base64_body: bool = False,
) -> dict[str, Any]:
    """POST one webhook body to the real handler, signed like Zalo unless told otherwise."""
    raw = body if isinstance(body, bytes) else encode(body)
    try:
        raw.decode()
    except UnicodeDecodeError:
        base64_body = True  # API Gateway base64-encodes bodies that are not text
    event = api_event(raw, oa or demo_oa(), signature=signature, base64_body=base64_body)
    return webhook.handler(event, context)  # type: ignore[no-any-return]


def text_event(
    text: str,
    user_id: str = "246845883529197922",
    oa: AccountSeed | None = None,
    msg_id: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    return zalo_body(
        "user_send_text", oa or demo_oa(), user_id=user_id, ts=ts or now_ms(), text=text, msg_id=msg_id
    )


def table_items(stack: Provisioned) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    name = stack.resolver.refs["TiplineTable"]
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": name}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def items_with_prefix(stack: Provisioned, prefix: str, sk_prefix: str = "") -> list[dict[str, Any]]:
    return [
        item
        for item in table_items(stack)
        if item["pk"]["S"].startswith(prefix) and item["sk"]["S"].startswith(sk_prefix)
    ]


def drain(stack: Provisioned, queue: str) -> list[dict[str, Any]]:
    """Receive and delete every visible message of a queue (by logical id)."""
    client = boto3.client("sqs")
    url = stack.queue_urls[queue]
    messages: list[dict[str, Any]] = []
    while True:
        page = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        )
        batch = page.get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(batch)


def run_spill_consumer(stack: Provisioned, context: Any) -> dict[str, Any]:
    messages = drain(stack, "IntakeSpillQueue")
    arn = stack.resolver.attributes["IntakeSpillQueue.Arn"]
    if not messages:
        return {"batchItemFailures": []}
    return intake_spill.handler(sqs_event(messages, arn), context)  # type: ignore[no-any-return]


class Fault:
    """Makes one AWS operation of a client fail with a service error code, at the botocore boundary."""

    def __init__(self, client: Any, operation: str, code: str, when: Any = None) -> None:
        self.client = client
        self.operation = operation
        self.code = code
        self.when = when or (lambda params: True)
        self.hits = 0
        self._event = f"provide-client-params.{client.meta.service_model.service_name}.{operation}"

    def _raise(self, params: dict[str, Any], **_: Any) -> None:
        from botocore.exceptions import ClientError

        if self.when(params):
            self.hits += 1
            raise ClientError({"Error": {"Code": self.code, "Message": "injected fault"}}, self.operation)

    def __enter__(self) -> Fault:
        self.client.meta.events.register(self._event, self._raise, unique_id=f"fault-{id(self)}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self._event, unique_id=f"fault-{id(self)}")


def receive(stack: Provisioned, queue: str, limit: int = 10) -> list[dict[str, Any]]:
    """Receive up to ``limit`` visible messages without deleting them, as Lambda's SQS poller does."""
    client = boto3.client("sqs")
    page = client.receive_message(
        QueueUrl=stack.queue_urls[queue],
        MaxNumberOfMessages=limit,
        WaitTimeSeconds=0,
        AttributeNames=["All"],
    )
    return list(page.get("Messages", []))


def delete(stack: Provisioned, queue: str, messages: list[dict[str, Any]]) -> None:
    client = boto3.client("sqs")
    for message in messages:
        client.delete_message(QueueUrl=stack.queue_urls[queue], ReceiptHandle=message["ReceiptHandle"])


def item_text(item: dict[str, Any]) -> str:
    """Everything a DynamoDB item holds, binary included, as searchable text (canary tests)."""
    parts = []
    for value in item.values():
        if "B" in value:
            parts.append(bytes(value["B"]).decode("latin-1"))
        else:
            parts.append(json.dumps(value, ensure_ascii=False))
    return " ".join(parts)
