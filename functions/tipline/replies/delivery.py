"""Deliver one queued reply through the Zalo OA API and record the outcome on its thread entry.

At-least-once input (replies.fifo), so every step is safe to repeat:

- the entry's status is the record of truth: an entry already ``sent`` (or delivered/seen) or
  ``failed`` is done, and the message is acknowledged without calling Zalo again;
- the outcome is written on the entry *before* the message is deleted (the handler returns only
  after :func:`deliver` wrote it). The Zalo message ids of an invocation's sent replies are
  remembered for delivery receipts together at its end (:class:`SentPointers`): a pointer lost to
  a crash costs that reply's delivered/seen marks, never the reply.

Per reply: one KMS call for the text (plus one for the citizen's user id, unless this container
opened it in the last minutes), the Zalo call, one write; per invocation, one consistent
BatchGetItem of every reply's entry and contact (:class:`Prefetched`) and one BatchWriteItem of
receipt pointers.

Outcomes by error class (shared/zalo/ZALO-OA.md):

- access token invalid/expired: refresh once through the token store, then retry the call once;
- rate limit, quota, timeouts, network and 5xx: the entry shows ``deferred`` with the reason and
  :class:`RetryLater` asks for a new attempt after an exponential backoff with jitter;
- outside the 7-day window (checked here first, from the contact's last interaction, without
  spending a call), blocked, inactive, invalid: ``failed`` with a reason an officer can read;
- a message that cannot be understood, or whose entry does not exist: :class:`Poison`, retried
  at once until maxReceiveCount moves it to the dead-letter queue.

The known at-least-once edge: when Zalo accepted a message but its answer was lost (a read
timeout, a 502/504 after the request went out), nothing tells us whether the citizen got it, and
Zalo's send API has no idempotency key. We resend: a citizen may then get the same reply twice,
which is better than a reply that silently never arrives. The entry's reason says so, and the
entry ends with the id of the copy Zalo confirmed. A crash between Zalo's answer and the outcome
write has the same effect, and the same answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from tipline.adapters import envelope, zalo
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import (
    OA_DISABLED,
    Contact,
    DeliveryStatus,
    Direction,
    QueuedReply,
    ThreadEntry,
    sealing_context,
)
from tipline.errors import DecryptionFailed, TiplineError
from tipline.keys import thread_pk
from tipline.observability import logger
from tipline.retry import backoff_seconds
from tipline.tokens.store import TokenStore, TokenUnavailable
from tipline.zalo_rules import in_cs_window, vietnam

DONE = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SEEN, DeliveryStatus.FAILED})
USER_ID_CACHE_SECONDS = 300.0
USER_ID_CACHE_SIZE = 4096


class RetryLater(TiplineError):
    """Try this message again in ``delay_seconds`` (its visibility timeout)."""

    def __init__(self, reason: str, delay_seconds: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay_seconds = delay_seconds


class Poison(TiplineError):
    """The message can never be delivered as it is: it goes to the dead-letter queue."""


class Park(TiplineError):
    """Hold the message in the dead-letter queue now, with this reason (its OA is disabled)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SentPointers:
    """Zalo message ids of the replies one invocation sent, written together at its end (one
    BatchWriteItem instead of a PutItem per reply); thread-safe, the groups run concurrently."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str, str, str]] = []
        self._lock = threading.Lock()

    def add(self, oa_id: str, zalo_message_id: str, pk: str, entry_key: str) -> None:
        with self._lock:
            self._items.append((oa_id, zalo_message_id, pk, entry_key))

    def take(self) -> list[tuple[str, str, str, str]]:
        with self._lock:
            items, self._items = self._items, []
        return items


class Prefetched:
    """The entries and contacts of a batch's replies, read together before any is sent.

    Each entry is taken once; a later message of the same citizen in the batch shares the contact as
    read at the start (a block learned from Zalo meanwhile costs one refused call, same outcome).
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], ThreadEntry | None] = {}
        self._contacts: dict[str, Contact | None] = {}
        self._lock = threading.Lock()

    def load(self, table: Table, replies: list[QueuedReply]) -> None:
        wanted = [(thread_pk(r.tip_id, r.pseudonym), r.entry_key, r.pseudonym) for r in replies]
        entries, contacts = table.get_entries_and_contacts(wanted)
        with self._lock:
            for pk, entry_key, pseudonym in wanted:
                self._entries[(pk, entry_key)] = entries.get((pk, entry_key))
                self._contacts[pseudonym] = contacts.get(pseudonym)

    def take(
        self, table: Table, pk: str, entry_key: str, pseudonym: str
    ) -> tuple[ThreadEntry | None, Contact | None]:
        """This reply's entry and contact: from the batch read, or read now if it had none."""
        with self._lock:
            loaded = (pk, entry_key) in self._entries and pseudonym in self._contacts
            entry = self._entries.pop((pk, entry_key), None)
            contact = self._contacts.get(pseudonym)
        if loaded:
            return entry, contact
        entries, contacts = table.get_entries_and_contacts([(pk, entry_key, pseudonym)])
        return entries.get((pk, entry_key)), contacts.get(pseudonym)


