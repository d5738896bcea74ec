"""Admission of a webhook request: size, JSON, signature, age, schema. Nothing is stored before it passes.

The same gate admits a spilled event in the spill consumer: there ``received_ms`` is when the
webhook received it (not when the consumer got to it), and ``verified`` says whether the webhook
already checked its signature (a body spilled because the OA registry or the app's secret could not
be read is checked here, first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tipline.adapters import secrets
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import DEDUPE_MEMORY_SECONDS, OaAccount
from tipline.errors import NotFound
from tipline.intake.events import KNOWN_EVENTS, ZaloEvent, oa_id_of, parse_event
from tipline.intake.signature import signature_matches

UNAUTHORISED = "missing or invalid signature"

# How far ahead of our clock an event may be stamped (Zalo's clock against ours) before it is refused.
FUTURE_SKEW_MS = 5 * 60 * 1000
# Events stamped longer ago than this are refused: it keeps every accepted copy of an event inside the
# dedupe memory of its first delivery. An event accepted at age < STALE_AFTER_MS was first received
# no earlier than its stamp minus FUTURE_SKEW_MS, so its dedupe key, kept DEDUPE_MEMORY_SECONDS from
# then, still exists for every later copy that passes this check. Zalo stops retrying after ~2 hours.
STALE_AFTER_MS = DEDUPE_MEMORY_SECONDS * 1000 - FUTURE_SKEW_MS


class Rejected(Exception):
    def __init__(self, status: int, reason: str, fields: list[str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.fields = fields or []


@dataclass(frozen=True)
class Admitted:
    """A request that passed the gate. ``event`` is None for probes, deliberately ignored events and
    stale ones (kind "stale": too old, or stamped too far ahead; ``age_ms`` says by how much)."""

    kind: str  # "event", "probe", "ignored", "stale" or "disabled" (the OA is disabled)
    oa: OaAccount | None = None
    event: ZaloEvent | None = None
    event_name: str = ""
    age_ms: int = 0


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except RecursionError as exc:  # e.g. 60,000 nested '[': never a 5xx, whatever the signature
        raise Rejected(400, "body is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise Rejected(400, "body must be a JSON object")
    return payload


def age_ms(timestamp: str | int, received_ms: int) -> int | None:
    """How long before ``received_ms`` the event was stamped (negative: ahead of our clock); None
    when the stamp is not a number (the schema check refuses it)."""
    text = str(timestamp)
    if not (text.isascii() and text.isdigit() and len(text) <= 16):
        return None
    return received_ms - int(text)


def is_fresh(age: int) -> bool:
    return -FUTURE_SKEW_MS <= age < STALE_AFTER_MS


def _registered_oa(table: Table, oa_id: str, app_id: str, settings: Settings) -> tuple[OaAccount, str]:
    """The OA and its app's OA secret key; Rejected(401) when either is unknown. DependencyUnavailable
    when the registry or Secrets Manager cannot answer now (the webhook spills the body unverified)."""
    oa = table.get_oa(oa_id, cache_seconds=settings.registry_cache_seconds)
    if oa is None or oa.app_id != app_id:
        raise Rejected(401, UNAUTHORISED)
    try:
        key = secrets.secret_json(settings.app_secret_prefix + app_id, settings.secret_cache_seconds)
    except NotFound as exc:
        raise Rejected(401, UNAUTHORISED) from exc
    oa_secret_key = key.get("oa_secret_key")
    if not isinstance(oa_secret_key, str):
        raise Rejected(401, UNAUTHORISED)
    return oa, oa_secret_key


def admit(
    raw: bytes,
    signature: str | None,
    table: Table,
    settings: Settings,
    received_ms: int,
    verified: bool = False,
) -> Admitted:
    """Raises Rejected (4xx) for bodies to refuse, DependencyUnavailable when the OA registry or the
    app's secret cannot be read now. ``verified``: the signature was checked when it was received."""
    if len(raw) > settings.max_body_bytes:
        raise Rejected(413, f"body larger than {settings.max_body_bytes} bytes")
    if not raw.strip() and not signature:
        return Admitted(kind="probe")
    payload = _decode(raw)
    if not payload and not signature:
        return Admitted(kind="probe")  # Zalo's URL check when an admin saves the webhook

    app_id, timestamp, oa_id = payload.get("app_id"), payload.get("timestamp"), oa_id_of(payload)
    if not isinstance(app_id, str) or not isinstance(timestamp, str | int) or oa_id is None:
        raise Rejected(400, "body lacks app_id, timestamp or a well-formed OA id")
    if verified:
        oa = table.get_oa(oa_id, cache_seconds=settings.registry_cache_seconds)
        if oa is None:  # verified when received; retried, then parked in the DLQ for ops
            raise NotFound("the event's OA is no longer registered")
    else:
        oa, oa_secret_key = _registered_oa(table, oa_id, app_id, settings)
        if not signature_matches(signature, app_id, raw, str(timestamp), oa_secret_key):
            raise Rejected(401, UNAUTHORISED)

    name = str(payload.get("event_name", ""))[:64]
    if oa.disabled:  # read with the registry entry above: no further call
        return Admitted(kind="disabled", oa=oa, event_name=name)
    age = age_ms(timestamp, received_ms)
    if age is not None and not is_fresh(age):
        return Admitted(kind="stale", oa=oa, event_name=name, age_ms=age)
    if name not in KNOWN_EVENTS:
        return Admitted(kind="ignored", oa=oa, event_name=name)
    try:
        event = parse_event(payload)
    except ValidationError as exc:
        # Field paths only: the values are what a citizen wrote and must not be echoed or logged.
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise Rejected(400, "body does not match the event schema", fields) from exc
    return Admitted(kind="event", oa=oa, event=event, event_name=name)
