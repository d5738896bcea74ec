"""Event claims: the webhook's exactly-once record of each Zalo event (EVENT#<dedupe_key>)."""

from __future__ import annotations

from typing import Any

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway, key, to_item
from tipline.domain import DEDUPE_MEMORY_SECONDS


def _claim(now_ms: int, state: str) -> dict[str, Any]:
    expires = -(-now_ms // 1000) + DEDUPE_MEMORY_SECONDS  # whole seconds, never before the memory ends
    return {"state": state, "claimed_ms": now_ms, "expires_at": expires}


def claim_state(claim: dict[str, Any]) -> str:
    """An existing claim's state: 'claimed' while a delivery works on it, 'done' once it finished."""
    return str(claim.get("state", "claimed"))


class EventClaims(DynamoGateway):
    """A conditional put claims an event; the claim expires after the dedupe memory
    (DEDUPE_MEMORY_SECONDS, from which the webhook's stale bound is derived)."""

    def claim_event(self, dedupe_key: str, now_ms: int) -> str:
        """'new' when this caller claimed the event first, else the earlier claim's state
        ('claimed' while another delivery works on it, 'done' once it finished)."""
        # One call either way: a lost claim returns the earlier claim (no read after the put).
        _, existing = self._conditional_old(
            "put_item",
            Item=to_item({**_claim(now_ms, "claimed"), "pk": keys.event_pk(dedupe_key), "sk": keys.META}),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return "new" if existing is None else claim_state(existing)

    def claimed_done_op(self, dedupe_key: str, now_ms: int) -> dict[str, Any]:
        """A claim made and finished in the transaction that applies the whole event: for events whose
        every write fits in one transaction. If the claim exists, the transaction returns it."""
        return self.put_op(keys.event_pk(dedupe_key), keys.META, _claim(now_ms, "done"), if_absent=True)

    def finish_event_op(self, dedupe_key: str) -> dict[str, Any]:
        """finish_event as part of a transaction: the event is done with the writes it made."""
        return self.update_op(
            keys.event_pk(dedupe_key), keys.META, "SET #s = :done", {":done": "done"}, names={"#s": "state"}
        )

    def finish_event(self, dedupe_key: str) -> None:
        self._call(
            "update_item",
            Key=key(keys.event_pk(dedupe_key)),
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":done": {"S": "done"}},
        )
