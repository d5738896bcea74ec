"""Creating, listing, cancelling advisories, finding due ones and reporting on deliveries.

No Zalo client here (the officer API imports this module). Storage, in the domain table:

- ``ADVISORY#<id>/META``: the advisory, in clear (police text, no citizen data); listed through
  gsi1 (``ADVISORIES`` / created time) and, while active, due through gsi2 (``ADVISORY_DUE`` /
  next due time, 13-digit ms), so the scheduler reads only what is due.
- ``ADVISORY#<id>/RUN#<run>#OA#<oa_id>``: one occurrence for one OA: how many contacts it
  targeted and the OA's follower count (its promotion quota).
- ``ADVISORY#<id>#<run>/DLV#<oa_id>#<pseudonym>``: one delivery record per recipient; written
  with a condition before sending, so nobody gets the same occurrence twice. ``status`` follows
  DeliveryStatus (plus ``skipped``/``sending``); Zalo receipts update it through the ZMSG pointer.
"""

from __future__ import annotations

import uuid
from collections import Counter

from pydantic import BaseModel, Field

from tipline.access import Caller
from tipline.adapters.table import Table
from tipline.audit import AuditRecord, write_audit
from tipline.errors import Conflict, NotFound, TiplineError
from tipline.observability import logger

from .model import Advisory, AdvisoryInput, AdvisoryStatus, Skip

SKIPPED = "skipped"
SENDING = "sending"


class InvalidAdvisory(TiplineError):
    """Input that passed the schema but not the rules (unknown unit, past date, wrong scope)."""


class NotPermitted(TiplineError):
    """The caller sees the advisory but may not change it (only its unit or the command may)."""


def _store(table: Table, advisory: Advisory, unless_status: AdvisoryStatus | None = None) -> bool:
    due = advisory.next_due_ms if advisory.status == AdvisoryStatus.ACTIVE else None
    values = advisory.model_dump(mode="json")
    unless = unless_status.value if unless_status is not None else None
    return table.put_advisory(advisory.advisory_id, values, advisory.created_at_ms, due, unless_status=unless)


def save(table: Table, advisory: Advisory) -> None:
    _store(table, advisory)


def advance(table: Table, advisory: Advisory) -> bool:
    """Store the scheduler's next step, unless the advisory was cancelled meanwhile (then False)."""
    return _store(table, advisory, unless_status=AdvisoryStatus.CANCELLED)


def load(table: Table, advisory_id: str) -> Advisory | None:
    values = table.get_advisory(advisory_id)
    return Advisory.model_validate(values) if values else None


def create(table: Table, caller: Caller, data: AdvisoryInput, known_units: set[str], now_ms: int) -> Advisory:
    if data.target.province_wide and not caller.commander:
        raise InvalidAdvisory("only commanders may send province-wide advisories")
    unknown = sorted(set(data.target.unit_ids) - known_units)
    if unknown:
        raise InvalidAdvisory(f"unknown units: {', '.join(unknown)}")
    outside = [unit for unit in data.target.unit_ids if not caller.may_see(unit)]
    if outside:
        raise InvalidAdvisory("officers may target only their own unit")
    first = data.schedule.first_due(now_ms)
    if first is None:
        raise InvalidAdvisory("the schedule has no occurrence before its end date")
    if data.schedule.end_ms is not None and data.schedule.end_ms < now_ms:
        raise InvalidAdvisory("the schedule's end date is in the past")
    refusal = data.schedule.refusal(now_ms)
    if refusal is not None:
        raise InvalidAdvisory(refusal)
    advisory = Advisory(
        advisory_id=uuid.uuid4().hex[:16],
        title=data.title,
        text=data.text,
        link=str(data.link) if data.link else None,
        link_title=data.link_title,
        category=data.category,
        target=data.target,
        schedule=data.schedule,
        unit_id=caller.unit_id,
        created_by=caller.subject,
        created_at_ms=now_ms,
        next_due_ms=first,
    )
    _audit(table, advisory, caller, "advisory_create", "advisory created", now_ms)
    save(table, advisory)
    return advisory


def _audit(table: Table, advisory: Advisory, caller: Caller, action: str, reason: str, now_ms: int) -> None:
    """The audit record of a change to ``advisory``, in its unit's trail, before the change."""
    target = "province" if advisory.target.province_wide else ",".join(advisory.target.unit_ids)
    schedule = advisory.schedule
    details = {
        "title": advisory.title,
        "target": target,
        "schedule": schedule.cron if schedule.cron is not None else f"once at {schedule.at_ms}",
        "actor_unit": caller.unit_id,
    }
    record = AuditRecord(
        advisory_id=advisory.advisory_id,
        unit_id=advisory.unit_id,
        actor=caller.subject,
        action=action,
        reason=reason,
        at_ms=now_ms,
        details=details,
    )
    write_audit(table, record)


