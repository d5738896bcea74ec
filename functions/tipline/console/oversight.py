"""Commanders' oversight: the audit trail and statistics (counts only, no personal data)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from pydantic import BaseModel, Field

from tipline.access import Caller
from tipline.adapters.table import Table
from tipline.audit import AuditRecord, advisory_trail, tip_trail, unit_trail
from tipline.console.listing import tips_in_scope
from tipline.console.views import InvalidInput
from tipline.domain import (
    DeliveryStatus,
    Tip,
)
from tipline.errors import NotFound
from tipline.keys import tip_pk
from tipline.zalo_rules import vietnam


def audit_trail(
    table: Table, caller: Caller, tip_id: str | None, unit_id: str | None, advisory_id: str | None = None
) -> list[AuditRecord]:
    if not caller.commander:
        raise NotFound("not found")
    if tip_id:
        return tip_trail(table, tip_id)
    if advisory_id:
        return advisory_trail(table, advisory_id)
    if unit_id:
        return unit_trail(table, unit_id)
    raise InvalidInput("give tip_id, advisory_id or unit")


STATS_DAYS = 14  # tips per day over this many Vietnam days, today included


DELIVERY_DAYS = 30  # reply delivery rate over officer replies to tips active this recently


_LEFT = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SEEN, DeliveryStatus.FAILED})


class UnitStats(BaseModel):
    """Counts only: no citizen, no text, no pseudonym."""

    unit_id: str
    total: int = 0
    by_status: dict[str, int]
    urgent: int
    median_minutes_to_first_reply: float | None
    per_day: dict[str, int] = Field(
        default_factory=dict, description=f"tips created per Vietnam day (YYYY-MM-DD), last {STATS_DAYS} days"
    )
    replies_sent: int = Field(
        default=0, description=f"officer replies sent or failed, on tips active in {DELIVERY_DAYS} days"
    )
    replies_delivered: int = Field(default=0, description="of those, delivered or seen in Zalo")


def vietnam_day(ms: int) -> str:
    return vietnam(ms).date().isoformat()


def stats(table: Table, caller: Caller, now_ms: int) -> list[UnitStats]:
    by_unit: dict[str, list[Tip]] = defaultdict(list)
    for tip in tips_in_scope(table, caller):
        by_unit[tip.unit_id].append(tip)
    days = [vietnam_day(now_ms - back * 86_400_000) for back in reversed(range(STATS_DAYS))]
    recent_ms = now_ms - DELIVERY_DAYS * 86_400_000
    result = []
    for unit, unit_tips in sorted(by_unit.items()):
        waits = [
            (t.first_reply_ms - t.created_at_ms) / 60000 for t in unit_tips if t.first_reply_ms is not None
        ]
        created = Counter(vietnam_day(t.created_at_ms) for t in unit_tips)
        sent = delivered = 0
        for tip in unit_tips:
            if tip.reply_count and tip.last_activity_ms >= recent_ms:
                for entry in table.thread(tip_pk(tip.tip_id)):
                    if entry.kind == "officer_reply" and entry.status in _LEFT:
                        sent += 1
                        delivered += entry.status in (DeliveryStatus.DELIVERED, DeliveryStatus.SEEN)
        result.append(
            UnitStats(
                unit_id=unit,
                total=len(unit_tips),
                by_status=dict(Counter(t.status.value for t in unit_tips)),
                urgent=sum(1 for t in unit_tips if t.urgent),
                median_minutes_to_first_reply=round(statistics.median(waits), 1) if waits else None,
                per_day={day: created.get(day, 0) for day in days},
                replies_sent=sent,
                replies_delivered=delivered,
            )
        )
    return result
