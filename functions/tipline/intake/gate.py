"""Admission of a webhook request: size, JSON, signature, schema. Nothing is stored before it passes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tipline.adapters import secrets
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import OaAccount
from tipline.errors import NotFound
from tipline.intake.events import KNOWN_EVENTS, ZaloEvent, oa_id_of, parse_event
from tipline.intake.signature import signature_matches

UNAUTHORISED = "missing or invalid signature"


class Rejected(Exception):
    def __init__(self, status: int, reason: str, fields: list[str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.fields = fields or []


@dataclass(frozen=True)
class Admitted:
    """A request that passed the gate. ``event`` is None for probes and deliberately ignored events."""

    kind: str  # "event", "probe" or "ignored"
    oa: OaAccount | None = None
    event: ZaloEvent | None = None
    event_name: str = ""


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise Rejected(400, "body must be a JSON object")
    return payload


def admit(raw: bytes, signature: str | None, table: Table, settings: Settings) -> Admitted:
    if len(raw) > settings.max_body_bytes:
        raise Rejected(413, f"body larger than {settings.max_body_bytes} bytes")
    if not raw.strip() and not signature:
        return Admitted(kind="probe")
    payload = _decode(raw)
    if not payload and not signature:
        return Admitted(kind="probe")  # Zalo's URL check when an admin saves the webhook

    app_id, timestamp, oa_id = payload.get("app_id"), payload.get("timestamp"), oa_id_of(payload)
    if not isinstance(app_id, str) or not isinstance(timestamp, str | int) or oa_id is None:
        raise Rejected(400, "body lacks app_id, timestamp or the OA id")
    oa = table.get_oa(oa_id, cache_seconds=settings.registry_cache_seconds)
    if oa is None or oa.app_id != app_id:
        raise Rejected(401, UNAUTHORISED)
    try:
        key = secrets.secret_json(settings.app_secret_prefix + app_id, settings.secret_cache_seconds)
    except NotFound as exc:
        raise Rejected(401, UNAUTHORISED) from exc
    oa_secret_key = key.get("oa_secret_key")
    if not isinstance(oa_secret_key, str) or not signature_matches(
        signature, app_id, raw, str(timestamp), oa_secret_key
    ):
        raise Rejected(401, UNAUTHORISED)

    name = str(payload.get("event_name", ""))
    if name not in KNOWN_EVENTS:
        return Admitted(kind="ignored", oa=oa, event_name=name)
    try:
        event = parse_event(payload)
    except ValidationError as exc:
        # Field paths only: the values are what a citizen wrote and must not be echoed or logged.
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise Rejected(400, "body does not match the event schema", fields) from exc
    return Admitted(kind="event", oa=oa, event=event, event_name=name)