@dataclass(frozen=True)
class Sender:
    table: Table
    settings: Settings
    tokens: TokenStore
    sent: SentPointers = field(default_factory=SentPointers)
    prefetched: Prefetched = field(default_factory=Prefetched)


def parse(body: str) -> QueuedReply:
    try:
        return QueuedReply.model_validate_json(body)
    except ValueError as exc:
        raise Poison("the message is not a queued reply") from exc


def _window_reason(last_interaction_ms: int) -> str:
    if last_interaction_ms <= 0:
        return "outside Zalo's 7-day reply window: the citizen never wrote to the OA"
    last = vietnam(last_interaction_ms)
    return (
        "outside Zalo's 7-day reply window: the citizen last wrote on "
        f"{last:%d/%m/%Y %H:%M}; the reply can be sent after they write again"
    )


def _hold_if_disabled(sender: Sender, reply: QueuedReply, pk: str) -> None:
    """A reply of an OA operations disabled is held (Park): the officer sees why on the entry."""
    account = sender.table.get_oa(reply.oa_id, cache_seconds=sender.settings.registry_cache_seconds)
    if account is None or not account.disabled:
        return
    sender.table.set_delivery(
        pk,
        reply.entry_key,
        DeliveryStatus.DEFERRED,
        reason="held: the OA is disabled by operations; sent after it is enabled again",
    )
    logger.warning("reply held: its OA is disabled", reply_id=reply.reply_id, oa_id=reply.oa_id)
    raise Park(OA_DISABLED)


