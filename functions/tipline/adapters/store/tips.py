"""Tips (TIP#<tip_id>/META), their codes (CODE#<code>), activity indexes, expiry and purges."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway, from_item, key, to_item
from tipline.domain import Tip
from tipline.errors import Conflict


class TipStore(DynamoGateway):
    """A tip's record and counters; unit (gsi1) and province (gsi2) listings by activity."""

    def tip_index_fields(self, tip: Tip) -> dict[str, Any]:
        activity = keys.activity_sk(tip.last_activity_ms, tip.tip_id)
        return {
            "gsi1pk": keys.unit_partition(tip.unit_id),
            "gsi1sk": activity,
            "gsi2pk": keys.ALL_TIPS,
            "gsi2sk": activity,
        }

    def put_tip_if_absent(self, tip: Tip) -> bool:
        values = {**tip.model_dump(), **self.tip_index_fields(tip)}
        return self.put(keys.tip_pk(tip.tip_id), keys.META, values, if_absent=True)

    def new_tip_op(self, tip: Tip, ack_id: str | None = None) -> dict[str, Any]:
        """put_tip_if_absent for a transaction; ``ack_id``: the tip's first acknowledgement is
        claimed with it (as claim_ack would, at the tip's ``last_ack_ms``)."""
        values = {**tip.model_dump(), **self.tip_index_fields(tip)}
        if ack_id is not None:
            values["last_ack_id"] = ack_id
        return self.put_op(keys.tip_pk(tip.tip_id), keys.META, values, if_absent=True)

    def reserve_code_op(self, code: str, tip_id: str) -> dict[str, Any]:
        return self.put_op(keys.code_pk(code), keys.META, {"tip_id": tip_id}, if_absent=True)

    def join_tip_op(
        self,
        tip: Tip,
        at_ms: int,
        urgent: bool,
        open_statuses: Sequence[str],
        active_since_ms: int | None,
        ack: tuple[str, int, int] | None,
    ) -> dict[str, Any]:
        """note_inbound for a transaction, holding only while the tip can still take the message:
        open (one of ``open_statuses``) and, unless ``active_since_ms`` is None, active since then.
        ``ack`` (reply id, now, quiet period in ms) also claims an acknowledgement as claim_ack does."""
        last = max(tip.last_activity_ms, at_ms)
        activity = keys.activity_sk(last, tip.tip_id)
        sets = ["last_activity_ms = :last", "gsi1sk = :act", "gsi2sk = :act"]
        values: dict[str, Any] = {":one": 1, ":last": last, ":act": activity}
        statuses = {f":open{i}": status for i, status in enumerate(open_statuses)}
        values.update(statuses)
        conditions = ["attribute_exists(pk)", f"#st IN ({', '.join(statuses)})"]
        if urgent:
            sets.append("urgent = :true")
            values[":true"] = True
        if active_since_ms is not None:
            conditions.append("last_activity_ms >= :since")
            values[":since"] = active_since_ms
        if ack is not None:
            reply_id, now_ms, quiet_ms = ack
            sets += ["last_ack_ms = :now", "last_ack_id = :reply"]
            conditions.append("(last_ack_ms <= :edge OR last_ack_id = :reply)")
            values.update({":now": now_ms, ":edge": now_ms - quiet_ms, ":reply": reply_id})
        return self.update_op(
            keys.tip_pk(tip.tip_id),
            keys.META,
            "ADD message_count :one SET " + ", ".join(sets),
            values,
            condition=" AND ".join(conditions),
            names={"#st": "status"},
        )

    def get_tip(self, tip_id: str) -> Tip | None:
        values = self.get(keys.tip_pk(tip_id))
        return Tip.model_validate(values) if values else None

    def update_tip(self, tip: Tip, changes: Mapping[str, Any], expected_unit: str | None = None) -> Tip:
        """Set only the changed fields (the webhook updates counters concurrently); None removes a
        field; the unit index follows a change of unit."""
        updated = tip.model_copy(update=dict(changes))
        sets = {name: value for name, value in changes.items() if value is not None}
        if "unit_id" in changes:
            sets["gsi1pk"] = self.tip_index_fields(updated)["gsi1pk"]
        removes = [name for name, value in changes.items() if value is None]
        clauses = [f"SET {', '.join(f'#{n} = :{n}' for n in sets)}"] if sets else []
        if removes:  # a change that only removes (an assignee cleared) has no SET clause
            clauses.append("REMOVE " + ", ".join(f"#{n}" for n in removes))
        condition = "attribute_exists(pk)"
        attribute_values = {f":{n}": to_item({"v": v})["v"] for n, v in sets.items()}
        if expected_unit is not None:
            condition += " AND unit_id = :expected_unit"
            attribute_values[":expected_unit"] = {"S": expected_unit}
        values = {"ExpressionAttributeValues": attribute_values} if attribute_values else {}
        try:
            self._call(
                "update_item",
                Key=key(keys.tip_pk(tip.tip_id)),
                UpdateExpression=" ".join(clauses),
                ConditionExpression=condition,
                ExpressionAttributeNames={f"#{n}": n for n in [*sets, *removes]},
                **values,
            )
        except ClientError as exc:  # only a failed condition gets here (_call translates the rest)
            raise Conflict("the tip was deleted or moved to another unit meanwhile") from exc
        return updated

    def tips_page(
        self,
        unit_id: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        since_ms: int | None,
        filters: Mapping[str, Any],
        max_rounds: int = 10,
    ) -> tuple[list[Tip], dict[str, Any] | None]:
        """One page of tips by activity, newest first, filtered in DynamoDB.

        One unit's tips (gsi1), or the whole province's (gsi2) when ``unit_id`` is None. At most
        ``limit`` tips; fewer (with a cursor) when ``max_rounds`` queries found no more."""
        index, partition = (
            (keys.GSI1, keys.unit_partition(unit_id)) if unit_id is not None else (keys.GSI2, keys.ALL_TIPS)
        )
        condition = f"{index}pk = :p"
        values: dict[str, Any] = {":p": {"S": partition}}
        if since_ms is not None:
            condition += f" AND {index}sk >= :since"
            values[":since"] = {"S": keys.ms13(since_ms)}
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

    def tip_facts(self) -> Iterator[dict[str, Any]]:
        """Every tip's unit, status and urgent flag, nothing else (province statistics)."""
        query: dict[str, Any] = {
            "IndexName": keys.GSI2,
            "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": {":p": {"S": keys.ALL_TIPS}},
            "ProjectionExpression": "unit_id, #st, urgent",
            "ExpressionAttributeNames": {"#st": "status"},
        }
        yield from self.paginate("query", query)

    def tip_item(self, tip_id: str) -> dict[str, Any] | None:
        """The tip's whole stored item (its officer-set fields beside the Tip model's)."""
        return self.get(keys.tip_pk(tip_id))

    def release_code(self, code: str) -> None:
        """Give back a code reserved for a tip that was not created."""
        self.delete(keys.code_pk(code))

    def reserve_code(self, code: str, tip_id: str) -> bool:
        return self.put(keys.code_pk(code), keys.META, {"tip_id": tip_id}, if_absent=True)

    def tip_id_for_code(self, code: str) -> str | None:
        values = self.get(keys.code_pk(code))
        return str(values["tip_id"]) if values else None

    def note_inbound(self, tip: Tip, at_ms: int, urgent: bool) -> None:
        """Count one more citizen message on the tip and move its activity forward."""
        last = max(tip.last_activity_ms, at_ms)
        activity = keys.activity_sk(last, tip.tip_id)
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
            Key=key(keys.tip_pk(tip.tip_id)),
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
                Key=key(keys.tip_pk(tip_id)),
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
            Key=key(keys.tip_pk(tip_id)),
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
            Key=key(keys.tip_pk(tip_id)),
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
        items = [
            (keys.tip_pk(tip.tip_id), str(item["sk"]))
            for item in self.query_partition(keys.tip_pk(tip.tip_id))
        ]
        items.append((keys.code_pk(tip.code), keys.META))
        items.append((keys.contact_pk(tip.pseudonym), keys.contact_tip_sk(tip.tip_id)))
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
                ":tip": {"S": keys.tip_pk("")},
                ":meta": {"S": keys.META},
                ":now": {"N": str(now_s)},
            },
        }
        for values in self.paginate("scan", kwargs):
            yield Tip.model_validate(values)

    def request_evidence_purge(self, tip_id: str) -> None:
        """Ask the sweeper (which may touch the evidence bucket) to delete a tip's evidence."""
        self.put(keys.PURGE, tip_id, {"tip_id": tip_id})

    def pending_evidence_purges(self) -> list[str]:
        return [str(item["tip_id"]) for item in self.query_partition(keys.PURGE)]

    def clear_evidence_purge(self, tip_id: str) -> None:
        self.delete(keys.PURGE, tip_id)

    def delete_tip(self, tip: Tip) -> int:
        """Delete every item of a tip, the receipt pointers of its sent replies, and the contact's
        pointer to it as its open tip."""
        items, pointers = [], []
        for item in self.query_partition(keys.tip_pk(tip.tip_id)):
            items.append((keys.tip_pk(tip.tip_id), str(item["sk"])))
            if item.get("zalo_message_id") and item.get("oa_id"):
                pointer = keys.sent_pointer_pk(str(item["oa_id"]), str(item["zalo_message_id"]))
                pointers.append((pointer, keys.META))
        items += [
            (keys.code_pk(tip.code), keys.META),
            (keys.contact_pk(tip.pseudonym), keys.contact_tip_sk(tip.tip_id)),
            *pointers,
        ]
        for pk, sk in items:
            self.delete(pk, sk)
        self._conditional(
            "update_item",
            Key=key(keys.contact_pk(tip.pseudonym)),
            UpdateExpression="REMOVE open_tip_id, open_tip_at_ms",
            ConditionExpression="open_tip_id = :tip",
            ExpressionAttributeValues={":tip": {"S": tip.tip_id}},
        )
        return len(items)
