"""Contacts (CONTACT#<pseudonym>) and each OA's audience on gsi1 (AUDIENCE#<oa_id>)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway, key, to_item
from tipline.domain import Contact, OfficerBlock


def contact_item(contact: Contact) -> dict[str, Any]:
    """A contact's stored attributes: its fields and its place in its OA's audience on gsi1 (a
    contact's OA never changes, so the index keys are written once, with the contact)."""
    return {
        **contact.model_dump(),
        "gsi1pk": keys.audience_partition(contact.oa_id),
        "gsi1sk": contact.pseudonym,
    }


class ContactStore(DynamoGateway):
    """A contact's record, its counters and flags, and the tips it opened."""

    def get_contact(self, pseudonym: str) -> Contact | None:
        values = self.get(keys.contact_pk(pseudonym))
        return Contact.model_validate(values) if values else None

    def create_contact(self, contact: Contact) -> bool:
        return self.put(keys.contact_pk(contact.pseudonym), keys.META, contact_item(contact), if_absent=True)

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
