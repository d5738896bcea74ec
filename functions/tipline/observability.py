"""Logger and Metrics shared by every function. Tracer is opt-in: it costs ~300-450 ms of cold start."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "tipline"
NAMESPACE = "ZaloTipline"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
