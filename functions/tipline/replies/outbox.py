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


def reply_entry(
    *, oa_id: str, pseudonym: str, tip_id: str | None, reply_id: str, at_ms: int, sealed: bytes, kind: str
) -> ThreadEntry:
    """A reply's thread entry, queued: what queue_reply stores before it sends the reply's ids."""
    return ThreadEntry(
        oa_id=oa_id,
        pseudonym=pseudonym,
        tip_id=tip_id,
        entry_key=entry_key(at_ms, reply_id),
        direction=Direction.OUTBOUND,
        kind=kind,
        at_ms=at_ms,
        sealed=sealed,
        status=DeliveryStatus.QUEUED,
    )


def send_queued(queue_url: str, entry: ThreadEntry, reply_id: str) -> None:
    """Put a stored reply's ids on replies.fifo (deduplicated on the reply id, grouped by citizen)."""
    message = QueuedReply(
        reply_id=reply_id,
        oa_id=entry.oa_id,
        pseudonym=entry.pseudonym,
        tip_id=entry.tip_id,
        entry_key=entry.entry_key,
    )
    queues.send(queue_url, message.model_dump_json(), group_id=entry.pseudonym, dedup_id=reply_id)


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
    keys: envelope.EventKeys | None = None,
) -> ThreadEntry:
    """``existing`` may pass what the caller already read of this entry (None: known absent);
    ``keys``: the data keys of the event this reply answers (the webhook's), else a key of its own."""
    key = entry_key(at_ms, reply_id)
    pk = thread_pk(tip_id, pseudonym)
    if existing is False:
        existing = table.get_entry(pk, key)
    if not isinstance(existing, ThreadEntry):
        context = sealing_context(oa_id, tip_id, pseudonym)
        plaintext = json.dumps({"text": text}, ensure_ascii=False).encode()
        sealed = keys.seal(plaintext, context) if keys else envelope.seal(kms_key_id, plaintext, context)
        entry = reply_entry(
            oa_id=oa_id,
            pseudonym=pseudonym,
            tip_id=tip_id,
            reply_id=reply_id,
            at_ms=at_ms,
            sealed=sealed,
            kind=kind,
        ).model_copy(update={"author": author})
        table.put_entry_if_absent(entry)
    else:
        entry = existing
    if not entry.enqueued:
        send_queued(queue_url, entry, reply_id)
        table.mark_enqueued(pk, key)
    return entry
