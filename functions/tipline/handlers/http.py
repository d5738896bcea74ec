"""API Gateway HTTP API (payload 2.0) request and response helpers shared by the HTTP handlers."""

from __future__ import annotations

import base64
import json
from typing import Any

# On every answer that may carry what a citizen wrote (or anything else of the system's): no browser,
# proxy or CDN keeps a copy, and no browser reads it as another content type than it says.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def response(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **PRIVATE_HEADERS},
        "body": json.dumps(body if body is not None else {}, ensure_ascii=False),
    }


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else bytes(body)


def header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value)
    return None


def method(event: dict[str, Any]) -> str:
    return str(event.get("requestContext", {}).get("http", {}).get("method", "POST")).upper()
