"""Shared by the console's modules: its errors, the tip summary every list shows, the audit of an action."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from tipline.access import Caller
from tipline.adapters.table import Table
from tipline.audit import AuditRecord, write_audit
from tipline.domain import (
    Tip,
    TipStatus,
)
from tipline.errors import TiplineError
from tipline.intake import tipcode
from tipline.intake.pseudonym import short_pseudonym


class Refused(TiplineError):
    """A well-formed request the tip's state does not allow (answered 409 with the reason)."""


class InvalidInput(TiplineError):
    """Input the schema cannot catch, such as a tampered cursor (answered 422)."""


def iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class TipSummary(BaseModel):
    tip_id: str
    code: str
    unit_id: str
    status: TipStatus
    urgent: bool
    created_at: str | None
    last_activity_at: str | None
    message_count: int
    reply_count: int
    citizen: str = Field(description="short pseudonym of the citizen")
    assignee: str | None = None
    labels: list[str] = []

    @classmethod
    def of(cls, tip: Tip) -> TipSummary:
        return cls(
            assignee=tip.assignee,
            labels=sorted(tip.labels),
            tip_id=tip.tip_id,
            code=tipcode.display(tip.code),
            unit_id=tip.unit_id,
            status=tip.status,
            urgent=tip.urgent,
            created_at=iso(tip.created_at_ms),
            last_activity_at=iso(tip.last_activity_ms),
            message_count=tip.message_count,
            reply_count=tip.reply_count,
            citizen=short_pseudonym(tip.pseudonym),
        )


def audit_action(
    table: Table,
    tip: Tip,
    caller: Caller,
    action: str,
    reason: str,
    now_ms: int,
    unit_id: str | None = None,
    details: dict[str, str] | None = None,
) -> None:
    """Append the audit record of an action on ``tip``, before the action itself."""
    record = AuditRecord(
        tip_id=tip.tip_id,
        unit_id=unit_id or tip.unit_id,
        actor=caller.subject,
        action=action,
        reason=reason,
        at_ms=now_ms,
        details=details or {},
    )
    write_audit(table, record)
