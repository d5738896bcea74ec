"""Logger and Metrics shared by every function. Tracer is opt-in: it costs ~300-450 ms of cold start."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = "tipline"
NAMESPACE = "ZaloTipline"


class _OneAtATime(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider with its metric set changed and flushed under one lock.

    Powertools keeps one metric set per process. Lambda runs one invocation per container at a
    time, so there the lock is never contended. The local stack runs every function's invocations
    as threads of one process: without the lock, one invocation's flush could find the set emptied
    or resized by another's mid-way, and the exception left ``@metrics.log_metrics`` as a 500 for a
    webhook whose event was already stored (issue 14). A flush may then carry another concurrent
    invocation's counts; the totals stay right.
    """

    _lock = threading.RLock()

    def add_metric(self, name: str, unit: Any, value: float, resolution: Any = 60) -> None:
        with self._lock:
            super().add_metric(name, unit, value, resolution)

    def add_dimension(self, name: str, value: str) -> None:
        with self._lock:
            super().add_dimension(name, value)

    def clear_metrics(self) -> None:
        with self._lock:
            super().clear_metrics()

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._lock:
            super().flush_metrics(raise_on_empty_metrics)


def _metrics() -> Metrics:
    shared = Metrics(namespace=NAMESPACE, service=SERVICE)  # Powertools' process-wide sets
    shared.provider = _OneAtATime(
        namespace=NAMESPACE,
        service=SERVICE,
        metric_set=shared.metric_set,
        dimension_set=shared.dimension_set,
        metadata_set=shared.metadata_set,
        default_dimensions=shared.default_dimensions,
    )
    return shared


logger = Logger(service=SERVICE)
metrics = _metrics()
