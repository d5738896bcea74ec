"""Lists without decrypting: tips in scope (signed cursors), the caller and the units."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from tipline.access import Caller
from tipline.adapters.table import Table
from tipline.console.views import InvalidInput, TipSummary
from tipline.domain import (
    Tip,
    TipStatus,
)
from tipline.errors import NotFound
from tipline.intake import tipcode


class TipPage(BaseModel):
    items: list[TipSummary]
    next: str | None


def _sign(cursor_key: bytes, payload: bytes) -> str:
    return hmac.new(cursor_key, b"cursor\x1f" + payload, hashlib.sha256).hexdigest()[:32]


def encode_cursor(cursor_key: bytes, key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    payload = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode() + "." + _sign(cursor_key, payload)


def decode_cursor(cursor_key: bytes, cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        encoded, signature = cursor.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError as exc:
        raise InvalidInput("invalid cursor") from exc
    if not hmac.compare_digest(signature, _sign(cursor_key, payload)):
        raise InvalidInput("invalid cursor")
    key: dict[str, Any] = json.loads(payload)
    return key


def list_tips(
    table: Table,
    cursor_key: bytes,
    caller: Caller,
    *,
    status: TipStatus | None = None,
    urgent: bool | None = None,
    unit_id: str | None = None,
    since_ms: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
    assignee: str | None = None,
    code: str | None = None,
) -> TipPage:
    if unit_id is not None and not caller.may_see(unit_id):
        raise NotFound("no such unit")
    if code is not None:
        return _tip_by_code(table, caller, code, unit_id)
    unit = unit_id if unit_id is not None else (None if caller.commander else caller.unit_id)
    filters: dict[str, Any] = {}
    if status is not None:
        filters["status"] = status.value
    if urgent is not None:
        filters["urgent"] = urgent
    if assignee is not None:
        filters["assignee"] = assignee
    tips, last_key = table.tips_page(unit, limit, decode_cursor(cursor_key, cursor), since_ms, filters)
    return TipPage(items=[TipSummary.of(tip) for tip in tips], next=encode_cursor(cursor_key, last_key))


def _tip_by_code(table: Table, caller: Caller, code: str, unit_id: str | None) -> TipPage:
    """The one tip a citizen's code names, if the caller may see it (a code in any spelling the citizen
    may have typed it: lower case, without the dash, O for 0)."""
    canonical = tipcode.normalise(code)
    tip_id = table.tip_id_for_code(canonical) if canonical else None
    tip = table.get_tip(tip_id) if tip_id else None
    if tip is None or not caller.may_see(tip.unit_id) or unit_id not in (None, tip.unit_id):
        return TipPage(items=[], next=None)
    return TipPage(items=[TipSummary.of(tip)], next=None)


class Me(BaseModel):
    subject: str
    unit_id: str
    unit_name: str
    role: Literal["officer", "commander"]


class Unit(BaseModel):
    unit_id: str
    name: str
    parent_unit_id: str | None = None
    oa_ids: list[str] = Field(default_factory=list, description="the unit's Zalo Official Accounts")


def units(table: Table) -> list[Unit]:
    """Every unit that owns an OA (for transfers, filters and advisory targets; names are not secret)."""
    found: dict[str, Unit] = {}
    for account in table.list_oas():
        unit = found.setdefault(
            account.unit_id,
            Unit(
                unit_id=account.unit_id,
                name=account.unit_name or account.unit_id,
                parent_unit_id=account.parent_unit_id,
            ),
        )
        unit.oa_ids.append(account.oa_id)
    return sorted(found.values(), key=lambda unit: (unit.parent_unit_id is not None, unit.name))


def me(table: Table, caller: Caller) -> Me:
    names = {unit.unit_id: unit.name for unit in units(table)}
    return Me(
        subject=caller.subject,
        unit_id=caller.unit_id,
        unit_name=names.get(caller.unit_id, caller.unit_id),
        role="commander" if caller.commander else "officer",
    )


def tips_in_scope(table: Table, caller: Caller) -> Iterator[Tip]:
    key: dict[str, Any] | None = None
    while True:
        page, key = table.tips_page(None if caller.commander else caller.unit_id, 500, key, None, {})
        yield from page
        if not key:
            return
