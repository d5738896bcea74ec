"""The audit trail: one record per decrypting read or change, written before the action it covers.

Records live in their own table (``AuditTable``), under their tip (``AUDIT#<tip_id>``) or, for an
advisory's creation and cancellation, under the advisory (``AUDIT#ADVISORY#<advisory_id>``), and are
indexed per unit, so a transfer shows in both units' trails (tipline.adapters.store.records.AuditTrail).
No role may update or delete there; the officer API (and tipline-ops) only put and query, and every change
of the table reaches the write-once archive through its stream (``archive_change``), so even an
overwrite by put leaves the original in the archive and raises an alarm. Records expire after their
own retention (``audit_retention_days``), longer than the tips they cover.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, model_validator

from tipline.adapters import archive_store
from tipline.adapters.store.gateway import from_item
from tipline.adapters.table import Table

TTL_PRINCIPAL = "dynamodb.amazonaws.com"  # the stream's userIdentity of an item removed by TTL


class AuditRecord(BaseModel):
    tip_id: str | None = None
    advisory_id: str | None = None
    oa_id: str | None = None  # an OA disabled or enabled by operations (AUDIT#OA#<oa_id>)
    unit_id: str
    actor: str
    action: str
    reason: str
    at_ms: int
    details: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_subject(self) -> AuditRecord:
        if [self.tip_id, self.advisory_id, self.oa_id].count(None) != 2:
            raise ValueError("an audit record covers one tip, one advisory or one OA")
        return self


def write_audit(table: Table, record: AuditRecord) -> str:
    values = record.model_dump(exclude_none=True)
    if record.tip_id is not None:
        return table.append_tip_audit(record.tip_id, record.unit_id, record.at_ms, values)
    if record.oa_id is not None:
        return table.append_oa_audit(record.oa_id, record.unit_id, record.at_ms, values)
    return table.append_advisory_audit(str(record.advisory_id), record.unit_id, record.at_ms, values)


def oa_trail(table: Table, oa_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.oa_audit(oa_id)]


def tip_trail(table: Table, tip_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.tip_audit(tip_id)]


def advisory_trail(table: Table, advisory_id: str) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.advisory_audit(advisory_id)]


def unit_trail(table: Table, unit_id: str, limit: int = 200) -> list[AuditRecord]:
    return [AuditRecord.model_validate(item) for item in table.unit_audit(unit_id, limit)]


# -- the write-once archive, fed by the audit table's stream ------------------------------------------
class ArchivedChange(BaseModel):
    """What one stream record of the audit table became: ``expired`` (TTL, not archived again),
    ``archived`` (a new record) or ``altered`` (an overwrite or delete: archived, and alarming)."""

    outcome: str
    key: str | None = None


def _image(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    image = record.get("dynamodb", {}).get(name)
    return from_item(image) if image else None


def archive_change(record: dict[str, Any], bucket: str, kms_key_id: str) -> ArchivedChange:
    """Archive one DynamoDB stream record of the audit table (the raw stream record shape)."""
    event = str(record.get("eventName", ""))
    identity = record.get("userIdentity") or {}
    if event == "REMOVE" and identity.get("principalId") == TTL_PRINCIPAL:
        return ArchivedChange(outcome="expired")  # its retention ran out; the archive copy expires too
    item_keys = from_item(record["dynamodb"]["Keys"])
    sequence = str(record["dynamodb"]["SequenceNumber"])
    partition = str(item_keys["pk"]).replace("#", "-")  # AUDIT-<tip_id>, AUDIT-ADVISORY-<advisory_id>
    key = f"audit/{partition}/{item_keys['sk']}/{sequence}-{event.lower()}.json"
    body = {
        "event": event,
        "sequence": sequence,
        "at_s": record["dynamodb"].get("ApproximateCreationDateTime"),
        "keys": item_keys,
        "old": _image(record, "OldImage"),
        "new": _image(record, "NewImage"),
    }
    archive_store.put_json(bucket, key, json.dumps(body, sort_keys=True, default=str).encode(), kms_key_id)
    return ArchivedChange(outcome="archived" if event == "INSERT" else "altered", key=key)
