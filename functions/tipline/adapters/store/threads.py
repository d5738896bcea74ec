"""Thread entries (MSG#...) under a tip or contact, delivery marks and receipt pointers (ZMSG#...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tipline import clock, keys
from tipline.adapters.store.gateway import DynamoGateway, key
from tipline.domain import Contact, DeliveryStatus, ThreadEntry

# A sent message's pointer (ZMSG#) maps Zalo's delivery receipts to what was sent; receipts that come
# later than this are not worth keeping a citizen's message id for. The sweeper deletes a tip's
# pointers with the tip in any case.
RECEIPT_POINTER_SECONDS = 30 * 24 * 3600


def pointer_item(oa_id: str, zalo_message_id: str, thread_pk: str, entry_key: str) -> dict[str, Any]:
    """The receipt pointer of a sent message: its thread entry or delivery record, for a while."""
    return {
        "pk": keys.sent_pointer_pk(oa_id, zalo_message_id),
        "sk": keys.META,
        "thread_pk": thread_pk,
        "entry_key": entry_key,
        "expires_at": int(clock.now_s()) + RECEIPT_POINTER_SECONDS,
    }


class ThreadStore(DynamoGateway):
    """Messages in and out of a thread, and what Zalo said about the ones sent."""

    def put_entry_if_absent(self, entry: ThreadEntry) -> bool:
        pk = keys.thread_pk(entry.tip_id, entry.pseudonym)
        return self.put(pk, entry.entry_key, entry.model_dump(), if_absent=True)

    def new_entry_op(self, entry: ThreadEntry) -> dict[str, Any]:
        """put_entry_if_absent for a transaction."""
        pk = keys.thread_pk(entry.tip_id, entry.pseudonym)
        return self.put_op(pk, entry.entry_key, entry.model_dump(), if_absent=True)

    def enqueued_op(self, pk: str, entry_key: str) -> dict[str, Any]:
        """mark_enqueued for a transaction."""
        return self.update_op(pk, entry_key, "SET enqueued = :true", {":true": True})

    def mark_receipt_op(self, pk: str, entry_key: str, status: DeliveryStatus) -> dict[str, Any]:
        """mark_receipt for a transaction."""
        return self.update_op(
            pk,
            entry_key,
            "SET #st = :st",
            {":st": status.value, ":seen": DeliveryStatus.SEEN.value},
            condition="attribute_exists(pk) AND #st <> :seen",
            names={"#st": "status"},
        )

    def get_entry(self, pk: str, entry_key: str) -> ThreadEntry | None:
        values = self.get(pk, entry_key)
        return ThreadEntry.model_validate(values) if values else None

    def thread(self, pk: str) -> list[ThreadEntry]:
        return [ThreadEntry.model_validate(v) for v in self.query_partition(pk, keys.ENTRY_PREFIX)]

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

    def remember_sent(self, sent: Sequence[tuple[str, str, str, str]]) -> None:
        """Point Zalo message ids (oa_id, zalo_message_id, thread pk, entry key) at their thread
        entries, for delivery receipts: plain puts, 25 a call."""
        self.batch_put(
            [pointer_item(oa_id, message_id, pk, entry_key) for oa_id, message_id, pk, entry_key in sent]
        )

    def find_sent(self, oa_id: str, zalo_message_id: str) -> tuple[str, str] | None:
        values = self.get(keys.sent_pointer_pk(oa_id, zalo_message_id), consistent=False)
        return (str(values["thread_pk"]), str(values["entry_key"])) if values else None

    def get_entries_and_contacts(
        self, wanted: Sequence[tuple[str, str, str]]
    ) -> tuple[dict[tuple[str, str], ThreadEntry], dict[str, Contact]]:
        """Thread entries (pk, entry key) and their citizens' contacts (by pseudonym) of several
        replies, in consistent BatchGetItem calls (100 keys each); what does not exist is absent."""
        wanted_keys = [(pk, entry_key) for pk, entry_key, _ in wanted]
        wanted_keys += [(keys.contact_pk(pseudonym), keys.META) for _, _, pseudonym in wanted]
        found = {(str(v["pk"]), str(v["sk"])): v for v in self.batch_get(wanted_keys, consistent=True)}
        entries = {
            (pk, entry_key): ThreadEntry.model_validate(found[(pk, entry_key)])
            for pk, entry_key, _ in wanted
            if (pk, entry_key) in found
        }
        contacts = {
            pseudonym: Contact.model_validate(found[(keys.contact_pk(pseudonym), keys.META)])
            for _, _, pseudonym in wanted
            if (keys.contact_pk(pseudonym), keys.META) in found
        }
        return entries, contacts
