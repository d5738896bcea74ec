"""EventBridge schedule (every 5 minutes, Asia/Ho_Chi_Minh): fan out the advisories that are due."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.advisories.delivery import plan_due
from tipline.config import get_settings
from tipline.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    plan = plan_due(wiring.table(), get_settings(), clock.now_ms())
    metrics.add_metric(name="AdvisoryRecipientsQueued", unit=MetricUnit.Count, value=plan.enqueued)
    return {"advisories": plan.advisories, "targeted": plan.targeted, "enqueued": plan.enqueued}
