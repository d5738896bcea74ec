"""Records other capabilities own, stored beside the tips: evidence custody records (ATT#...),
the audit trail (AUDIT#...) and OA tokens (TOKEN#...). Values go in and out as plain mappings;
the owning capability validates them into its own models."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway
from tipline.errors import DependencyUnavailable

AUDIT_DAY_SECONDS = 86_400


class AttachmentRecords(DynamoGateway):
    """One chain-of-custody record per attachment, under its tip."""

    def get_attachment(self, tip_id: str, attachment_id: str) -> dict[str, Any] | None:
        return self.get(keys.tip_pk(tip_id), keys.attachment_sk(attachment_id))

    def attachments(self, tip_id: str) -> list[dict[str, Any]]:
        """Every attachment record of a tip, in thread order."""
        return list(self.query_partition(keys.tip_pk(tip_id), keys.ATTACHMENT_PREFIX))

    def put_attachment_unless(
        self, tip_id: str, attachment_id: str, values: Mapping[str, Any], status: str
    ) -> bool:
        """Write a record unless the stored one already has ``status`` (never undo 'retrieved')."""
        return self.put_unless_status(keys.tip_pk(tip_id), keys.attachment_sk(attachment_id), values, status)


class AuditTrail(DynamoGateway):
    """Append-only, in the audit trail's own table (``AuditTable``): a record is put once under its
    tip or advisory, indexed per unit on that table's gsi1, and expires ``audit_days`` after it was
    written. No function role may update or delete there (docs/data-model.md)."""

    audit_name: str = ""
    audit_days: int = 0
    _audit_gateway: DynamoGateway | None = None

    def _audit(self) -> DynamoGateway:
        if not self.audit_name:
            raise DependencyUnavailable("no audit table is configured (AUDIT_TABLE_NAME)")
        if self._audit_gateway is None:
            self._audit_gateway = DynamoGateway(self.audit_name)
        return self._audit_gateway

    def _append_audit(self, pk: str, unit_id: str, at_ms: int, values: Mapping[str, Any]) -> str:
        sort_key = f"{keys.ms13(at_ms)}#{secrets.token_hex(6)}"
        indexed = {
            **values,
            "gsi1pk": keys.audit_unit_partition(unit_id),
            "gsi1sk": sort_key,
            "expires_at": at_ms // 1000 + self.audit_days * AUDIT_DAY_SECONDS,
        }
        self._audit().put(pk, sort_key, indexed, if_absent=True)
        return sort_key

    def append_tip_audit(self, tip_id: str, unit_id: str, at_ms: int, values: Mapping[str, Any]) -> str:
        return self._append_audit(keys.audit_pk(tip_id), unit_id, at_ms, values)

    def append_advisory_audit(
        self, advisory_id: str, unit_id: str, at_ms: int, values: Mapping[str, Any]
    ) -> str:
        return self._append_audit(keys.advisory_audit_pk(advisory_id), unit_id, at_ms, values)

    def append_oa_audit(self, oa_id: str, unit_id: str, at_ms: int, values: Mapping[str, Any]) -> str:
        return self._append_audit(keys.oa_audit_pk(oa_id), unit_id, at_ms, values)

    def oa_audit(self, oa_id: str) -> list[dict[str, Any]]:
        return list(self._audit().query_partition(keys.oa_audit_pk(oa_id)))

    def tip_audit(self, tip_id: str) -> list[dict[str, Any]]:
        return list(self._audit().query_partition(keys.audit_pk(tip_id)))

    def advisory_audit(self, advisory_id: str) -> list[dict[str, Any]]:
        return list(self._audit().query_partition(keys.advisory_audit_pk(advisory_id)))

    def unit_audit(self, unit_id: str, limit: int) -> list[dict[str, Any]]:
        return self._audit().query_index(
            keys.GSI1, keys.audit_unit_partition(unit_id), forward=False, limit=limit
        )


class TokenRecords(DynamoGateway):
    """An OA's sealed token pair: replaced only by version, refreshed only under a lease."""

    def get_token(self, oa_id: str) -> dict[str, Any] | None:
        return self.get(keys.token_pk(oa_id), keys.META)

    def put_token(self, oa_id: str, values: Mapping[str, Any], expected_version: int | None) -> bool:
        return self.put_versioned(keys.token_pk(oa_id), keys.META, values, expected_version)

    def take_token_lease(self, oa_id: str, owner: str, now_ms: int, until_ms: int) -> bool:
        return self.take_lease(keys.token_pk(oa_id), keys.META, owner, now_ms, until_ms)

    def release_token_lease(
        self, oa_id: str, owner: str, sets: Mapping[str, Any], increments: Mapping[str, int]
    ) -> bool:
        return self.release_lease(keys.token_pk(oa_id), keys.META, owner, sets, increments)
