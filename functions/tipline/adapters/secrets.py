"""Secrets Manager reads, cached per container for a short time."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable, NotFound

_cache: dict[str, tuple[float, str]] = {}


def secret_string(secret_id: str, cache_seconds: float = 300.0) -> str:
    cached = _cache.get(secret_id)
    if cached and time.monotonic() - cached[0] < cache_seconds:
        return cached[1]
    try:
        value = aws.secretsmanager().get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise NotFound("secret not found") from exc
        raise DependencyUnavailable("secretsmanager get_secret_value failed") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailable("secretsmanager get_secret_value failed") from exc
    _cache[secret_id] = (time.monotonic(), value)
    return value


def secret_json(secret_id: str, cache_seconds: float = 300.0) -> dict[str, Any]:
    try:
        value = json.loads(secret_string(secret_id, cache_seconds))
    except ValueError as exc:
        raise NotFound("secret is not a JSON object") from exc
    if not isinstance(value, dict):
        raise NotFound("secret is not a JSON object")
    return value


def forget() -> None:
    _cache.clear()


def put_secret_json(secret_id: str, value: dict[str, Any], kms_key_id: str) -> None:
    """Create or replace a JSON secret, encrypted with the project's key (ops registration; never
    called by a webhook). An existing secret under another key (the account's default
    aws/secretsmanager key) moves to the project's key with its new value."""
    client = aws.secretsmanager()
    body = json.dumps(value)
    try:
        client.update_secret(SecretId=secret_id, SecretString=body, KmsKeyId=kms_key_id)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=secret_id, SecretString=body, KmsKeyId=kms_key_id)
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("secretsmanager update_secret failed") from exc
    _cache.pop(secret_id, None)


def secret_exists(secret_id: str) -> bool:
    """Whether a secret exists, without reading (decrypting) it."""
    client = aws.secretsmanager()
    try:
        client.describe_secret(SecretId=secret_id)
    except client.exceptions.ResourceNotFoundException:
        return False
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("secretsmanager describe_secret failed") from exc
    return True
