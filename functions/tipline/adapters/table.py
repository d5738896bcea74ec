"""The domain table (single-table design, docs/data-model.md): one object, composed of the stores.

Each store in :mod:`tipline.adapters.store` owns a few item types and builds their keys with
:mod:`tipline.keys`; the gateway under them all is the only code that calls DynamoDB.
"""

from __future__ import annotations

from tipline.adapters.store.advisories import AdvisoryStore
from tipline.adapters.store.claims import EventClaims
from tipline.adapters.store.contacts import ContactStore
from tipline.adapters.store.records import AttachmentRecords, AuditTrail, TokenRecords
from tipline.adapters.store.registry import OaRegistry
from tipline.adapters.store.threads import ThreadStore
from tipline.adapters.store.tips import TipStore


class Table(
    TipStore,
    ThreadStore,
    ContactStore,
    OaRegistry,
    EventClaims,
    AttachmentRecords,
    AuditTrail,
    TokenRecords,
    AdvisoryStore,
):
    """Typed reads and conditional writes on the domain table, one store per group of item types;
    the audit trail in its own table (``audit_name``), kept ``audit_days``."""

    def __init__(self, name: str, audit_name: str = "", audit_days: int = 0) -> None:
        super().__init__(name)
        self.audit_name = audit_name
        self.audit_days = audit_days