def _visible(caller: Caller, advisory: Advisory | None) -> Advisory:
    if advisory is None:
        raise NotFound("no such advisory")
    if advisory.target.province_wide:
        if not caller.commander:
            raise NotFound("no such advisory")
    elif not all(caller.may_see(unit) for unit in advisory.target.unit_ids):
        raise NotFound("no such advisory")
    return advisory


def read(table: Table, caller: Caller, advisory_id: str) -> Advisory:
    return _visible(caller, load(table, advisory_id))


def list_all(table: Table) -> list[Advisory]:
    return [Advisory.model_validate(values) for values in table.list_advisories()]


def list_visible(table: Table, caller: Caller) -> list[Advisory]:
    found = []
    for advisory in list_all(table):
        try:
            found.append(_visible(caller, advisory))
        except NotFound:
            continue
    return found


def cancel(
    table: Table, caller: Caller, advisory_id: str, now_ms: int, reason: str | None = None
) -> Advisory:
    """Stop future occurrences (deliveries already queued still check the status and stop).

    Only the provincial command or the unit that created the advisory may cancel it: a unit an
    advisory merely targets sees it but cannot stop the command's warning."""
    advisory = _visible(caller, load(table, advisory_id))
    if not (caller.commander or caller.unit_id == advisory.unit_id):
        raise NotPermitted("only the provincial command or the unit that created it may cancel this advisory")
    if advisory.status == AdvisoryStatus.CANCELLED:  # a done one may still have deliveries deferred
        raise Conflict("the advisory is already cancelled")
    _audit(table, advisory, caller, "advisory_cancel", reason or "advisory cancelled", now_ms)
    cancelled = advisory.model_copy(update={"status": AdvisoryStatus.CANCELLED, "next_due_ms": None})
    save(table, cancelled)
    logger.info("advisory cancelled", advisory_id=advisory_id, actor=caller.subject)
    return cancelled


def due(table: Table, now_ms: int) -> list[Advisory]:
    return [Advisory.model_validate(values) for values in table.due_advisories(now_ms)]


# -- report --------------------------------------------------------------------------------
class OaReport(BaseModel):
    oa_id: str
    targeted: int = 0
    sent: int = 0
    deferred: int = 0
    pending: int = 0
    failed: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(
        default_factory=dict, description="contacts skipped, by reason (every reason listed, 0 included)"
    )
    received: int = 0
    seen: int = 0
    by_channel: dict[str, int] = Field(default_factory=dict)

    def accounted(self) -> int:
        return (
            self.sent + self.deferred + self.pending + sum(self.failed.values()) + sum(self.skipped.values())
        )


class RunReport(BaseModel):
    advisory_id: str
    run_ms: int
    oas: list[OaReport]


def report(table: Table, caller: Caller | None, advisory_id: str) -> list[RunReport]:
    advisory = load(table, advisory_id)
    if caller is not None:
        advisory = _visible(caller, advisory)
    elif advisory is None:
        raise NotFound("no such advisory")
    runs: dict[int, dict[str, OaReport]] = {}
    for item in table.runs(advisory_id):
        run_ms, oa_id = int(item["run_ms"]), str(item["oa_id"])
        runs.setdefault(run_ms, {})[oa_id] = OaReport(oa_id=oa_id, targeted=int(item["targeted"]))
    result = []
    for run_ms, per_oa in sorted(runs.items()):
        for oa_id, entry in per_oa.items():
            failed: Counter[str] = Counter()
            skipped: Counter[str] = Counter({reason.value: 0 for reason in Skip})
            channels: Counter[str] = Counter()
            recorded = 0
            for record in table.deliveries(advisory_id, run_ms, oa_id):
                recorded += 1
                status, reason = str(record.get("status")), str(record.get("reason") or "")
                if record.get("channel"):
                    channels[str(record["channel"])] += 1
                if status in ("sent", "delivered", "seen"):
                    entry.sent += 1
                    entry.received += status in ("delivered", "seen")
                    entry.seen += status == "seen"
                elif status == SKIPPED:
                    skipped[reason] += 1
                elif status == "failed":
                    failed[reason] += 1
                elif status == SENDING:  # in flight (or interrupted by a crash: never resent)
                    entry.pending += 1
                else:
                    entry.deferred += 1
            entry.pending += max(0, entry.targeted - recorded)
            entry.failed, entry.skipped, entry.by_channel = dict(failed), dict(skipped), dict(channels)
        result.append(RunReport(advisory_id=advisory_id, run_ms=run_ms, oas=list(per_oa.values())))
    return result
