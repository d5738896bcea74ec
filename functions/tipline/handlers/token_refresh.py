"""Scheduled (hourly): renew every OA access token close to its expiry (tipline.tokens.store).

Access tokens last 25 h; a token is renewed once it has less than ``token_refresh_before_hours``
left, so a failing OA gets several hourly attempts (and the TokenRefreshFailed alarm) before its
replies stop. Each OA's seconds to expiry is emitted as TokenSecondsToExpiry.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import wiring
from tipline.observability import logger, metrics
from tipline.tokens.store import refresh_due


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    oa_ids = [account.oa_id for account in wiring.table().list_oas()]
    summary = refresh_due(wiring.token_store(), oa_ids)
    logger.info("token refresh pass", **asdict(summary))
    return asdict(summary)
