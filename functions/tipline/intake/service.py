"""Turn one verified Zalo event into stored, encrypted state and queued acknowledgements.

Every step is idempotent on ids derived from the event, so a retry (a spilled event processed
later, or a Zalo redelivery after a crash) completes the work without doubling it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from tipline.adapters import alerts, envelope
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import (
    OPEN_STATUSES,
    Contact,
    DeliveryStatus,
    Direction,
    OaAccount,
    ThreadEntry,
    Tip,
    sealing_context,
)
from tipline.errors import Conflict
from tipline.evidence.jobs import queue_fetches
from tipline.intake import keywords, subscription, texts, tipcode
from tipline.intake.events import (
    AnonymousMessageEvent,
    FollowEvent,
    ReceivedEvent,
    SeenEvent,
    SubmitInfoEvent,
    UserMessageEvent,
    WithdrawEvent,
    ZaloEvent,
    citizen_id_of,
)
from tipline.intake.pseudonym import derived_id, pseudonym
from tipline.keys import contact_pk, entry_key, tip_pk
from tipline.observability import logger, metrics
from tipline.replies.outbox import queue_reply

_CODE_ATTEMPTS = 5
_Found = TypeVar("_Found", Contact, Tip)


class Outcome(StrEnum):
    TIP_OPENED = "tip_opened"
    TIP_UPDATED = "tip_updated"
    ANSWERED = "answered"
    CONTACT_UPDATED = "contact_updated"
    RECEIPT = "receipt"
    WITHDRAWN = "withdrawn"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Intake:
    """What the intake logic needs: the table, settings and the pepper."""

    table: Table
    settings: Settings
    pepper: bytes

    def derive(self, purpose: str, *parts: str) -> str:
        return derived_id(self.pepper, purpose, *parts)


def dedupe_key(intake: Intake, event: ZaloEvent, oa_id: str) -> str:
    """Zalo's retries carry the same body: msg_id when the event has one, else name+citizen+time."""
    message = getattr(event, "message", None)
    msg_id = getattr(message, "msg_id", None)
    if msg_id:
        return intake.derive("event", event.event_name, oa_id, msg_id)
    return intake.derive("event", event.event_name, oa_id, citizen_id_of(event), event.timestamp)


class ClaimedElsewhere(Exception):
    """Another delivery of the same event is being processed right now."""


def accept(intake: Intake, event: ZaloEvent, oa: OaAccount, now_ms: int, takeover: bool = False) -> Outcome:
    """Claim the event's dedupe key, apply it once, and mark it done.

    ``takeover`` is for the spill consumer: it completes an event whose first delivery claimed
    it but could not finish.
    """
    key = dedupe_key(intake, event, oa.oa_id)
    state = intake.table.claim_event(key, now_ms)
    if state == "done":
        return Outcome.DUPLICATE
    if state == "claimed" and not takeover:
        raise ClaimedElsewhere
    outcome = handle_event(intake, event, oa, key, now_ms)
    intake.table.finish_event(key)
    return outcome


def handle_event(intake: Intake, event: ZaloEvent, oa: OaAccount, key: str, now_ms: int) -> Outcome:
    """Apply one event whose delivery this caller has claimed."""
    if isinstance(event, UserMessageEvent | AnonymousMessageEvent | SubmitInfoEvent):
        return _on_message(intake, event, oa, key, now_ms)
    if isinstance(event, FollowEvent):
        contact = _ensure_contact(intake, oa, event.follower.id, event.timestamp_ms, anonymous=False)
        if event.event_name == "follow":
            subscription.followed(intake.table, contact.pseudonym, event.timestamp_ms)
            intake.table.record_interaction(contact.pseudonym, event.timestamp_ms)
            _zalo_block_over(intake, contact)
        else:
            subscription.unfollowed(intake.table, contact.pseudonym, event.timestamp_ms)
        return Outcome.CONTACT_UPDATED
    if isinstance(event, ReceivedEvent):
        _mark_delivery(intake, oa.oa_id, [event.message.msg_id], DeliveryStatus.DELIVERED)
        return Outcome.RECEIPT
    if isinstance(event, SeenEvent):
        _mark_delivery(intake, oa.oa_id, event.message.msg_ids, DeliveryStatus.SEEN)
        return Outcome.RECEIPT
    if isinstance(event, WithdrawEvent):
        erase_citizen(intake, pseudonym(intake.pepper, oa.oa_id, event.sender.id))
        return Outcome.WITHDRAWN
    # Opening the chat (ChatNowEvent) or reacting (ReactionEvent) is not an "interaction" that opens
    # Zalo's 7-day reply window, and carries nothing to keep.
    return Outcome.IGNORED


