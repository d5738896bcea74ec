"""Sample webhook events for events/: one per Zalo event type, signed for the demo registry.

Run ``python -m tipline_local.samples`` to regenerate them (`make events`).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tipline.intake.events import ANONYMOUS_MESSAGE_EVENTS, KNOWN_EVENTS, USER_MESSAGE_EVENTS
from tipline.intake.signature import header_value

from tipline_local.accounts import AccountSeed, demo_accounts
from tipline_local.template import ROOT

WEBHOOK_DIR = ROOT / "events" / "webhook"
DEMO_USER = "246845883529197922"
BASE_TS = 1764300000000


def _attachment(kind: str) -> dict[str, Any]:
    cdn = "https://dl.zalo.me/demo"
    payloads: dict[str, dict[str, Any]] = {
        "image": {"thumbnail": f"{cdn}/thumb.jpg", "url": f"{cdn}/plate.jpg"},
        "gif": {"thumbnail": f"{cdn}/thumb.gif", "url": f"{cdn}/clip.gif"},
        "link": {"thumbnail": f"{cdn}/thumb.jpg", "description": "bài viết", "url": "https://example.vn/a"},
        "audio": {"url": f"{cdn}/voice.amr"},
        "video": {"url": f"{cdn}/fight.mp4", "thumbnail": f"{cdn}/fight.jpg", "description": "video"},
        "sticker": {"url": f"{cdn}/sticker.png", "id": "12345"},
        "location": {"coordinates": {"latitude": "21.028511", "longitude": "105.854167"}},
        "file": {
            "size": "2048",
            "name": "bang-ke.pdf",
            "checksum": "9e107d9d372bb6826bd81d3542a419d6",
            "type": "pdf",
            "url": f"{cdn}/bang-ke.pdf",
        },
        "business_card": {"id": "9876", "description": "danh thiếp"},
    }
    return {"type": kind, "payload": payloads[kind]}


def zalo_body(
    event_name: str,
    oa: AccountSeed,
    user_id: str = DEMO_USER,
    ts: int = BASE_TS,
    text: str = "Tôi muốn báo tin: có người lừa đảo chuyển khoản qua Zalo",
    msg_id: str | None = None,
) -> dict[str, Any]:
    """A Zalo webhook body of the given type, shaped as shared/zalo/ZALO-OA.md documents."""
    common = {"app_id": oa.app_id, "event_name": event_name, "timestamp": str(ts)}
    mid = msg_id or f"msg{abs(hash((event_name, user_id, ts))) % 10**18:018d}"
    if event_name in ("follow", "unfollow"):
        return {
            **common,
            "oa_id": oa.oa_id,
            "follower": {"id": user_id},
            "source": "oa_profile",
            "user_id_by_app": "552172779717587730",
        }
    parties = {"sender": {"id": user_id}, "recipient": {"id": oa.oa_id}}
    if event_name.startswith("oa_"):
        parties = {"sender": {"id": oa.oa_id}, "recipient": {"id": user_id}}
    body: dict[str, Any] = {**common, **parties}
    if event_name.endswith("_send_text"):
        body["message"] = {"msg_id": mid, "text": text}
    elif "_send_" in event_name:
        kind = event_name.split("_send_", 1)[1]
        body["message"] = {"msg_id": mid, "text": text, "attachments": [_attachment(kind)]}
        if event_name.startswith("anonymous_"):
            body["message"]["conversation_id"] = "conv-demo-1"
    elif event_name == "user_submit_info":
        body["info"] = {
            "name": "Nguyễn Văn A",
            "phone": "0912345678",
            "address": "12 Hàng Bài",
            "city": "Hà Nội",
            "district": "Hoàn Kiếm",
            "ward": "Tràng Tiền",
        }
    elif event_name == "user_received_message":
        body["message"] = {"msg_id": "zalo-sent-msg-1"}
    elif event_name == "user_seen_message":
        body["message"] = {"msg_ids": ["zalo-sent-msg-1"]}
    elif event_name in ("user_reacted_message", "oa_reacted_message"):
        body["message"] = {"msg_id": mid, "react_icon": "/-heart"}
    if event_name.startswith("anonymous_"):
        body["message"]["conversation_id"] = "conv-demo-1"
    return body


def http_api_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request event, as API Gateway gives it to a function.

    ``claims`` are what its JWT authorizer passes on (string values) after verifying a token.
    """
    route_key = f"{method} {route or path}"
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": (headers or {}).get("user-agent", "local"),
        },
        "requestId": "sample-request-id",
        "routeKey": route_key,
        "stage": "$default",
        "time": "28/Nov/2026:10:00:00 +0000",
        "timeEpoch": BASE_TS,
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"host": "127.0.0.1", **(headers or {})},
        "requestContext": context,
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages received from a queue (ReceiveMessage output)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {  # Lambda's shape: stringValue, dataType
                    name: {"stringValue": value.get("StringValue"), "dataType": value.get("DataType")}
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "ap-southeast-1",
            }
            for m in messages
        ]
    }


def api_event(
    body: bytes,
    oa: AccountSeed,
    signature: str | None = "valid",
    base64_body: bool = False,
    method: str = "POST",
    path: str = "/webhooks/zalo",
) -> dict[str, Any]:
    """A Zalo webhook delivery as API Gateway gives it to the webhook function."""
    headers = {"content-type": "application/json", "user-agent": "ZaloWebhook"}
    if signature == "valid":
        payload = json.loads(body) if body.strip() else {}
        headers["x-zevent-signature"] = header_value(
            oa.app_id, body, str(payload.get("timestamp", "")), oa.oa_secret_key
        )
    elif signature is not None:
        headers["x-zevent-signature"] = signature
    return http_api_event(method, path, body=body, headers=headers, base64_body=base64_body)


SAMPLE_EVENTS = (
    *USER_MESSAGE_EVENTS,
    *ANONYMOUS_MESSAGE_EVENTS[:2],
    *sorted(KNOWN_EVENTS - {*USER_MESSAGE_EVENTS, *ANONYMOUS_MESSAGE_EVENTS}),
    "oa_send_text",
)


def write_samples(directory: Path = WEBHOOK_DIR) -> list[Path]:
    oa = demo_accounts()[1]
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, name in enumerate(SAMPLE_EVENTS):
        body = json.dumps(
            zalo_body(name, oa, ts=BASE_TS + index * 1000, msg_id=f"demo{index:04d}{name}"),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        path = directory / f"{name}.json"
        path.write_text(json.dumps(api_event(body, oa), ensure_ascii=False, indent=2) + "\n", "utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_samples():
        print(written_path.relative_to(ROOT))
