"""Cognito user pools: the console app client's settings (deploy time only)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable


def replace_app_client_settings(user_pool_id: str, client_id: str, parameters: dict[str, Any]) -> None:
    """Set every setting of the app client at once (Cognito resets whatever an update leaves out).

    The client keeps its name; it never has a secret to lose (a secret cannot be added by an update).
    """
    client = aws.cognito()
    try:
        current = client.describe_user_pool_client(UserPoolId=user_pool_id, ClientId=client_id)
        client.update_user_pool_client(
            UserPoolId=user_pool_id,
            ClientId=client_id,
            ClientName=current["UserPoolClient"]["ClientName"],
            **parameters,
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable(f"cognito-idp refused the app client settings: {_code(exc)}") from exc


def _code(exc: Exception) -> str:
    """Cognito's error code and message (they name the setting at fault, never a secret)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"[:300]
    return type(exc).__name__
