"""Scheduled daily: delete closed tips whose retention has passed, and contacts with no tip left and
no interaction for as long (see tipline.lifecycle.retention)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.config import get_settings
from tipline.lifecycle.retention import forget_idle_contacts, sweep
from tipline.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    now_s = int(clock.now_s())
    deleted = sweep(wiring.table(), get_settings(), now_s=now_s)
    forgotten = forget_idle_contacts(wiring.table(), get_settings(), now_s=now_s)
    metrics.add_metric(name="ExpiredTipsDeleted", unit=MetricUnit.Count, value=deleted)
    metrics.add_metric(name="IdleContactsForgotten", unit=MetricUnit.Count, value=forgotten)
    return {"deleted": deleted, "contacts_forgotten": forgotten}
