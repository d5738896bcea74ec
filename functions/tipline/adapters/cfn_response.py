"""The answer of a CloudFormation custom resource: one PUT of JSON to the request's presigned URL."""

from __future__ import annotations

import json
from typing import Any

from tipline.errors import DependencyUnavailable


def send(response_url: str, body: dict[str, Any]) -> None:
    """Deliver the result; raises so that Lambda retries the invocation when S3 did not take it."""
    import httpx

    try:
        answer = httpx.put(response_url, content=json.dumps(body).encode(), timeout=10.0)
    except httpx.HTTPError as exc:
        raise DependencyUnavailable("custom resource response not delivered") from exc
    if answer.status_code >= 300:
        raise DependencyUnavailable(f"custom resource response refused: HTTP {answer.status_code}")
