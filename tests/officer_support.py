"""Calling the real officer API handler as API Gateway does after its JWT authorizer verified a token."""

from __future__ import annotations

import json
from typing import Any

from tipline.handlers import officer_api
from tipline_local.samples import http_api_event


def claims(unit_id: str, role: str = "officer", subject: str = "officer-1") -> dict[str, str]:
    """Claims as API Gateway's JWT authorizer passes them: strings, arrays rendered as "[a b]"."""
    return {
        "sub": subject,
        "cognito:username": subject,
        "cognito:groups": f"[{role}]",
        "custom:unit_id": unit_id,
        "token_use": "id",
    }


def call(
    context: Any,
    method: str,
    path: str,
    who: dict[str, Any] | None,
    query: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if body is not None else {}
    event = http_api_event(method, path, body=raw, headers=headers, query=query, claims=who)
    response = officer_api.handler(event, context)
    text = response.get("body") or "null"
    return int(response["statusCode"]), json.loads(text)
