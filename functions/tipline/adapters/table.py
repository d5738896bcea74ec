"""The domain table (single-table design, see docs/data-model.md). Only this module speaks DynamoDB."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tipline import clock
from tipline.adapters import aws
from tipline.domain import Contact, DeliveryStatus, OaAccount, OfficerBlock, ThreadEntry, Tip
from tipline.errors import Conflict, DependencyUnavailable

_CONDITION_FAILED = "ConditionalCheckFailedException"
EVENT_TTL_SECONDS = 3 * 24 * 3600


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    serializer = _serializer()
    return {key: serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = _deserializer()
    values = {key: deserializer.deserialize(value) for key, value in item.items()}
    for key, value in values.items():
        if hasattr(value, "value") and type(value).__name__ == "Binary":
            values[key] = bytes(value.value)
        elif type(value).__name__ == "Decimal":
            values[key] = int(value) if value == int(value) else float(value)
    return values


def key(pk: str, sk: str = "META") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def tip_pk(tip_id: str) -> str:
    return f"TIP#{tip_id}"


def contact_pk(pseudonym: str) -> str:
    return f"CONTACT#{pseudonym}"


def audience_partition(oa_id: str) -> str:
    return f"AUDIENCE#{oa_id}"


BLOCKS_PARTITION = "BLOCKS"  # gsi2: every contact an officer blocked (few), newest first


def contact_item(contact: Contact) -> dict[str, Any]:
    """A contact's stored attributes: its fields and its place in its OA's audience on gsi1 (a
    contact's OA never changes, so the index keys are written once, with the contact)."""
    return {**contact.model_dump(), "gsi1pk": audience_partition(contact.oa_id), "gsi1sk": contact.pseudonym}


def thread_pk(tip_id: str | None, pseudonym: str) -> str:
    return tip_pk(tip_id) if tip_id is not None else contact_pk(pseudonym)


def _activity_sort_key(last_activity_ms: int, tip_id: str) -> str:
    return f"{last_activity_ms:013d}#{tip_id}"


class Table:
    """Typed reads and conditional writes on the domain table."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._oa_cache: dict[str, tuple[float, OaAccount | None]] = {}

    # -- low level -------------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(aws.dynamodb(), operation)(TableName=self.name, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                raise
            raise DependencyUnavailable(f"dynamodb {operation} failed") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable(f"dynamodb {operation} failed") from exc

    def _conditional(self, operation: str, **kwargs: Any) -> bool:
        """Run a conditional write; False when its condition did not hold."""
        try:
            self._call(operation, **kwargs)
        except ClientError:
            return False
        return True

    def paginate(self, operation: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a query or scan, page after page."""
        while True:
            response = self._call(operation, **kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    def get(self, pk: str, sk: str = "META", consistent: bool = True) -> dict[str, Any] | None:
        response = self._call("get_item", Key=key(pk, sk), ConsistentRead=consistent)
        item = response.get("Item")
        return from_item(item) if item else None

    def query_partition(self, pk: str, prefix: str = "", forward: bool = True) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": {"S": pk}}
        if prefix:
            values[":prefix"] = {"S": prefix}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "ConsistentRead": True,
        }
        yield from self.paginate("query", kwargs)

    def put(self, pk: str, sk: str, values: Mapping[str, Any], if_absent: bool = False) -> bool:
        item = to_item({**values, "pk": pk, "sk": sk})
        if not if_absent:
            self._call("put_item", Item=item)
            return True
        return self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def delete(self, pk: str, sk: str = "META") -> None:
        self._call("delete_item", Key=key(pk, sk))

    def put_unless_status(self, pk: str, sk: str, values: Mapping[str, Any], status: str) -> bool:
        """Put an item unless the stored one already has ``status`` (e.g. never undo 'retrieved')."""
        item = to_item({**values, "pk": pk, "sk": sk})
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR #st <> :st",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":st": {"S": status}},
        )

    # -- OA registry -----------------------------------------------------------------------
    def get_oa(self, oa_id: str, cache_seconds: float = 0.0) -> OaAccount | None:
        cached = self._oa_cache.get(oa_id)
        if cached and time.monotonic() - cached[0] < cache_seconds:
            return cached[1]
        values = self.get(f"OA#{oa_id}", consistent=False)
        account = OaAccount.model_validate(values) if values else None
        self._oa_cache[oa_id] = (time.monotonic(), account)
        return account

    def put_oa(self, account: OaAccount) -> None:
        values = account.model_dump()
        self.put(f"OA#{account.oa_id}", "META", {**values, "gsi1pk": "OA", "gsi1sk": account.oa_id})
        self._oa_cache.pop(account.oa_id, None)

    def list_oas(self) -> list[OaAccount]:
        items = self.query_index("gsi1", "OA")
        return [OaAccount.model_validate(values) for values in items]

    def query_index(
        self, index: str, partition: str, forward: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": forward,
        }
        items = []
        for item in self.paginate("query", kwargs):
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
        return items

    def tips_page(
        self,
        index: str,
        partition: str,
        limit: int,
        start_key: dict[str, Any] | None,
        since_ms: int | None,
        filters: Mapping[str, Any],
        max_rounds: int = 10,
    ) -> tuple[list[Tip], dict[str, Any] | None]:
        """One page of tips on an activity index, newest activity first, filtered in DynamoDB.

        At most ``limit`` tips; fewer (with a cursor) when ``max_rounds`` queries found no more."""
        condition = f"{index}pk = :p"
        values: dict[str, Any] = {":p": {"S": partition}}
        if since_ms is not None:
            condition += f" AND {index}sk >= :since"
            values[":since"] = {"S": f"{since_ms:013d}"}
        names: dict[str, str] = {}
        clauses = []
        for name, value in filters.items():
            names[f"#{name}"] = name
            values[f":{name}"] = to_item({"v": value})["v"]
            clauses.append(f"#{name} = :{name}")
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if clauses:
            kwargs["FilterExpression"] = " AND ".join(clauses)
            kwargs["ExpressionAttributeNames"] = names
        found: list[dict[str, Any]] = []
        for _ in range(max_rounds):  # a sparse filter answers a short page with a cursor, not a timeout
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            response = self._call("query", **kwargs)
            found += response.get("Items", [])
            start_key = response.get("LastEvaluatedKey")
            if not start_key or len(found) >= limit:
                break
        if len(found) > limit:  # resume right after the last tip returned, not after the last one read
            last = found[limit - 1]
            start_key = {name: last[name] for name in ("pk", "sk", f"{index}pk", f"{index}sk")}
        return [Tip.model_validate(from_item(item)) for item in found[:limit]], start_key

    def update_tip(self, tip: Tip, changes: Mapping[str, Any], expected_unit: str | None = None) -> Tip:
        """Set only the changed fields (the webhook updates counters concurrently); None removes a
        field; the unit index follows a change of unit."""
        updated = tip.model_copy(update=dict(changes))
        sets = {name: value for name, value in changes.items() if value is not None}
        if "unit_id" in changes:
            sets["gsi1pk"] = self.tip_index_fields(updated)["gsi1pk"]
        removes = [name for name, value in changes.items() if value is None]
        expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        condition = "attribute_exists(pk)"
        attribute_values = {f":{n}": to_item({"v": v})["v"] for n, v in sets.items()}
        if expected_unit is not None:
            condition += " AND unit_id = :expected_unit"
            attribute_values[":expected_unit"] = {"S": expected_unit}
        try:
            self._call(
                "update_item",
                Key=key(tip_pk(tip.tip_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={f"#{n}": n for n in [*sets, *removes]},
                ExpressionAttributeValues=attribute_values,
            )
        except ClientError as exc:  # only a failed condition gets here (_call translates the rest)
            raise Conflict("the tip was deleted or moved to another unit meanwhile") from exc
        return updated

    # -- event deduplication ---------------------------------------------------------------
    def claim_event(self, dedupe_key: str, now_ms: int) -> str:
        """'new' when this caller claimed the event first, else the earlier claim's state
        ('claimed' while another delivery works on it, 'done' once it finished)."""
        expires = now_ms // 1000 + EVENT_TTL_SECONDS
        values = {"state": "claimed", "claimed_ms": now_ms, "expires_at": expires}
        if self.put(f"EVENT#{dedupe_key}", "META", values, if_absent=True):
            return "new"
        existing = self.get(f"EVENT#{dedupe_key}")
        return str(existing.get("state", "claimed")) if existing else "claimed"

    def finish_event(self, dedupe_key: str) -> None:
        self._call(
            "update_item",
            Key=key(f"EVENT#{dedupe_key}"),
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":done": {"S": "done"}},
        )

    # -- contacts --------------------------------------------------------------------------
    def get_contact(self, pseudonym: str) -> Contact | None:
        values = self.get(contact_pk(pseudonym))
        return Contact.model_validate(values) if values else None

    def create_contact(self, contact: Contact) -> bool:
        return self.put(contact_pk(contact.pseudonym), "META", contact_item(contact), if_absent=True)

    def audience(self, oa_id: str, fields: str) -> Iterator[Contact]:
        """Every contact of one OA, from its audience partition of gsi1 (advisories' recipients)."""
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": audience_partition(oa_id)}},
            "ProjectionExpression": fields,
        }
        for values in self.paginate("query", kwargs):
            yield Contact.model_validate(values)

    def record_interaction(self, pseudonym: str, at_ms: int) -> None:
        """Move the contact's last interaction forward (events arrive out of order)."""
        self._conditional(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="SET last_interaction_ms = :t",
            ConditionExpression="attribute_exists(pk) AND last_interaction_ms < :t",
            ExpressionAttributeValues={":t": {"N": str(at_ms)}},
        )

    def count_message(self, pseudonym: str, now_ms: int, window_ms: int) -> int:
        """How many messages the contact sent in the current burst window, this one included."""
        try:
            response = self._call(
                "update_item",
                Key=key(contact_pk(pseudonym)),
                UpdateExpression="ADD burst_count :one",
                ConditionExpression="attribute_exists(pk) AND burst_start_ms > :edge",
                ExpressionAttributeValues={":one": {"N": "1"}, ":edge": {"N": str(now_ms - window_ms)}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError:
            self._call(
                "update_item",
                Key=key(contact_pk(pseudonym)),
                UpdateExpression="SET burst_start_ms = :now, burst_count = :one",
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now_ms)}},
            )
            return 1
        return int(response["Attributes"]["burst_count"]["N"])

    def set_contact_flags(self, pseudonym: str, **flags: bool) -> None:
        names = {f"#{name}": name for name in flags}
        values = {f":{name}": {"BOOL": value} for name, value in flags.items()}
        self._call(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in flags),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def clear_zalo_block(self, pseudonym: str) -> None:
        """The citizen wrote or followed again: Zalo's block is over (and an old ``blocked`` flag too)."""
        self._conditional(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="SET zalo_blocked = :no REMOVE blocked",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":no": {"BOOL": False}},
        )

    def set_officer_block(self, pseudonym: str, block: OfficerBlock) -> bool:
        """Record an officer's block and list it on gsi2; False if the citizen is blocked already."""
        return self._conditional(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="SET officer_block = :block, gsi2pk = :blocks, gsi2sk = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(officer_block)",
            ExpressionAttributeValues={
                ":block": to_item({"v": block.model_dump()})["v"],
                ":blocks": {"S": BLOCKS_PARTITION},
                ":at": {"S": f"{block.at_ms:013d}#{pseudonym}"},
            },
        )

    def lift_officer_block(self, pseudonym: str, block: OfficerBlock) -> bool:
        """Remove exactly this block (not one placed since it was read); False if it is gone."""
        return self._conditional(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="REMOVE officer_block, gsi2pk, gsi2sk",
            ConditionExpression="officer_block.at_ms = :at AND officer_block.#by = :by",
            ExpressionAttributeNames={"#by": "by"},
            ExpressionAttributeValues={":at": {"N": str(block.at_ms)}, ":by": {"S": block.by}},
        )

    def blocked_contacts(self) -> list[Contact]:
        """Every contact under an officer's block, newest block first."""
        return [
            Contact.model_validate(item) for item in self.query_index("gsi2", BLOCKS_PARTITION, forward=False)
        ]

    def set_contact_flags_since(self, pseudonym: str, stamp: str, at_ms: int, **flags: bool) -> bool:
        """Set flags as of ``at_ms``, recorded in the ``stamp`` attribute, unless a later event
        already set them (Zalo's events arrive out of order). False: the contact has newer ones."""
        names = {"#stamp": stamp, **{f"#{name}": name for name in flags}}
        values: dict[str, Any] = {":at": {"N": str(at_ms)}}
        values.update({f":{name}": {"BOOL": value} for name, value in flags.items()})
        return self._conditional(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="SET #stamp = :at" + "".join(f", #{name} = :{name}" for name in flags),
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#stamp) OR #stamp <= :at)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def point_contact_to_tip(self, pseudonym: str, tip_id: str, at_ms: int, expected: str | None) -> bool:
        """Make ``tip_id`` the contact's open tip, unless another message got there first."""
        if expected is None:
            condition = "attribute_not_exists(open_tip_id)"
            values: dict[str, Any] = {}
        else:
            condition = "open_tip_id = :expected"
            values = {":expected": {"S": expected}}
        values.update({":tip": {"S": tip_id}, ":at": {"N": str(at_ms)}})
        linked = self._conditional(
            "update_item",
            Key=key(contact_pk(pseudonym)),
            UpdateExpression="SET open_tip_id = :tip, open_tip_at_ms = :at",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        if linked:
            self.put(contact_pk(pseudonym), f"TIP#{tip_id}", {"tip_id": tip_id})
        return linked

    def contact_tip_ids(self, pseudonym: str) -> list[str]:
        return [str(item["tip_id"]) for item in self.query_partition(contact_pk(pseudonym), "TIP#")]

    # -- tips ------------------------------------------------------------------------------
    def tip_index_fields(self, tip: Tip) -> dict[str, Any]:
        activity = _activity_sort_key(tip.last_activity_ms, tip.tip_id)
        return {"gsi1pk": f"UNIT#{tip.unit_id}", "gsi1sk": activity, "gsi2pk": "TIPS", "gsi2sk": activity}

    def put_tip_if_absent(self, tip: Tip) -> bool:
        values = {**tip.model_dump(), **self.tip_index_fields(tip)}
        return self.put(tip_pk(tip.tip_id), "META", values, if_absent=True)

    def get_tip(self, tip_id: str) -> Tip | None:
        values = self.get(tip_pk(tip_id))
        return Tip.model_validate(values) if values else None

    def reserve_code(self, code: str, tip_id: str) -> bool:
        return self.put(f"CODE#{code}", "META", {"tip_id": tip_id}, if_absent=True)

    def tip_id_for_code(self, code: str) -> str | None:
        values = self.get(f"CODE#{code}")
        return str(values["tip_id"]) if values else None

    def note_inbound(self, tip: Tip, at_ms: int, urgent: bool) -> None:
        """Count one more citizen message on the tip and move its activity forward."""
        last = max(tip.last_activity_ms, at_ms)
        activity = _activity_sort_key(last, tip.tip_id)
        expression = "ADD message_count :one SET last_activity_ms = :last, gsi1sk = :act, gsi2sk = :act"
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":last": {"N": str(last)},
            ":act": {"S": activity},
        }
        if urgent:
            expression += ", urgent = :true"
            values[":true"] = {"BOOL": True}
        self._call(
            "update_item",
            Key=key(tip_pk(tip.tip_id)),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
        )

    def note_officer_reply(self, tip_id: str, now_ms: int) -> None:
        """Count an officer's reply atomically (officers answer concurrently): the first one sets the
        time to first reply, and a new tip becomes in progress."""
        try:
            self._call(
                "update_item",
                Key=key(tip_pk(tip_id)),
                UpdateExpression=(
                    "ADD reply_count :one SET first_reply_ms = if_not_exists(first_reply_ms, :now)"
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now_ms)}},
            )
        except ClientError as exc:
            raise Conflict("the tip was deleted meanwhile") from exc
        self._conditional(
            "update_item",
            Key=key(tip_pk(tip_id)),
            UpdateExpression="SET #status = :progress",
            ConditionExpression="#status = :new",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":progress": {"S": "in_progress"}, ":new": {"S": "new"}},
        )

    def claim_ack(self, tip_id: str, reply_id: str, now_ms: int, quiet_ms: int) -> bool:
        """True for the one acknowledgement allowed now (none within the quiet period). The claim
        names its reply, so a retry of the same event (after a failure) still holds it."""
        return self._conditional(
            "update_item",
            Key=key(tip_pk(tip_id)),
            UpdateExpression="SET last_ack_ms = :now, last_ack_id = :reply",
            ConditionExpression="attribute_exists(pk) AND (last_ack_ms <= :edge OR last_ack_id = :reply)",
            ExpressionAttributeValues={
                ":now": {"N": str(now_ms)},
                ":edge": {"N": str(now_ms - quiet_ms)},
                ":reply": {"S": reply_id},
            },
        )

    def set_expiry(self, tip: Tip, expires_at: int | None) -> int:
        """Set (or clear) the TTL on every item of a tip, so its thread and data keys go together."""
        items = [(tip_pk(tip.tip_id), str(item["sk"])) for item in self.query_partition(tip_pk(tip.tip_id))]
        items.append((f"CODE#{tip.code}", "META"))
        items.append((contact_pk(tip.pseudonym), f"TIP#{tip.tip_id}"))
        for pk, sk in items:
            if expires_at is None:
                self._call("update_item", Key=key(pk, sk), UpdateExpression="REMOVE expires_at")
            else:
                self._call(
                    "update_item",
                    Key=key(pk, sk),
                    UpdateExpression="SET expires_at = :e",
                    ExpressionAttributeValues={":e": {"N": str(expires_at)}},
                )
        return len(items)

    def expired_tips(self, now_s: int) -> Iterator[Tip]:
        """Tips whose TTL has passed (DynamoDB deletes them within ~48 h; the sweeper does not wait)."""
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :tip) AND sk = :meta AND expires_at < :now",
            "ExpressionAttributeValues": {
                ":tip": {"S": "TIP#"},
                ":meta": {"S": "META"},
                ":now": {"N": str(now_s)},
            },
        }
        for values in self.paginate("scan", kwargs):
            yield Tip.model_validate(values)

    def request_evidence_purge(self, tip_id: str) -> None:
        """Ask the sweeper (which may touch the evidence bucket) to delete a tip's evidence."""
        self.put("PURGE", tip_id, {"tip_id": tip_id})

    def pending_evidence_purges(self) -> list[str]:
        return [str(item["tip_id"]) for item in self.query_partition("PURGE")]

    def clear_evidence_purge(self, tip_id: str) -> None:
        self.delete("PURGE", tip_id)

    def delete_tip(self, tip: Tip) -> int:
        items = [(tip_pk(tip.tip_id), str(item["sk"])) for item in self.query_partition(tip_pk(tip.tip_id))]
        items += [(f"CODE#{tip.code}", "META"), (contact_pk(tip.pseudonym), f"TIP#{tip.tip_id}")]
        for pk, sk in items:
            self.delete(pk, sk)
        return len(items)

    # -- threads ---------------------------------------------------------------------------
    def put_entry_if_absent(self, entry: ThreadEntry) -> bool:
        pk = thread_pk(entry.tip_id, entry.pseudonym)
        return self.put(pk, entry.entry_key, entry.model_dump(), if_absent=True)

    def get_entry(self, pk: str, entry_key: str) -> ThreadEntry | None:
        values = self.get(pk, entry_key)
        return ThreadEntry.model_validate(values) if values else None

    def thread(self, pk: str) -> list[ThreadEntry]:
        return [ThreadEntry.model_validate(v) for v in self.query_partition(pk, "MSG#")]

    def mark_enqueued(self, pk: str, entry_key: str) -> None:
        self._call(
            "update_item",
            Key=key(pk, entry_key),
            UpdateExpression="SET enqueued = :true",
            ExpressionAttributeValues={":true": {"BOOL": True}},
        )

    def set_delivery(
        self,
        pk: str,
        entry_key: str,
        status: DeliveryStatus,
        reason: str | None = None,
        zalo_message_id: str | None = None,
    ) -> None:
        expression = "SET #st = :st"
        values: dict[str, Any] = {":st": {"S": status.value}}
        if reason is not None:
            expression += ", reason = :reason"
            values[":reason"] = {"S": reason}
        if zalo_message_id is not None:
            expression += ", zalo_message_id = :zid"
            values[":zid"] = {"S": zalo_message_id}
        self._call(
            "update_item",
            Key=key(pk, entry_key),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues=values,
        )

    def mark_receipt(self, pk: str, entry_key: str, status: DeliveryStatus) -> bool:
        """Mark a sent reply delivered or seen from Zalo's receipts, which can arrive out of order:
        a reply already seen stays seen. False when nothing changed."""
        return self._conditional(
            "update_item",
            Key=key(pk, entry_key),
            UpdateExpression="SET #st = :st",
            ConditionExpression="attribute_exists(pk) AND #st <> :seen",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":st": {"S": status.value}, ":seen": {"S": DeliveryStatus.SEEN.value}},
        )

    def erase_sealed(self, pk: str, entry_key: str) -> None:
        self._call("update_item", Key=key(pk, entry_key), UpdateExpression="REMOVE sealed")

    # -- delivery receipts -----------------------------------------------------------------
    def remember_sent(self, sent: Sequence[tuple[str, str, str, str]]) -> None:
        """Point Zalo message ids (oa_id, zalo_message_id, thread pk, entry key) at their thread
        entries, for delivery receipts: plain puts, 25 a call."""
        self.batch_put(
            [
                {"pk": f"ZMSG#{oa_id}#{message_id}", "sk": "META", "thread_pk": pk, "entry_key": entry_key}
                for oa_id, message_id, pk, entry_key in sent
            ]
        )

    def find_sent(self, oa_id: str, zalo_message_id: str) -> tuple[str, str] | None:
        values = self.get(f"ZMSG#{oa_id}#{zalo_message_id}", consistent=False)
        return (str(values["thread_pk"]), str(values["entry_key"])) if values else None

    # -- the reply sender: replies' entries and contacts in one read (tipline.replies.delivery) --
    def get_entries_and_contacts(
        self, wanted: Sequence[tuple[str, str, str]]
    ) -> tuple[dict[tuple[str, str], ThreadEntry], dict[str, Contact]]:
        """Thread entries (pk, entry key) and their citizens' contacts (by pseudonym) of several
        replies, in consistent BatchGetItem calls (100 keys each); what does not exist is absent."""
        keys = [(pk, entry_key) for pk, entry_key, _ in wanted]
        keys += [(contact_pk(pseudonym), "META") for _, _, pseudonym in wanted]
        found = {(str(v["pk"]), str(v["sk"])): v for v in self.batch_get(keys, consistent=True)}
        entries = {
            (pk, entry_key): ThreadEntry.model_validate(found[(pk, entry_key)])
            for pk, entry_key, _ in wanted
            if (pk, entry_key) in found
        }
        contacts = {
            pseudonym: Contact.model_validate(found[(contact_pk(pseudonym), "META")])
            for _, _, pseudonym in wanted
            if (contact_pk(pseudonym), "META") in found
        }
        return entries, contacts

    # -- versioned records with a lease (tipline.tokens) -------------------------------------
    def put_versioned(
        self, pk: str, sk: str, values: Mapping[str, Any], expected_version: int | None
    ) -> bool:
        """Replace an item only while its ``version`` is ``expected_version`` (None: only if absent).

        The new item carries ``version`` + 1 and no lease. False when another writer got there first.
        """
        item = to_item({**values, "pk": pk, "sk": sk, "version": (expected_version or 0) + 1})
        if expected_version is None:
            return self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": {"N": str(expected_version)}},
        )

    def take_lease(self, pk: str, sk: str, owner: str, now_ms: int, until_ms: int) -> bool:
        """Hold an existing item's lease until ``until_ms``, unless another owner holds a live one."""
        return self._conditional(
            "update_item",
            Key=key(pk, sk),
            UpdateExpression="SET lease_owner = :o, lease_until_ms = :u",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(lease_until_ms)"
                " OR lease_until_ms < :now OR lease_owner = :o)"
            ),
            ExpressionAttributeValues={
                ":o": {"S": owner},
                ":u": {"N": str(until_ms)},
                ":now": {"N": str(now_ms)},
            },
        )

    def release_lease(
        self, pk: str, sk: str, owner: str, sets: Mapping[str, Any], increments: Mapping[str, int]
    ) -> bool:
        """Give up our lease, setting ``sets`` and adding ``increments``; False if it was not ours."""
        names = {f"#{n}": n for n in [*sets, *increments]}
        values = {f":{n}": to_item({"v": v})["v"] for n, v in {**sets, **increments}.items()}
        values[":owner"] = {"S": owner}
        expression = "REMOVE lease_owner, lease_until_ms"
        if sets:
            expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets) + " " + expression
        if increments:
            expression += " ADD " + ", ".join(f"#{n} :{n}" for n in increments)
        extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        return self._conditional(
            "update_item",
            Key=key(pk, sk),
            UpdateExpression=expression,
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues=values,
            **extra,
        )

    # -- batches (advisories: a fan-out message's recipients at once) ------------------------
    def batch_get(
        self, keys: list[tuple[str, str]], projection: str | None = None, consistent: bool = False
    ) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist (any order), 100 keys a call, unprocessed keys retried."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                "Keys": [key(pk, sk) for pk, sk in dict.fromkeys(keys[start : start + 100])]
            }
            if projection:
                request["ProjectionExpression"] = projection
            if consistent:
                request["ConsistentRead"] = True
            pending: dict[str, Any] = {self.name: request}
            for attempt in range(8):
                response = self._call_batch("batch_get_item", RequestItems=pending)
                found.extend(from_item(item) for item in response.get("Responses", {}).get(self.name, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise DependencyUnavailable("dynamodb batch_get_item left keys unprocessed")
        return found

    def batch_put(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Unconditional puts, 25 a call, unprocessed items retried (each item has pk and sk)."""
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                self.name: [{"PutRequest": {"Item": to_item(values)}} for values in items[start : start + 25]]
            }
            for attempt in range(8):
                response = self._call_batch("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise DependencyUnavailable("dynamodb batch_write_item left items unprocessed")

    def _call_batch(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(aws.dynamodb(), operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable(f"dynamodb {operation} failed") from exc

    def put_if_absent_or_status(self, pk: str, sk: str, values: Mapping[str, Any], status: str) -> bool:
        """Put an item only if none is stored or the stored one has ``status`` (a claim)."""
        return self._conditional(
            "put_item",
            Item=to_item({**values, "pk": pk, "sk": sk}),
            ConditionExpression="attribute_not_exists(pk) OR #st = :st",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":st": {"S": status}},
        )

    def take_daily_slots(self, pk: str, day: str, wanted: int, limit: int) -> int:
        """Count up to ``wanted`` uses of a per-day allowance of ``limit``; returns how many fit."""
        take = min(wanted, limit)
        for _ in range(8):
            if take <= 0:
                return 0
            if self._conditional(
                "update_item",
                Key=key(pk, day),
                UpdateExpression="ADD used :take SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(used) OR used <= :most",
                ExpressionAttributeValues={
                    ":take": {"N": str(take)},
                    ":most": {"N": str(limit - take)},
                    ":expires": {"N": str(int(clock.now_s()) + 3 * 86400)},
                },
            ):
                return take
            current = self.get(pk, day)
            take = min(wanted, limit - (int(current.get("used", 0)) if current else 0))
        raise DependencyUnavailable("the daily allowance is too contended; retrying")

    def return_daily_slots(self, pk: str, day: str, count: int) -> None:
        """Give back uses counted by take_daily_slots that were not spent."""
        self._call(
            "update_item",
            Key=key(pk, day),
            UpdateExpression="ADD used :minus",
            ExpressionAttributeValues={":minus": {"N": str(-count)}},
        )