def deliver(sender: Sender, reply: QueuedReply, attempt: int, now_ms: int) -> DeliveryStatus | None:
    """Send one reply; returns the status recorded, None if it was handled before (raises RetryLater
    or Poison)."""
    pk = thread_pk(reply.tip_id, reply.pseudonym)
    entry, contact = sender.prefetched.take(sender.table, pk, reply.entry_key, reply.pseudonym)
    if entry is None:
        raise Poison("the reply's thread entry does not exist")
    if (
        entry.direction != Direction.OUTBOUND
        or entry.oa_id != reply.oa_id
        or entry.pseudonym != reply.pseudonym
    ):
        raise Poison("the message does not match its thread entry")
    if entry.status in DONE:
        logger.info("reply already handled", reply_id=reply.reply_id, status=str(entry.status))
        return None
    _hold_if_disabled(sender, reply, pk)

    def fail(reason: str) -> DeliveryStatus:
        sender.table.set_delivery(pk, reply.entry_key, DeliveryStatus.FAILED, reason=reason)
        logger.warning("reply failed", reply_id=reply.reply_id, oa_id=reply.oa_id, reason=reason)
        return DeliveryStatus.FAILED

    if contact is None or contact.user_id_sealed is None:
        return fail("the citizen's contact was erased (withdrawn); nothing can be sent")
    if entry.sealed is None:
        return fail("the reply's text was erased; nothing can be sent")
    if contact.zalo_blocked:  # an officer's block does not stop an officer's own reply
        return fail("the citizen has blocked the OA; they can be answered after they write again")
    if not in_cs_window(contact.last_interaction_ms, now_ms):
        return fail(_window_reason(contact.last_interaction_ms))
    try:
        text = _text(sender, entry)
        user_id = _user_id(sender, reply.oa_id, reply.pseudonym, contact.user_id_sealed)
    except DecryptionFailed:
        return fail("the reply or the citizen's id could not be decrypted")

    try:
        sent = _send(sender, reply.oa_id, user_id, text)
    except zalo.ZaloRefused as refused:
        if refused.code == -217:
            sender.table.set_contact_flags(reply.pseudonym, zalo_blocked=True)
        if refused.alert_ops:
            logger.error("zalo refused the oa", oa_id=reply.oa_id, code=refused.code, reason=refused.reason)
        return fail(refused.reason)
    except (zalo.ZaloUnavailable, zalo.TokenRejected, TokenUnavailable) as busy:
        reason = str(busy)  # a ZaloError's message is its reason
        if isinstance(busy, zalo.ZaloUnavailable) and busy.maybe_delivered:
            # The known at-least-once edge: said at warning level, so a duplicate has a named cause.
            logger.warning("reply may reach the citizen twice", reply_id=reply.reply_id, cause=reason)
            reason += " (Zalo may have received it: the citizen could get it twice)"
        floor = busy.retry_after if isinstance(busy, zalo.ZaloUnavailable) else None
        delay = backoff_seconds(attempt, floor)
        sender.table.set_delivery(
            pk, reply.entry_key, DeliveryStatus.DEFERRED, reason=f"{reason} (attempt {attempt})"
        )
        logger.info(
            "reply deferred", reply_id=reply.reply_id, oa_id=reply.oa_id, code=getattr(busy, "code", None)
        )
        raise RetryLater(reason, delay) from busy

    note = f"sent on attempt {attempt}" if attempt > 1 else None
    try:
        sender.table.set_delivery(
            pk, reply.entry_key, DeliveryStatus.SENT, reason=note, zalo_message_id=sent.message_id
        )
    except Exception:
        logger.warning(
            "reply sent but its outcome was not recorded: it will be sent again", reply_id=reply.reply_id
        )
        raise
    sender.sent.add(reply.oa_id, sent.message_id, pk, reply.entry_key)
    logger.info(
        "reply sent", reply_id=reply.reply_id, oa_id=reply.oa_id, billed=sent.quota_type == "reply_billed"
    )
    return DeliveryStatus.SENT


class _UserIds:
    """Citizens' opened Zalo user ids, in this container's memory only, for a few minutes.

    A citizen's replies often come in bursts (acknowledgement, officer replies); this saves one KMS
    call per reply after the first. Keyed by the sealed value itself, so a contact whose id was
    erased or re-sealed is opened again; never logged, never written anywhere.
    """

    def __init__(self, seconds: float = USER_ID_CACHE_SECONDS, size: int = USER_ID_CACHE_SIZE) -> None:
        self.seconds = seconds
        self.size = size
        self._items: OrderedDict[tuple[str, str, bytes], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, bytes]) -> str | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: tuple[str, str, bytes], user_id: str) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.seconds, user_id)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


user_ids = _UserIds()


def _user_id(sender: Sender, oa_id: str, pseudonym: str, sealed: bytes) -> str:
    key = (oa_id, pseudonym, hashlib.sha256(sealed).digest())
    cached = user_ids.get(key)
    if cached is not None:
        return cached
    context = {"oa_id": oa_id, "contact": pseudonym}
    user_id = envelope.open_sealed(sender.settings.kms_key_id, sealed, context).decode()
    user_ids.put(key, user_id)
    return user_id


def _text(sender: Sender, entry: ThreadEntry) -> str:
    if entry.sealed is None:  # the caller checks; an erased entry has nothing to send
        raise Poison("the reply's content was erased")
    context = sealing_context(entry.oa_id, entry.tip_id, entry.pseudonym)
    content = json.loads(envelope.open_sealed(sender.settings.kms_key_id, entry.sealed, context))
    text = content.get("text") if isinstance(content, dict) else None
    if not isinstance(text, str):
        raise Poison("the reply's content has no text")
    return text


def _send(sender: Sender, oa_id: str, user_id: str, text: str) -> zalo.SentMessage:
    """One call, and one more after a single token refresh if Zalo rejected the token."""
    token = sender.tokens.access_token(oa_id)
    try:
        return zalo.send_consultation(token.access_token, user_id, text)
    except zalo.TokenRejected:
        logger.info("zalo rejected the oa token; refreshing", oa_id=oa_id, version=token.version)
    fresh = sender.tokens.refresh(oa_id, seen_version=token.version)
    return zalo.send_consultation(fresh.access_token, user_id, text)
