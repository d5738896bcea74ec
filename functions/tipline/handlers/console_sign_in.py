"""Custom resource ``Custom::ConsoleSignIn`` (deploy time only): the console app client's settings.

CloudFormation sends Create, Update and Delete; every request is answered (SUCCESS or FAILED with a
reason), because a custom resource that never answers holds the stack for an hour. Create and Update
apply the settings whole (tipline.console.sign_in); Delete leaves the client alone: it goes with its
own resource (ConsoleAppClient), and without it there is nothing to sign in to.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from tipline.adapters import cfn_response, cognito
from tipline.console.sign_in import SignInSettings
from tipline.errors import TiplineError
from tipline.observability import logger

_REASON_LIMIT = 1000


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = str(event.get("RequestType"))
    physical_id = str(event.get("PhysicalResourceId") or event.get("LogicalResourceId") or "console-sign-in")
    status, reason = "SUCCESS", f"{request} done"
    try:
        if request in ("Create", "Update"):
            properties = {k: v for k, v in event.get("ResourceProperties", {}).items() if k != "ServiceToken"}
            settings = SignInSettings.model_validate(properties)
            cognito.replace_app_client_settings(
                settings.user_pool_id, settings.client_id, settings.client_parameters()
            )
            physical_id = settings.client_id
        elif request != "Delete":
            raise ValueError(f"unknown request type {request!r}")
    except ValidationError as exc:
        status, reason = "FAILED", _invalid(exc)
    except (TiplineError, ValueError) as exc:
        status, reason = "FAILED", str(exc)
    except Exception as exc:  # any other fault still answers, or the stack waits an hour
        logger.exception("console sign-in settings crashed", request=request)
        status, reason = "FAILED", f"unexpected {type(exc).__name__}; see the function's log"
    logger.info("console sign-in settings", request=request, status=status, client_id=physical_id)
    cfn_response.send(
        str(event["ResponseURL"]),
        {
            "Status": status,
            "Reason": reason[:_REASON_LIMIT],
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
        },
    )


def _invalid(exc: ValidationError) -> str:
    """Which properties are wrong and why (the values are settings, not secrets)."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]
    return "invalid ConsoleSignIn properties: " + "; ".join(problems)
