"""Contacts (CONTACT#<pseudonym>) and each OA's audience on gsi1 (AUDIENCE#<oa_id>)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway, from_item, key, to_item
from tipline.domain import Contact, OfficerBlock
from tipline.errors import DependencyUnavailable


def contact_item(contact: Contact, burst_start_ms: int | None = None) -> dict[str, Any]:
    """A contact's stored attributes: its fields and its place in its OA's audience on gsi1 (a
    contact's OA never changes, so the index keys are written once, with the contact).
    ``burst_start_ms``: the contact is created by a message, the first of its burst window."""
    burst = {"burst_start_ms": burst_start_ms, "burst_count": 1} if burst_start_ms is not None else {}
    return {
        **contact.model_dump(),
        **burst,
        "gsi1pk": keys.audience_partition(contact.oa_id),
        "gsi1sk": contact.pseudonym,
    }


# Attempts of touch_contact's single conditional write before it gives up (each lost race re-plans
# from the item the failed condition returned).
_TOUCH_ATTEMPTS = 4


class ContactStore(DynamoGateway):
    """A contact's record, its counters and flags, and the tips it opened."""

    def get_contact(self, pseudonym: str) -> Contact | None:
        values = self.get(keys.contact_pk(pseudonym))
        return Contact.model_validate(values) if values else None

    def create_contact(self, contact: Contact, burst_start_ms: int | None = None) -> bool:
        item = contact_item(contact, burst_start_ms)
        return self.put(keys.contact_pk(contact.pseudonym), keys.META, item, if_absent=True)

    def create_contact_op(self, contact: Contact, burst_start_ms: int | None = None) -> dict[str, Any]:
        """create_contact as part of a transaction."""
        item = contact_item(contact, burst_start_ms)
        return self.put_op(keys.contact_pk(contact.pseudonym), keys.META, item, if_absent=True)

    def touch_contact(
        self, pseudonym: str, at_ms: int, now_ms: int, window_ms: int
    ) -> tuple[Contact, int] | None:
        """A message from the contact, in one write: its last interaction moves forward (events arrive
        out of order), Zalo's block is over (the citizen wrote: docs/intake.md, "Blocks"), and the
        message is counted in the contact's burst window (a new window starts when the last one is
        over). Returns the contact as it was before and the message's count in its window; None
        when there is no contact. Each step keeps the semantics of record_interaction,
        clear_zalo_block and count_message: the write is conditional on what it assumes of the
        stored item, and a failed condition returns the item to plan the next attempt from."""
        edge = now_ms - window_ms
        forward, in_window = True, True  # the usual case: a later message within the window
        for _ in range(_TOUCH_ATTEMPTS):
            sets = ["zalo_blocked = :no"]
            conditions = ["attribute_exists(pk)"]
            values: dict[str, Any] = {":no": {"BOOL": False}, ":one": {"N": "1"}}
            if forward:
                sets.append("last_interaction_ms = :t")
                conditions.append("last_interaction_ms < :t")
                values[":t"] = {"N": str(at_ms)}
            values[":edge"] = {"N": str(edge)}
            if in_window:
                add = " ADD burst_count :one"
                conditions.append("burst_start_ms > :edge")
            else:
                add = ""
                sets += ["burst_start_ms = :now", "burst_count = :one"]
                conditions.append("(attribute_not_exists(burst_start_ms) OR burst_start_ms <= :edge)")
                values[":now"] = {"N": str(now_ms)}
            response, old = self._conditional_old(
                "update_item",
                Key=key(keys.contact_pk(pseudonym)),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE blocked" + add,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
            if old is None:
                before = from_item(response.get("Attributes", {}))
                count = int(before.get("burst_count", 0)) + 1 if in_window else 1
                return Contact.model_validate(before), count
            if not old:
                return None
            forward = int(old.get("last_interaction_ms", 0)) < at_ms
            in_window = int(old.get("burst_start_ms", edge)) > edge
        raise DependencyUnavailable("the contact changed under every attempt; retrying later")

    def subscription_op(
        self, pseudonym: str, at_ms: int, follower: bool, interaction: bool
    ) -> dict[str, Any]:
        """A follow (or an unfollow) in one conditional write, for a transaction: the follower fact
        and the advisory choice as of ``at_ms`` and, for a follow, the interaction and the end of
        Zalo's block. It holds only when no later event set any of them; otherwise the caller
        applies them one by one (tipline.intake.subscription), each ordered on its own stamp."""
        choice = "opted_out" if follower else "opted_in"
        sets = ["follower = :follower", "follower_at_ms = :at", f"{choice} = :no", "choice_at_ms = :at"]
        conditions = [
            "attribute_exists(pk)",
            "(attribute_not_exists(follower_at_ms) OR follower_at_ms <= :at)",
            "(attribute_not_exists(choice_at_ms) OR choice_at_ms <= :at)",
        ]
        expression_tail = ""
        if interaction:
            sets += ["last_interaction_ms = :at", "zalo_blocked = :no"]
            conditions.append("last_interaction_ms <= :at")
            expression_tail = " REMOVE blocked"
        return self.update_op(
            keys.contact_pk(pseudonym),
            keys.META,
            "SET " + ", ".join(sets) + expression_tail,
            {":follower": follower, ":at": at_ms, ":no": False},
            condition=" AND ".join(conditions),
        )

    def point_contact_op(
        self, pseudonym: str, tip_id: str, at_ms: int, expected: str | None
    ) -> dict[str, Any]:
        """point_contact_to_tip's conditional update, for a transaction (with contact_tip_link_op)."""
        condition = "attribute_not_exists(open_tip_id)" if expected is None else "open_tip_id = :expected"
        values: dict[str, Any] = {":tip": tip_id, ":at": at_ms}
        if expected is not None:
            values[":expected"] = expected
        return self.update_op(
            keys.contact_pk(pseudonym),
            keys.META,
            "SET open_tip_id = :tip, open_tip_at_ms = :at",
            values,
            condition=condition,
        )

    def contact_tip_link_op(self, pseudonym: str, tip_id: str) -> dict[str, Any]:
        return self.put_op(keys.contact_pk(pseudonym), keys.contact_tip_sk(tip_id), {"tip_id": tip_id})

    def get_contacts(self, pseudonyms: Sequence[str]) -> list[Contact]:
        """The contacts that exist among ``pseudonyms`` (batched reads, any order)."""
        found = self.batch_get([(keys.contact_pk(p), keys.META) for p in pseudonyms])
        return [Contact.model_validate(values) for values in found]

    def delete_contact(self, pseudonym: str) -> None:
        self.delete(keys.contact_pk(pseudonym))

    def audience(self, oa_id: str, fields: str) -> Iterator[Contact]:
        """Every contact of one OA, from its audience partition of gsi1 (advisories' recipients)."""
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": keys.audience_partition(oa_id)}},
            "ProjectionExpression": fields,
        }
        for values in self.paginate("query", kwargs):
            yield Contact.model_validate(values)

    def record_interaction(self, pseudonym: str, at_ms: int) -> None:
        """Move the contact's last interaction forward (events arrive out of order)."""
        self._conditional(
            "update_item",
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="SET last_interaction_ms = :t",
            ConditionExpression="attribute_exists(pk) AND last_interaction_ms < :t",
            ExpressionAttributeValues={":t": {"N": str(at_ms)}},
        )

    def count_message(self, pseudonym: str, now_ms: int, window_ms: int) -> int:
        """How many messages the contact sent in the current burst window, this one included."""
        try:
            response = self._call(
                "update_item",
                Key=key(keys.contact_pk(pseudonym)),
                UpdateExpression="ADD burst_count :one",
                ConditionExpression="attribute_exists(pk) AND burst_start_ms > :edge",
                ExpressionAttributeValues={":one": {"N": "1"}, ":edge": {"N": str(now_ms - window_ms)}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError:
            self._call(
                "update_item",
                Key=key(keys.contact_pk(pseudonym)),
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
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in flags),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def set_contact_flags_since(self, pseudonym: str, stamp: str, at_ms: int, **flags: bool) -> bool:
        """Set flags as of ``at_ms``, recorded in the ``stamp`` attribute, unless a later event
        already set them (Zalo's events arrive out of order). False: the contact has newer ones."""
        names = {"#stamp": stamp, **{f"#{name}": name for name in flags}}
        values: dict[str, Any] = {":at": {"N": str(at_ms)}}
        values.update({f":{name}": {"BOOL": value} for name, value in flags.items()})
        return self._conditional(
            "update_item",
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="SET #stamp = :at" + "".join(f", #{name} = :{name}" for name in flags),
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#stamp) OR #stamp <= :at)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def clear_zalo_block(self, pseudonym: str) -> None:
        """The citizen wrote or followed again: Zalo's block is over (and an old ``blocked`` flag too)."""
        self._conditional(
            "update_item",
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="SET zalo_blocked = :no REMOVE blocked",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":no": {"BOOL": False}},
        )

    def set_officer_block(self, pseudonym: str, block: OfficerBlock) -> bool:
        """Record an officer's block and list it on gsi2; False if the citizen is blocked already."""
        return self._conditional(
            "update_item",
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="SET officer_block = :block, gsi2pk = :blocks, gsi2sk = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(officer_block)",
            ExpressionAttributeValues={
                ":block": to_item({"v": block.model_dump()})["v"],
                ":blocks": {"S": keys.BLOCKS},
                ":at": {"S": f"{keys.ms13(block.at_ms)}#{pseudonym}"},
            },
        )

    def lift_officer_block(self, pseudonym: str, block: OfficerBlock) -> bool:
        """Remove exactly this block (not one placed since it was read); False if it is gone."""
        return self._conditional(
            "update_item",
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="REMOVE officer_block, gsi2pk, gsi2sk",
            ConditionExpression="officer_block.at_ms = :at AND officer_block.#by = :by",
            ExpressionAttributeNames={"#by": "by"},
            ExpressionAttributeValues={":at": {"N": str(block.at_ms)}, ":by": {"S": block.by}},
        )

    def blocked_contacts(self) -> list[Contact]:
        """Every contact under an officer's block, newest block first."""
        return [
            Contact.model_validate(item) for item in self.query_index(keys.GSI2, keys.BLOCKS, forward=False)
        ]

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
            Key=key(keys.contact_pk(pseudonym)),
            UpdateExpression="SET open_tip_id = :tip, open_tip_at_ms = :at",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        if linked:
            self.put(keys.contact_pk(pseudonym), keys.contact_tip_sk(tip_id), {"tip_id": tip_id})
        return linked

    # -- contacts that outlived their purpose ----------------------------------------------------------
    def idle_contacts(self, before_ms: int) -> Iterator[Contact]:
        """Contacts with no interaction since ``before_ms`` (the sweeper checks the rest)."""
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :contact) AND sk = :meta AND last_interaction_ms < :before",
            "ExpressionAttributeValues": {
                ":contact": {"S": keys.contact_pk("")},
                ":meta": {"S": keys.META},
                ":before": {"N": str(before_ms)},
            },
        }
        for values in self.paginate("scan", kwargs):
            yield Contact.model_validate(values)

    def forget_contact(self, pseudonym: str, before_ms: int) -> bool:
        """Delete an idle contact (its sealed Zalo id with it) and what hangs under it, unless it
        interacted, opened a tip or followed meanwhile. False when it was kept."""
        deleted = self._conditional(
            "delete_item",
            Key=key(keys.contact_pk(pseudonym)),
            ConditionExpression=(
                "last_interaction_ms < :before AND attribute_not_exists(open_tip_id)"
                " AND (attribute_not_exists(follower) OR follower = :no OR opted_out = :yes)"
            ),
            ExpressionAttributeValues={
                ":before": {"N": str(before_ms)},
                ":no": {"BOOL": False},
                ":yes": {"BOOL": True},
            },
        )
        if deleted:
            for item in self.query_partition(keys.contact_pk(pseudonym)):
                self.delete(keys.contact_pk(pseudonym), str(item["sk"]))
        return deleted

    def contact_tip_ids(self, pseudonym: str) -> list[str]:
        return [
            str(item["tip_id"])
            for item in self.query_partition(keys.contact_pk(pseudonym), keys.CONTACT_TIP_PREFIX)
        ]
