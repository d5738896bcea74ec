"""Advisories (ADVISORY#<id>), their runs per OA (RUN#...), one delivery record per recipient
(ADVISORY#<id>#<run>/DLV#...), and Zalo's once-a-day promotion rules (PROMO#, PROMOQUOTA#).

Values go in and out as plain mappings; tipline.advisories validates them into its models.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway
from tipline.adapters.store.threads import pointer_item

DEFERRED = "deferred"  # a delivery record that may be claimed again


class AdvisoryStore(DynamoGateway):
    """Advisories listed on gsi1 by creation, and, while due, on gsi2 by next due time."""

    # -- advisories -------------------------------------------------------------------------------
    def put_advisory(
        self,
        advisory_id: str,
        values: Mapping[str, Any],
        created_at_ms: int,
        next_due_ms: int | None,
        unless_status: str | None = None,
    ) -> bool:
        """Store an advisory; ``next_due_ms`` None takes it off the due index (done or cancelled).

        With ``unless_status``: not over a stored advisory in that status (then False)."""
        fields: dict[str, Any] = {
            "gsi1pk": keys.ADVISORY_LIST,
            "gsi1sk": f"{keys.ms13(created_at_ms)}#{advisory_id}",
        }
        if next_due_ms is not None:
            fields["gsi2pk"] = keys.ADVISORY_DUE
            fields["gsi2sk"] = f"{keys.ms13(next_due_ms)}#{advisory_id}"
        pk, item = keys.advisory_pk(advisory_id), {**values, **fields}
        if unless_status is not None:
            return self.put_unless_status(pk, keys.META, item, unless_status)
        return self.put(pk, keys.META, item)

    def get_advisory(self, advisory_id: str) -> dict[str, Any] | None:
        return self.get(keys.advisory_pk(advisory_id))

    def list_advisories(self) -> list[dict[str, Any]]:
        """Every advisory, newest first."""
        return self.query_index(keys.GSI1, keys.ADVISORY_LIST, forward=False)

    def due_advisories(self, now_ms: int) -> Iterator[dict[str, Any]]:
        """Advisories whose next occurrence is at or before ``now_ms``."""
        query: dict[str, Any] = {
            "IndexName": keys.GSI2,
            "KeyConditionExpression": "gsi2pk = :p AND gsi2sk <= :now",
            "ExpressionAttributeValues": {
                ":p": {"S": keys.ADVISORY_DUE},
                ":now": {"S": f"{keys.ms13(now_ms)}~"},  # '~' sorts after every id
            },
        }
        yield from self.paginate("query", query)

    # -- runs: one occurrence for one OA --------------------------------------------------------
    def put_run(
        self, advisory_id: str, run_ms: int, oa_id: str, values: Mapping[str, Any], if_absent: bool = False
    ) -> bool:
        return self.put(
            keys.advisory_pk(advisory_id), keys.run_sk(run_ms, oa_id), values, if_absent=if_absent
        )

    def get_run(self, advisory_id: str, run_ms: int, oa_id: str) -> dict[str, Any] | None:
        return self.get(keys.advisory_pk(advisory_id), keys.run_sk(run_ms, oa_id))

    def runs(self, advisory_id: str) -> Iterator[dict[str, Any]]:
        yield from self.query_partition(keys.advisory_pk(advisory_id), keys.RUN_PREFIX)

    # -- delivery records ----------------------------------------------------------------------
    def deliveries(self, advisory_id: str, run_ms: int, oa_id: str) -> Iterator[dict[str, Any]]:
        yield from self.query_partition(keys.run_pk(advisory_id, run_ms), keys.delivery_prefix(oa_id))

    def get_deliveries(
        self, advisory_id: str, run_ms: int, oa_id: str, pseudonyms: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The recipients' records that exist, by pseudonym (one batched read)."""
        pk = keys.run_pk(advisory_id, run_ms)
        wanted = {keys.delivery_sk(oa_id, p): p for p in pseudonyms}
        found = self.batch_get([(pk, sk) for sk in wanted])
        return {wanted[str(item["sk"])]: item for item in found if str(item["sk"]) in wanted}

    def claim_delivery(
        self, advisory_id: str, run_ms: int, oa_id: str, pseudonym: str, values: Mapping[str, Any]
    ) -> bool:
        """Write a recipient's record only if there is none or it was deferred (a claim)."""
        pk, sk = keys.run_pk(advisory_id, run_ms), keys.delivery_sk(oa_id, pseudonym)
        return self.put_if_absent_or_status(pk, sk, values, status=DEFERRED)

    def put_delivery_if_absent(
        self, advisory_id: str, run_ms: int, oa_id: str, pseudonym: str, values: Mapping[str, Any]
    ) -> bool:
        pk, sk = keys.run_pk(advisory_id, run_ms), keys.delivery_sk(oa_id, pseudonym)
        return self.put(pk, sk, values, if_absent=True)

    def write_deliveries(
        self,
        advisory_id: str,
        run_ms: int,
        oa_id: str,
        records: Iterable[tuple[str, Mapping[str, Any]]],
        sent: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Recipients' final records, and for each (Zalo message id, pseudonym) sent a receipt
        pointer to its record, in batched writes."""
        pk = keys.run_pk(advisory_id, run_ms)
        items: list[dict[str, Any]] = [
            {**values, "pk": pk, "sk": keys.delivery_sk(oa_id, pseudonym)} for pseudonym, values in records
        ]
        items += [
            pointer_item(oa_id, message_id, pk, keys.delivery_sk(oa_id, pseudonym))
            for message_id, pseudonym in sent
        ]
        self.batch_put(items)

    # -- Zalo's promotion rules ------------------------------------------------------------------
    def mark_promoted(self, pseudonym: str, day: str, values: Mapping[str, Any]) -> bool:
        """The citizen's one promotion of a Vietnam day; False if they already got one."""
        return self.put(keys.contact_pk(pseudonym), keys.promotion_sk(day), values, if_absent=True)

    def unmark_promoted(self, pseudonym: str, day: str) -> None:
        self.delete(keys.contact_pk(pseudonym), keys.promotion_sk(day))

    def take_promotion_slots(self, oa_id: str, day: str, wanted: int, limit: int) -> int:
        return self.take_daily_slots(keys.promotion_quota_pk(oa_id), day, wanted, limit)

    def return_promotion_slots(self, oa_id: str, day: str, count: int) -> None:
        self.return_daily_slots(keys.promotion_quota_pk(oa_id), day, count)
