"""Scheduled daily: delete closed tips whose retention has passed (see tipline.lifecycle.retention)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.config import get_settings
from tipline.lifecycle.retention import sweep
from tipline.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    deleted = sweep(wiring.table(), get_settings(), now_s=int(clock.now_s()))
    metrics.add_metric(name="ExpiredTipsDeleted", unit=MetricUnit.Count, value=deleted)
    return {"deleted": deleted}
