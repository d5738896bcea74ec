"""The audit trail: one record per decrypting read or change, written before the action it covers.

Records live under ``AUDIT#<tip_id>`` (sort key: time and a random suffix) and are indexed per unit
on gsi2 (``AUDIT#<unit_id>``), so a transfer shows in both units' trails. The API only appends.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel

from tipline.adapters.table import Table


class AuditRecord(BaseModel):
    tip_id: str
    unit_id: str
    actor: str
    action: str
    reason: str
    at_ms: int
    details: dict[str, str] = {}


def write_audit(table: Table, record: AuditRecord) -> str:
    sort_key = f"{record.at_ms:013d}#{secrets.token_hex(6)}"
    values: dict[str, Any] = {
        **record.model_dump(),
        "gsi2pk": f"AUDIT#{record.unit_id}",
        "gsi2sk": sort_key,
    }
    table.put(f"AUDIT#{record.tip_id}", sort_key, values, if_absent=True)
    return sort_key


def tip_trail(table: Table, tip_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.query_partition(f"AUDIT#{tip_id}")]


def unit_trail(table: Table, unit_id: str, limit: int = 200) -> list[AuditRecord]:
    items = table.query_index("gsi2", f"AUDIT#{unit_id}", forward=False, limit=limit)
    return [AuditRecord.model_validate(item) for item in items]
