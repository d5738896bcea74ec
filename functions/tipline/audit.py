"""The audit trail: one record per decrypting read or change, written before the action it covers.

Records live under ``AUDIT#<tip_id>`` (sort key: time and a random suffix), or for an advisory's
creation and cancellation under ``AUDIT#ADVISORY#<advisory_id>``, and are indexed per unit on gsi2
(``AUDIT#<unit_id>``), so a transfer shows in both units' trails. The API only appends.
"""

from __future__ import annotations

import secrets
from typing import Any

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


def _partition(record: AuditRecord) -> str:
    return f"AUDIT#{record.tip_id}" if record.tip_id is not None else _advisory_pk(str(record.advisory_id))


def _advisory_pk(advisory_id: str) -> str:
    return f"AUDIT#ADVISORY#{advisory_id}"


def write_audit(table: Table, record: AuditRecord) -> str:
    sort_key = f"{record.at_ms:013d}#{secrets.token_hex(6)}"
    values: dict[str, Any] = {
        **record.model_dump(exclude_none=True),
        "gsi2pk": f"AUDIT#{record.unit_id}",
        "gsi2sk": sort_key,
    }
    table.put(_partition(record), sort_key, values, if_absent=True)
    return sort_key


def tip_trail(table: Table, tip_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.query_partition(f"AUDIT#{tip_id}")]


def advisory_trail(table: Table, advisory_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.query_partition(_advisory_pk(advisory_id))]


def unit_trail(table: Table, unit_id: str, limit: int = 200) -> list[AuditRecord]:
    items = table.query_index("gsi2", f"AUDIT#{unit_id}", forward=False, limit=limit)
    return [AuditRecord.model_validate(item) for item in items]