def _present(record: _Found | None, what: str) -> _Found:
    """A record a conditional write just proved to exist; gone means a concurrent erasure."""
    if record is None:
        raise Conflict(f"{what} vanished during a concurrent change")
    return record


# -- contacts --------------------------------------------------------------------------------
def _ensure_contact(intake: Intake, oa: OaAccount, user_id: str, at_ms: int, anonymous: bool) -> Contact:
    handle = pseudonym(intake.pepper, oa.oa_id, user_id)
    contact = intake.table.get_contact(handle)
    if contact is not None:
        return contact
    sealed = envelope.seal(
        intake.settings.kms_key_id, user_id.encode(), {"oa_id": oa.oa_id, "contact": handle}
    )
    contact = Contact(
        pseudonym=handle,
        oa_id=oa.oa_id,
        unit_id=oa.unit_id,
        user_id_sealed=sealed,
        last_interaction_ms=at_ms,
        anonymous=anonymous,
    )
    if not intake.table.create_contact(contact):
        return _present(intake.table.get_contact(handle), "contact")
    logger.info("contact created", oa_id=oa.oa_id, contact=contact.pseudonym[:12])
    return contact


def _zalo_block_over(intake: Intake, contact: Contact) -> None:
    """A citizen who writes or follows has unblocked the OA: forget Zalo's -217. Unconditionally, even
    for an old event delivered late: a wrong clear costs one refused call, a wrong block a silenced
    citizen."""
    if contact.zalo_blocked:
        intake.table.clear_zalo_block(contact.pseudonym)
        logger.info("zalo block cleared", contact=contact.pseudonym[:12])


# -- messages ---------------------------------------------------------------------------------
def _content(event: UserMessageEvent | AnonymousMessageEvent | SubmitInfoEvent) -> dict[str, Any]:
    if isinstance(event, SubmitInfoEvent):
        return {"info": event.info.model_dump(exclude_none=True)}
    message = event.message
    content: dict[str, Any] = {}
    if message.text is not None:
        content["text"] = message.text
    if message.attachments:
        content["attachments"] = [a.model_dump(exclude_none=True) for a in message.attachments]
    if message.quote_msg_id:
        content["quote_msg_id"] = message.quote_msg_id
    return content


def _on_message(
    intake: Intake,
    event: UserMessageEvent | AnonymousMessageEvent | SubmitInfoEvent,
    oa: OaAccount,
    event_key: str,
    now_ms: int,
) -> Outcome:
    anonymous = isinstance(event, AnonymousMessageEvent)
    at_ms = event.timestamp_ms
    contact = _ensure_contact(intake, oa, event.sender.id, at_ms, anonymous=anonymous)
    if contact.last_interaction_ms < at_ms:
        intake.table.record_interaction(contact.pseudonym, at_ms)
    _zalo_block_over(intake, contact)
    # Whatever the flags, the message is stored and checked for urgency below. An officer's block,
    # like a flood, only groups it into the open tip without acknowledgements or automatic answers.
    blocked = contact.officer_block is not None
    if blocked:
        logger.info("message from blocked sender", oa_id=oa.oa_id, event=event.event_name)
    grouped = blocked or _in_a_flood(intake, contact, now_ms)

    text = "" if isinstance(event, SubmitInfoEvent) else (event.message.text or "")
    only_text = isinstance(event, UserMessageEvent) and bool(text) and not event.message.attachments
    if only_text:
        answer = _answer_for(intake, oa, contact, text, at_ms)  # an opt-out or opt-in applies even unanswered
        if answer is not None and not grouped:
            _queue_contact_answer(intake, oa, contact, event_key, at_ms, answer)
            return Outcome.ANSWERED

    tip, opened = _open_or_join_tip(intake, oa, contact, event_key, at_ms, grouped)
    # Urgency is still detected in a flood (a panicking citizen writes a lot); it alerts once per tip.
    urgent = bool(text) and keywords.is_urgent(text, intake.settings.urgent_keywords)
    entry = ThreadEntry(
        oa_id=oa.oa_id,
        pseudonym=contact.pseudonym,
        tip_id=tip.tip_id,
        entry_key=entry_key(at_ms, intake.derive("in", event_key)),
        direction=Direction.INBOUND,
        kind=event.event_name,
        at_ms=at_ms,
        grouped=grouped,
        sealed=envelope.seal(
            intake.settings.kms_key_id,
            json.dumps(_content(event), ensure_ascii=False).encode(),
            sealing_context(oa.oa_id, tip.tip_id, contact.pseudonym),
        ),
    )
    if intake.table.put_entry_if_absent(entry):
        intake.table.note_inbound(tip, at_ms, urgent)
        if urgent and not tip.urgent:
            _alert_urgent(intake, tip)
    if not isinstance(event, SubmitInfoEvent) and event.message.attachments:  # evidence: ids only
        queue_fetches(intake.settings, entry, [attachment.type for attachment in event.message.attachments])
    logger.info("tip message stored", tip_id=tip.tip_id, oa_id=oa.oa_id, kind=event.event_name, urgent=urgent)
    if not anonymous and not grouped:
        _acknowledge(intake, tip, event_key, at_ms, now_ms)
    return Outcome.TIP_OPENED if opened else Outcome.TIP_UPDATED


