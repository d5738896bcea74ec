"""POST /webhooks/zalo: verify, store encrypted, queue the acknowledgement, answer 200 within 2 s.

Cold start matters here: no Tracer, no httpx, no event_handler resolver; clients are built on
first use.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from tipline import clock, wiring
from tipline.config import get_settings
from tipline.errors import DependencyUnavailable
from tipline.handlers.http import header, method, raw_body, response
from tipline.intake import gate, spill
from tipline.intake.service import ClaimedElsewhere, accept
from tipline.observability import NAMESPACE, SERVICE, logger, metrics


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _count_oa(oa_id: str) -> None:
    """Events per OA (dimension oa_id): `tipline-ops watch-oa` alarms when one OA falls silent."""
    with single_metric(name="OaEvents", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="oa_id", value=oa_id)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if method(event) != "POST":
        return response(200, {"status": "ok"})
    received_ms = clock.now_ms()
    signature = header(event, "X-ZEvent-Signature")
    try:
        raw = raw_body(event)
    except ValueError:  # binascii.Error: a body flagged base64 that is not
        return _rejected(gate.Rejected(400, "body is not valid base64"))
    try:
        admitted = gate.admit(raw, signature, wiring.table(), get_settings(), received_ms)
    except gate.Rejected as rejected:
        return _rejected(rejected)
    except DependencyUnavailable as failure:
        # The OA registry or the app's secret cannot be read now: keep the body unverified, sealed
        # with its signature header; the spill consumer verifies it before anything is stored.
        logger.warning("webhook not verifiable now, spilling it unverified", cause=str(failure))
        return _spill(raw, "unverified", "", received_ms, verified=False, signature=signature)
    except Exception:
        # A defect of the gate itself (a registry record that no longer parses, say): a 500 would
        # lose a signed event, so keep it for the spill consumer, which fails it into the DLQ.
        logger.exception("webhook gate failed, spilling the event unverified")
        return _spill(raw, "gate_failed", "", received_ms, verified=False, signature=signature)

    if admitted.kind == "probe":
        return response(200, {"status": "ok"})
    if admitted.kind == "stale":
        return _refuse_stale(admitted)
    if admitted.kind == "disabled":
        return _refuse_disabled(admitted)
    if admitted.event is None or admitted.oa is None:
        _count("WebhookIgnored")
        logger.info("event ignored", event_name=admitted.event_name)
        return response(200, {"status": "ignored"})

    spill.warm()
    try:
        outcome = accept(wiring.intake(), admitted.event, admitted.oa, now_ms=clock.now_ms())
    except ClaimedElsewhere:
        return _spill(raw, "claimed_elsewhere", admitted.event_name, received_ms)
    except Exception:  # anything after verification: keep the event, never lose it
        logger.exception("event not stored, spilling", event_name=admitted.event_name)
        return _spill(raw, "store_failed", admitted.event_name, received_ms)
    _count("WebhookAccepted")
    _count_oa(admitted.oa.oa_id)
    logger.info("event accepted", event_name=admitted.event_name, oa_id=admitted.oa.oa_id, outcome=outcome)
    return response(200, {"status": "accepted"})


def _rejected(rejected: gate.Rejected) -> dict[str, Any]:
    _count(f"WebhookRejected{rejected.status}")
    logger.info("webhook rejected", status=rejected.status, reason=rejected.reason)
    body: dict[str, Any] = {"error": rejected.reason}
    if rejected.fields:
        body["fields"] = rejected.fields
    return response(rejected.status, body)


def _refuse_stale(admitted: gate.Admitted) -> dict[str, Any]:
    """A signed event stamped too long ago (a replay outlives the dedupe memory) or too far ahead:
    nothing is stored or sent. 200, not an error: Zalo must not retry it, and a replayer learns
    nothing it did not know."""
    _count("WebhookStale")
    oa_id = admitted.oa.oa_id if admitted.oa else None
    logger.warning("stale event refused", event_name=admitted.event_name, oa_id=oa_id, age_ms=admitted.age_ms)
    return response(200, {"status": "refused", "reason": "event too old or stamped in the future"})


def _refuse_disabled(admitted: gate.Admitted) -> dict[str, Any]:
    """An event of an OA that operations disabled (`tipline-ops disable-oa`): nothing is stored.
    200, so Zalo does not retry it; counted so the dashboard shows what was refused."""
    _count("WebhookOaDisabled")
    oa_id = admitted.oa.oa_id if admitted.oa else None
    logger.info("event of a disabled OA refused", event_name=admitted.event_name, oa_id=oa_id)
    return response(200, {"status": "refused", "reason": "this OA is disabled"})


def _spill(
    raw: bytes,
    reason: str,
    event_name: str,
    received_ms: int,
    verified: bool = True,
    signature: str | None = None,
) -> dict[str, Any]:
    try:
        spill.spill(raw, reason, received_ms, verified=verified, signature=signature)
    except Exception:
        logger.exception("event could not be kept", event_name=event_name, reason=reason)
        _count("WebhookLost")
        return response(503, {"error": "temporarily unavailable"})
    _count("WebhookSpilled")
    logger.info("event spilled", event_name=event_name, reason=reason)
    return response(200, {"status": "accepted"})
