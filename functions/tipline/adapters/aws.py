"""boto3 clients, built lazily and once per container.

boto3 honours ``AWS_ENDPOINT_URL`` (and per-service variants), which is how the local stack
points the same code at moto's server.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


# Per-service settings over the defaults: S3 moves attachments of up to tens of MB, and presigned
# links must be SigV4 on a path-style URL (which the local emulator serves too).
_SERVICE_OPTIONS: dict[str, dict[str, Any]] = {
    "s3": {"read_timeout": 30, "signature_version": "s3v4", "s3": {"addressing_style": "path"}},
}


@functools.cache
def _data_loader() -> Any:
    """botocore's reader of service models, shared: a session of its own per client would read and
    parse the same JSON models again for each one (a sixth of a second per client)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def _session() -> Any:
    """A fresh session (credentials and region as the environment says now) on the shared loader."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    loader = _data_loader()
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core)
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))  # boto3 appends its own each time
    return session


@functools.cache
def _client(service: str) -> Any:
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": 2,
        "read_timeout": 5,
        "retries": {"mode": "standard", "max_attempts": 3},
        "tcp_keepalive": True,
        **_SERVICE_OPTIONS.get(service, {}),
    }
    return _session().client(service, config=Config(**options))


def dynamodb() -> DynamoDBClient:
    return _client("dynamodb")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return _client("sqs")  # type: ignore[no-any-return]


def kms() -> KMSClient:
    return _client("kms")  # type: ignore[no-any-return]


def secretsmanager() -> SecretsManagerClient:
    return _client("secretsmanager")  # type: ignore[no-any-return]


def sns() -> SNSClient:
    return _client("sns")  # type: ignore[no-any-return]


def s3() -> S3Client:
    return _client("s3")  # type: ignore[no-any-return]


def cognito() -> Any:
    """Cognito user pools (no type stubs installed for it)."""
    return _client("cognito-idp")


def reset_clients() -> None:
    """Forget every client (tests switch endpoints between moto servers)."""
    _client.cache_clear()