def _in_a_flood(intake: Intake, contact: Contact, now_ms: int) -> bool:
    """Past the burst limit a citizen's messages are still kept, but grouped into their open tip
    without acknowledgements or automatic answers, so one sender cannot drown a unit."""
    window_ms = int(intake.settings.citizen_burst_minutes * 60 * 1000)
    count = intake.table.count_message(contact.pseudonym, now_ms, window_ms)
    limit = intake.settings.citizen_burst_limit
    if count == limit + 1:
        metrics.add_metric(name="CitizenFloodGrouped", unit=MetricUnit.Count, value=1)
        logger.warning("citizen over burst limit, grouping", contact=contact.pseudonym[:12], limit=limit)
    return count > limit


def _answer_for(intake: Intake, oa: OaAccount, contact: Contact, text: str, at_ms: int) -> str | None:
    """The automatic answer when a text is a menu keyword, a tip code or an opt-out/in; else None."""
    section = keywords.menu_section(text)
    if section is not None:
        return oa.menu.get(section) or texts.DEFAULT_MENU_ANSWERS[section]
    if keywords.is_opt_out(text):
        subscription.opted_out(intake.table, contact.pseudonym, at_ms)
        return texts.OPTED_OUT
    if keywords.is_opt_in(text):
        subscription.opted_in(intake.table, contact.pseudonym, at_ms)
        return texts.OPTED_IN if contact.follower else texts.OPTED_IN_NOT_FOLLOWING
    code = tipcode.normalise(text)
    if code is None:
        return None
    tip_id = intake.table.tip_id_for_code(code)
    tip = intake.table.get_tip(tip_id) if tip_id else None
    if tip is None or tip.pseudonym != contact.pseudonym:
        return texts.unknown_code(tipcode.display(code))
    return texts.status_answer(tipcode.display(code), tip.status)


def _queue_contact_answer(
    intake: Intake, oa: OaAccount, contact: Contact, event_key: str, at_ms: int, text: str
) -> None:
    queue_reply(
        intake.table,
        kms_key_id=intake.settings.kms_key_id,
        queue_url=intake.settings.replies_queue_url,
        oa_id=oa.oa_id,
        pseudonym=contact.pseudonym,
        tip_id=None,
        reply_id=intake.derive("answer", event_key),
        at_ms=at_ms + 1,
        text=text,
        kind="auto_answer",
    )


def _joinable(intake: Intake, tip: Tip | None, at_ms: int, grouped: bool) -> bool:
    if tip is None or tip.status not in OPEN_STATUSES:
        return False
    window_ms = int(intake.settings.tip_join_hours * 3600 * 1000)
    return grouped or (window_ms > 0 and at_ms - tip.last_activity_ms <= window_ms)


def _open_or_join_tip(
    intake: Intake, oa: OaAccount, contact: Contact, event_key: str, at_ms: int, grouped: bool = False
) -> tuple[Tip, bool]:
    """The tip this message belongs to, and whether this message opened it."""
    new_tip_id = intake.derive("tip", event_key)
    for _ in range(3):
        current_id = contact.open_tip_id
        if current_id == new_tip_id:  # a retry of the message that opened it
            return _create_tip(intake, oa, contact, new_tip_id, at_ms), True
        current = intake.table.get_tip(current_id) if current_id else None
        if current is not None and _joinable(intake, current, at_ms, grouped):
            return current, False
        if intake.table.point_contact_to_tip(contact.pseudonym, new_tip_id, at_ms, expected=current_id):
            return _create_tip(intake, oa, contact, new_tip_id, at_ms), True
        contact = _present(intake.table.get_contact(contact.pseudonym), "contact")
    raise RuntimeError("could not settle the open tip")  # three lost races in a row


