"""Queue one reply to a citizen: store it sealed in the thread, then put its ids on replies.fifo.

Idempotent on ``reply_id``: a retry finds the stored entry and only re-sends what was not yet
enqueued; replies.fifo deduplicates on the same id, and groups by citizen so they stay in order.
"""

from __future__ import annotations

import json

from tipline.adapters import envelope, queues
from tipline.adapters.table import Table
from tipline.domain import DeliveryStatus, Direction, QueuedReply, ThreadEntry, sealing_context
from tipline.keys import entry_key, thread_pk


def queue_reply(
    table: Table,
    *,
    kms_key_id: str,
    queue_url: str,
    oa_id: str,
    pseudonym: str,
    tip_id: str | None,
    reply_id: str,
    at_ms: int,
    text: str,
    kind: str,
    author: str | None = None,
    existing: ThreadEntry | bool | None = False,
) -> ThreadEntry:
    """``existing`` may pass what the caller already read of this entry (None: known absent)."""
    key = entry_key(at_ms, reply_id)
    pk = thread_pk(tip_id, pseudonym)
    if existing is False:
        existing = table.get_entry(pk, key)
    if not isinstance(existing, ThreadEntry):
        context = sealing_context(oa_id, tip_id, pseudonym)
        sealed = envelope.seal(kms_key_id, json.dumps({"text": text}, ensure_ascii=False).encode(), context)
        entry = ThreadEntry(
            oa_id=oa_id,
            pseudonym=pseudonym,
            tip_id=tip_id,
            entry_key=key,
            direction=Direction.OUTBOUND,
            kind=kind,
            at_ms=at_ms,
            sealed=sealed,
            status=DeliveryStatus.QUEUED,
            author=author,
        )
        table.put_entry_if_absent(entry)
    else:
        entry = existing
    if not entry.enqueued:
        message = QueuedReply(
            reply_id=reply_id, oa_id=oa_id, pseudonym=pseudonym, tip_id=tip_id, entry_key=key
        )
        queues.send(queue_url, message.model_dump_json(), group_id=pseudonym, dedup_id=reply_id)
        table.mark_enqueued(pk, key)
    return entry
