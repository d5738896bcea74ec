"""The audit trail: one record per decrypting read or change, written before the action it covers.

Records live under their tip (``AUDIT#<tip_id>``) or, for an advisory's creation and cancellation,
under the advisory (``AUDIT#ADVISORY#<advisory_id>``), and are indexed per unit, so a transfer
shows in both units' trails (tipline.adapters.store.records.AuditTrail). The API only appends.
"""

from __future__ import annotations

from pydantic import BaseModel, model_validator

from tipline.adapters.table import Table


class AuditRecord(BaseModel):
    tip_id: str | None = None
    advisory_id: str | None = None
    unit_id: str
    actor: str
    action: str
    reason: str
    at_ms: int
    details: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_subject(self) -> AuditRecord:
        if (self.tip_id is None) == (self.advisory_id is None):
            raise ValueError("an audit record covers either a tip or an advisory")
        return self


def write_audit(table: Table, record: AuditRecord) -> str:
    values = record.model_dump(exclude_none=True)
    if record.tip_id is not None:
        return table.append_tip_audit(record.tip_id, record.unit_id, record.at_ms, values)
    return table.append_advisory_audit(str(record.advisory_id), record.unit_id, record.at_ms, values)


def tip_trail(table: Table, tip_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.tip_audit(tip_id)]


def advisory_trail(table: Table, advisory_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.advisory_audit(advisory_id)]


def unit_trail(table: Table, unit_id: str, limit: int = 200) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.unit_audit(unit_id, limit)]