def _create_tip(intake: Intake, oa: OaAccount, contact: Contact, tip_id: str, at_ms: int) -> Tip:
    existing = intake.table.get_tip(tip_id)
    if existing is not None:
        return existing
    for _ in range(_CODE_ATTEMPTS):
        code = tipcode.new_code()
        if intake.table.reserve_code(code, tip_id):
            break
    else:
        raise RuntimeError("no free tip code")
    tip = Tip(
        tip_id=tip_id,
        code=code,
        oa_id=oa.oa_id,
        unit_id=oa.unit_id,
        pseudonym=contact.pseudonym,
        created_at_ms=at_ms,
        last_activity_ms=at_ms,
    )
    if not intake.table.put_tip_if_absent(tip):
        intake.table.release_code(code)
        return _present(intake.table.get_tip(tip_id), "tip")
    logger.info("tip opened", tip_id=tip_id, oa_id=oa.oa_id, unit_id=oa.unit_id)
    return tip


def _acknowledge(intake: Intake, tip: Tip, event_key: str, at_ms: int, now_ms: int) -> None:
    """One acknowledgement for a new tip; follow-ups only after the quiet period."""
    reply_id = intake.derive("ack", event_key)
    key = entry_key(at_ms + 1, reply_id)
    already = intake.table.get_entry(tip_pk(tip.tip_id), key)
    if already is None:
        quiet_ms = int(intake.settings.ack_quiet_minutes * 60 * 1000)
        if not intake.table.claim_ack(tip.tip_id, reply_id, now_ms, quiet_ms):
            return
    elif already.enqueued:
        return
    display = tipcode.display(tip.code)
    opened_by_this_event = tip.tip_id == intake.derive("tip", event_key)  # also true on a retry
    text = texts.ack_new_tip(display) if opened_by_this_event else texts.ack_follow_up(display)
    queue_reply(
        intake.table,
        kms_key_id=intake.settings.kms_key_id,
        queue_url=intake.settings.replies_queue_url,
        oa_id=tip.oa_id,
        pseudonym=tip.pseudonym,
        tip_id=tip.tip_id,
        reply_id=reply_id,
        at_ms=at_ms + 1,
        text=text,
        kind="ack",
        existing=already,
    )


def _alert_urgent(intake: Intake, tip: Tip) -> None:
    payload = {"unit_id": tip.unit_id, "tip_id": tip.tip_id, "code": tipcode.display(tip.code)}
    alerts.publish(intake.settings.urgent_topic_arn, "Tin báo khẩn", payload, unit_id=tip.unit_id)
    logger.info("urgent alert published", tip_id=tip.tip_id, unit_id=tip.unit_id)


# -- receipts and erasure ----------------------------------------------------------------------
def _mark_delivery(intake: Intake, oa_id: str, zalo_ids: list[str], status: DeliveryStatus) -> None:
    for zalo_id in zalo_ids:
        found = intake.table.find_sent(oa_id, zalo_id)
        if found is not None:
            intake.table.mark_receipt(found[0], found[1], status)


def erase_citizen(intake: Intake, handle: str) -> int:
    """Erase a citizen's personal data (sealed messages, sealed user id); counts stay.

    Returns how many sealed entries were erased.
    """
    erased = 0
    for tip_id in intake.table.contact_tip_ids(handle):
        intake.table.request_evidence_purge(tip_id)  # media objects: the sweeper deletes them
        for entry in intake.table.thread(tip_pk(tip_id)):
            if entry.sealed is not None:
                intake.table.erase_sealed(tip_pk(tip_id), entry.entry_key)
                erased += 1
    for entry in intake.table.thread(contact_pk(handle)):
        if entry.sealed is not None:
            intake.table.erase_sealed(contact_pk(handle), entry.entry_key)
            erased += 1
    intake.table.delete_contact(handle)
    logger.info("citizen data erased", contact=handle[:12], entries=erased)
    return erased
