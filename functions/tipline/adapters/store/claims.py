"""Event claims: the webhook's exactly-once record of each Zalo event (EVENT#<dedupe_key>)."""

from __future__ import annotations

from typing import Any

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway, key, to_item
from tipline.domain import DEDUPE_MEMORY_SECONDS


class EventClaims(DynamoGateway):
    """A conditional put claims an event; the claim expires after the dedupe memory
    (DEDUPE_MEMORY_SECONDS, from which the webhook's stale bound is derived)."""

    def claim_event(self, dedupe_key: str, now_ms: int) -> str:
        """'new' when this caller claimed the event first, else the earlier claim's state
        ('claimed' while another delivery works on it, 'done' once it finished)."""
        expires = -(-now_ms // 1000) + DEDUPE_MEMORY_SECONDS  # whole seconds, never before the memory ends
        values = {"state": "claimed", "claimed_ms": now_ms, "expires_at": expires}
        # One call either way: a lost claim returns the earlier claim (no read after the put).
        _, existing = self._conditional_old(
            "put_item",
            Item=to_item({**values, "pk": keys.event_pk(dedupe_key), "sk": keys.META}),
            ConditionExpression="attribute_not_exists(pk)",
        )
        if existing is None:
            return "new"
        return str(existing.get("state", "claimed"))

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
