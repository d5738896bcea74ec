"""Turn one verified Zalo event into stored, encrypted state and queued acknowledgements.

Every step is idempotent on ids derived from the event, so a retry (a spilled event processed
later, or a Zalo redelivery after a crash) completes the work without doubling it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from tipline.adapters import alerts, envelope
from tipline.adapters.store.claims import claim_state
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
from tipline.keys import contact_pk, entry_key, thread_pk, tip_pk
from tipline.observability import logger, metrics
from tipline.replies.outbox import queue_reply, reply_entry, send_queued

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


@dataclass
class _Run:
    """One claimed event being applied: its dedupe key, its data keys (one per encryption context,
    for every value it seals) and whether its claim was already marked done with its last write."""

    key: str
    keys: envelope.EventKeys
    finished: bool = False


def accept(intake: Intake, event: ZaloEvent, oa: OaAccount, now_ms: int, takeover: bool = False) -> Outcome:
    """Claim the event's dedupe key, apply it once, and mark it done.

    ``takeover`` is for the spill consumer: it completes an event whose first delivery claimed
    it but could not finish.
    """
    key = dedupe_key(intake, event, oa.oa_id)
    run = _Run(key=key, keys=envelope.EventKeys(intake.settings.kms_key_id))
    if isinstance(event, FollowEvent) and not takeover:
        settled = _follow_at_once(intake, event, oa, run, now_ms)
        if settled is not None:
            return settled
    state = intake.table.claim_event(key, now_ms)
    if state == "done":
        return Outcome.DUPLICATE
    if state == "claimed" and not takeover:
        raise ClaimedElsewhere
    outcome = handle_event(intake, event, oa, run, now_ms)
    if not run.finished:
        intake.table.finish_event(key)
    return outcome


def _finish_with(intake: Intake, run: _Run, operations: list[dict[str, Any]]) -> list[Any] | None:
    """Apply ``operations`` in one transaction with the event's claim becoming done: the event is
    done exactly when its writes are. None when applied, else what Table.transact says failed."""
    cancelled = intake.table.transact([*operations, intake.table.finish_event_op(run.key)])
    if cancelled is None:
        run.finished = True
    return cancelled


def handle_event(intake: Intake, event: ZaloEvent, oa: OaAccount, run: _Run, now_ms: int) -> Outcome:
    """Apply one event whose delivery this caller has claimed."""
    if isinstance(event, UserMessageEvent | AnonymousMessageEvent | SubmitInfoEvent):
        return _on_message(intake, event, oa, run, now_ms)
    if isinstance(event, FollowEvent):
        _on_follow(intake, event, oa, run)
        return Outcome.CONTACT_UPDATED
    if isinstance(event, ReceivedEvent):
        _mark_delivery(intake, run, oa.oa_id, [event.message.msg_id], DeliveryStatus.DELIVERED)
        return Outcome.RECEIPT
    if isinstance(event, SeenEvent):
        _mark_delivery(intake, run, oa.oa_id, event.message.msg_ids, DeliveryStatus.SEEN)
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
def _new_contact(
    intake: Intake, run: _Run, oa: OaAccount, user_id: str, at_ms: int, anonymous: bool
) -> Contact:
    """A contact for a citizen not seen before (not stored yet), their Zalo id sealed to it."""
    handle = pseudonym(intake.pepper, oa.oa_id, user_id)
    return Contact(
        pseudonym=handle,
        oa_id=oa.oa_id,
        unit_id=oa.unit_id,
        user_id_sealed=run.keys.seal(user_id.encode(), {"oa_id": oa.oa_id, "contact": handle}),
        last_interaction_ms=at_ms,
        anonymous=anonymous,
    )


def _store_contact(intake: Intake, contact: Contact, burst_start_ms: int | None = None) -> Contact:
    """Store a new contact; the stored one if another event of the same citizen stored it first."""
    if not intake.table.create_contact(contact, burst_start_ms):
        return _present(intake.table.get_contact(contact.pseudonym), "contact")
    logger.info("contact created", oa_id=contact.oa_id, contact=contact.pseudonym[:12])
    return contact


def _store_sender(intake: Intake, contact: Contact, now_ms: int, window_ms: int) -> tuple[Contact, int]:
    """Store the contact of a citizen's first message (the first of its burst window). When another
    event of the citizen stored it first, the message is counted on the stored one instead (and
    that one is returned, as it was)."""
    if intake.table.create_contact(contact, burst_start_ms=now_ms):
        logger.info("contact created", oa_id=contact.oa_id, contact=contact.pseudonym[:12])
        return contact, 1
    touched = intake.table.touch_contact(contact.pseudonym, contact.last_interaction_ms, now_ms, window_ms)
    if touched is None:
        raise Conflict("contact vanished during a concurrent change")
    return touched


def _ensure_contact(
    intake: Intake, run: _Run, oa: OaAccount, user_id: str, at_ms: int, anonymous: bool
) -> Contact:
    contact = intake.table.get_contact(pseudonym(intake.pepper, oa.oa_id, user_id))
    if contact is not None:
        return contact
    return _store_contact(intake, _new_contact(intake, run, oa, user_id, at_ms, anonymous))


def _zalo_block_over(intake: Intake, contact: Contact) -> None:
    """A citizen who writes or follows has unblocked the OA: forget Zalo's -217. Unconditionally, even
    for an old event delivered late: a wrong clear costs one refused call, a wrong block a silenced
    citizen."""
    if contact.zalo_blocked:
        intake.table.clear_zalo_block(contact.pseudonym)
        logger.info("zalo block cleared", contact=contact.pseudonym[:12])


def _follow_at_once(
    intake: Intake, event: FollowEvent, oa: OaAccount, run: _Run, now_ms: int
) -> Outcome | None:
    """A follow or unfollow claimed and applied in one transaction: one call for a known citizen;
    for a citizen not seen before (most followers never wrote) a data key to seal their Zalo id and
    a second transaction that creates the contact. DUPLICATE (or ClaimedElsewhere) when the event
    was claimed before; None when a later event already set some of it or the contact appeared
    meanwhile: nothing was written, and the event takes the usual way (claim, then _on_follow)."""
    follow = event.event_name == "follow"
    at_ms = event.timestamp_ms
    handle = pseudonym(intake.pepper, oa.oa_id, event.follower.id)
    claim = intake.table.claimed_done_op(run.key, now_ms)
    update = intake.table.subscription_op(handle, at_ms, follower=follow, interaction=follow)
    cancelled = intake.table.transact([claim, update])
    if cancelled is not None and cancelled[0] is None and cancelled[1] == {}:  # no contact yet
        contact = _new_contact(intake, run, oa, event.follower.id, at_ms, anonymous=False).model_copy(
            update={"follower": follow, "follower_at_ms": at_ms, "choice_at_ms": at_ms}
        )
        cancelled = intake.table.transact([claim, intake.table.create_contact_op(contact)])
        if cancelled is None:
            logger.info("contact created", oa_id=oa.oa_id, contact=handle[:12])
    if cancelled is None:
        return Outcome.CONTACT_UPDATED
    earlier = cancelled[0]
    if not earlier:
        return None
    if claim_state(earlier) == "done":
        return Outcome.DUPLICATE
    raise ClaimedElsewhere


def _on_follow(intake: Intake, event: FollowEvent, oa: OaAccount, run: _Run) -> None:
    """A follow or unfollow step by step, each fact ordered by its own stamp (events arrive out of
    order): for what _follow_at_once leaves, and for the spill consumer."""
    contact = _ensure_contact(intake, run, oa, event.follower.id, event.timestamp_ms, anonymous=False)
    if event.event_name == "follow":
        subscription.followed(intake.table, contact.pseudonym, event.timestamp_ms)
        intake.table.record_interaction(contact.pseudonym, event.timestamp_ms)
        _zalo_block_over(intake, contact)
    else:
        subscription.unfollowed(intake.table, contact.pseudonym, event.timestamp_ms)


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


@dataclass(frozen=True)
class _Message:
    """What one inbound message asks of the store, decided before anything about its tip is written."""

    event: UserMessageEvent | AnonymousMessageEvent | SubmitInfoEvent
    contact: Contact
    stored: bool  # the contact exists in the table (else the transaction that opens the tip creates it)
    at_ms: int
    now_ms: int
    urgent: bool
    grouped: bool
    acknowledge: bool
    attachments: list[str]  # their types: fetch jobs are queued after the message is stored

    def finish_with(self, intake: Intake, run: _Run, operations: list[dict[str, Any]]) -> list[Any] | None:
        """The message's last writes: with the claim done, unless fetch jobs are still to be queued
        (a failure to queue them spills the event, and its retry must not find it done)."""
        if self.attachments:
            return intake.table.transact(operations)
        return _finish_with(intake, run, operations)


def _on_message(
    intake: Intake,
    event: UserMessageEvent | AnonymousMessageEvent | SubmitInfoEvent,
    oa: OaAccount,
    run: _Run,
    now_ms: int,
) -> Outcome:
    anonymous = isinstance(event, AnonymousMessageEvent)
    at_ms = event.timestamp_ms
    text = "" if isinstance(event, SubmitInfoEvent) else (event.message.text or "")
    only_text = isinstance(event, UserMessageEvent) and bool(text) and not event.message.attachments
    # One write moves the interaction forward, ends Zalo's block and counts the burst window.
    window_ms = int(intake.settings.citizen_burst_minutes * 60 * 1000)
    handle = pseudonym(intake.pepper, oa.oa_id, event.sender.id)
    touched = intake.table.touch_contact(handle, at_ms, now_ms, window_ms)
    if touched is None:  # a citizen not seen before
        contact, count, stored = _new_contact(intake, run, oa, event.sender.id, at_ms, anonymous), 1, False
        if only_text and _is_command(text):  # its answer acts on the stored contact
            (contact, count), stored = _store_sender(intake, contact, now_ms, window_ms), True
    else:
        (contact, count), stored = touched, True
        if contact.zalo_blocked:
            logger.info("zalo block cleared", contact=contact.pseudonym[:12])
    # Whatever the flags, the message is stored and checked for urgency below. An officer's block,
    # like a flood, only groups it into the open tip without acknowledgements or automatic answers.
    blocked = contact.officer_block is not None
    if blocked:
        logger.info("message from blocked sender", oa_id=oa.oa_id, event=event.event_name)
    grouped = blocked or _in_a_flood(intake, contact, count)

    if only_text:
        answer = _answer_for(intake, oa, contact, text, at_ms)  # an opt-out or opt-in applies even unanswered
        if answer is not None and not grouped:
            _queue_contact_answer(intake, run, oa, contact, at_ms, answer)
            return Outcome.ANSWERED

    message = _Message(
        event=event,
        contact=contact,
        stored=stored,
        at_ms=at_ms,
        now_ms=now_ms,
        # Urgency is still detected in a flood (a panicking citizen writes a lot); it alerts once per tip.
        urgent=bool(text) and keywords.is_urgent(text, intake.settings.urgent_keywords),
        grouped=grouped,
        acknowledge=not anonymous and not grouped,
        attachments=[] if isinstance(event, SubmitInfoEvent) else [a.type for a in event.message.attachments],
    )
    placed = _store_at_once(intake, run, oa, message)
    if placed is None:  # a retry, a race or a tip that changed: step by step
        if not message.stored:
            message = replace(
                message, contact=_store_sender(intake, contact, now_ms, window_ms)[0], stored=True
            )
        placed = _store_step_by_step(intake, run, oa, message)
    tip, opened = placed
    if message.attachments:  # evidence: ids only
        queue_fetches(intake.settings, _inbound_entry(intake, run, oa, message, tip), message.attachments)
    logger.info(
        "tip message stored", tip_id=tip.tip_id, oa_id=oa.oa_id, kind=event.event_name, urgent=message.urgent
    )
    return Outcome.TIP_OPENED if opened else Outcome.TIP_UPDATED


def _in_a_flood(intake: Intake, contact: Contact, count: int) -> bool:
    """Past the burst limit a citizen's messages are still kept, but grouped into their open tip
    without acknowledgements or automatic answers, so one sender cannot drown a unit. ``count``:
    this message's place in the contact's burst window (ContactStore.touch_contact)."""
    limit = intake.settings.citizen_burst_limit
    if count == limit + 1:
        metrics.add_metric(name="CitizenFloodGrouped", unit=MetricUnit.Count, value=1)
        logger.warning("citizen over burst limit, grouping", contact=contact.pseudonym[:12], limit=limit)
    return count > limit


def _is_command(text: str) -> bool:
    """Whether _answer_for may answer (or act on) this text: a menu keyword, an opt-out or opt-in,
    a tip code."""
    return (
        keywords.menu_section(text) is not None
        or keywords.is_opt_out(text)
        or keywords.is_opt_in(text)
        or tipcode.normalise(text) is not None
    )


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
    intake: Intake, run: _Run, oa: OaAccount, contact: Contact, at_ms: int, text: str
) -> None:
    queue_reply(
        intake.table,
        kms_key_id=intake.settings.kms_key_id,
        queue_url=intake.settings.replies_queue_url,
        oa_id=oa.oa_id,
        pseudonym=contact.pseudonym,
        tip_id=None,
        reply_id=intake.derive("answer", run.key),
        at_ms=at_ms + 1,
        text=text,
        kind="auto_answer",
        keys=run.keys,
    )


def _joinable(intake: Intake, tip: Tip | None, at_ms: int, grouped: bool) -> bool:
    if tip is None or tip.status not in OPEN_STATUSES:
        return False
    window_ms = int(intake.settings.tip_join_hours * 3600 * 1000)
    return grouped or (window_ms > 0 and at_ms - tip.last_activity_ms <= window_ms)


def _inbound_entry(intake: Intake, run: _Run, oa: OaAccount, message: _Message, tip: Tip) -> ThreadEntry:
    """The message's thread entry in ``tip``, its content sealed with the event's key for the tip."""
    return ThreadEntry(
        oa_id=oa.oa_id,
        pseudonym=message.contact.pseudonym,
        tip_id=tip.tip_id,
        entry_key=entry_key(message.at_ms, intake.derive("in", run.key)),
        direction=Direction.INBOUND,
        kind=message.event.event_name,
        at_ms=message.at_ms,
        grouped=message.grouped,
        sealed=run.keys.seal(
            json.dumps(_content(message.event), ensure_ascii=False).encode(),
            sealing_context(oa.oa_id, tip.tip_id, message.contact.pseudonym),
        ),
    )


def _ack_entry(intake: Intake, run: _Run, tip: Tip, at_ms: int) -> ThreadEntry:
    """The acknowledgement of the event's message, queued: a new tip's, or a follow-up's."""
    display = tipcode.display(tip.code)
    opened_by_this_event = tip.tip_id == intake.derive("tip", run.key)  # also true on a retry
    text = texts.ack_new_tip(display) if opened_by_this_event else texts.ack_follow_up(display)
    context = sealing_context(tip.oa_id, tip.tip_id, tip.pseudonym)
    return reply_entry(
        oa_id=tip.oa_id,
        pseudonym=tip.pseudonym,
        tip_id=tip.tip_id,
        reply_id=intake.derive("ack", run.key),
        at_ms=at_ms + 1,
        sealed=run.keys.seal(json.dumps({"text": text}, ensure_ascii=False).encode(), context),
        kind="ack",
    )


def _store_at_once(intake: Intake, run: _Run, oa: OaAccount, message: _Message) -> tuple[Tip, bool] | None:
    """The usual case in one transaction: the message joins the contact's open tip, or opens a
    new one (creating the contact, pointing it at the tip, reserving the code), with its
    acknowledgement stored beside it; the claim is done with it unless an acknowledgement is still
    to be queued. None when the case is not the usual one (a retry of this event, a race with
    another event, a tip closed meanwhile): nothing was written, and the caller goes step by step."""
    table, contact, at_ms = intake.table, message.contact, message.at_ms
    new_tip_id = intake.derive("tip", run.key)
    current_id = contact.open_tip_id if message.stored else None
    if current_id == new_tip_id:  # a retry of the message that opened it
        return None
    current = table.get_tip(current_id) if current_id else None
    reply_id = intake.derive("ack", run.key)
    quiet_ms = int(intake.settings.ack_quiet_minutes * 60 * 1000)
    for _ in range(_CODE_ATTEMPTS):
        code_at: int | None = None
        if current is not None and _joinable(intake, current, at_ms, message.grouped):
            tip, opened = current, False
            acknowledge = message.acknowledge and current.last_ack_ms <= message.now_ms - quiet_ms
            join_window_ms = int(intake.settings.tip_join_hours * 3600 * 1000)
            operations = [
                table.join_tip_op(
                    tip,
                    at_ms,
                    message.urgent,
                    [status.value for status in OPEN_STATUSES],
                    active_since_ms=None if message.grouped else at_ms - join_window_ms,
                    ack=(reply_id, message.now_ms, quiet_ms) if acknowledge else None,
                )
            ]
        else:
            code = tipcode.new_code()
            tip = _new_tip(oa, contact, new_tip_id, code, at_ms).model_copy(
                update={
                    "message_count": 1,
                    "urgent": message.urgent,
                    "last_ack_ms": message.now_ms if message.acknowledge else 0,
                }
            )
            opened, acknowledge = True, message.acknowledge
            pointed = contact.model_copy(update={"open_tip_id": new_tip_id, "open_tip_at_ms": at_ms})
            operations = [
                table.point_contact_op(contact.pseudonym, new_tip_id, at_ms, expected=current_id)
                if message.stored
                else table.create_contact_op(pointed, burst_start_ms=message.now_ms),
                table.contact_tip_link_op(contact.pseudonym, new_tip_id),
                table.reserve_code_op(code, new_tip_id),
                table.new_tip_op(tip, reply_id if acknowledge else None),
            ]
            code_at = 2
        operations.append(table.new_entry_op(_inbound_entry(intake, run, oa, message, tip)))
        ack = _ack_entry(intake, run, tip, at_ms) if acknowledge else None
        if ack is not None:
            operations.append(table.new_entry_op(ack))
            cancelled = table.transact(operations)
        else:
            cancelled = message.finish_with(intake, run, operations)
        if cancelled is None:
            break
        failed = [index for index, reason in enumerate(cancelled) if reason is not None]
        if failed != [code_at]:  # anything but a code taken by another tip
            return None
    else:
        raise RuntimeError("no free tip code")
    if opened:
        logger.info("tip opened", tip_id=tip.tip_id, oa_id=oa.oa_id, unit_id=oa.unit_id)
        if not message.stored:
            logger.info("contact created", oa_id=oa.oa_id, contact=contact.pseudonym[:12])
    if message.urgent and (opened or not tip.urgent):
        _alert_urgent(intake, tip)
    if ack is not None:
        send_queued(intake.settings.replies_queue_url, ack, reply_id)
        message.finish_with(
            intake, run, [table.enqueued_op(thread_pk(ack.tip_id, ack.pseudonym), ack.entry_key)]
        )
    return tip, opened


def _store_step_by_step(intake: Intake, run: _Run, oa: OaAccount, message: _Message) -> tuple[Tip, bool]:
    """Each write on its own, each idempotent on ids derived from the event: completes an event
    whose earlier attempt stopped half-way, and settles races with other events of the citizen."""
    tip, opened = _open_or_join_tip(intake, oa, message.contact, run.key, message.at_ms, message.grouped)
    if intake.table.put_entry_if_absent(_inbound_entry(intake, run, oa, message, tip)):
        intake.table.note_inbound(tip, message.at_ms, message.urgent)
        if message.urgent and not tip.urgent:
            _alert_urgent(intake, tip)
    if message.acknowledge:
        _acknowledge(intake, run, tip, message.at_ms, message.now_ms)
    return tip, opened


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


def _new_tip(oa: OaAccount, contact: Contact, tip_id: str, code: str, at_ms: int) -> Tip:
    """A tip the contact's message opens at ``at_ms``, in the OA's unit (not stored yet)."""
    return Tip(
        tip_id=tip_id,
        code=code,
        oa_id=oa.oa_id,
        unit_id=oa.unit_id,
        pseudonym=contact.pseudonym,
        created_at_ms=at_ms,
        last_activity_ms=at_ms,
    )


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
    tip = _new_tip(oa, contact, tip_id, code, at_ms)
    if not intake.table.put_tip_if_absent(tip):
        intake.table.release_code(code)
        return _present(intake.table.get_tip(tip_id), "tip")
    logger.info("tip opened", tip_id=tip_id, oa_id=oa.oa_id, unit_id=oa.unit_id)
    return tip


def _acknowledge(intake: Intake, run: _Run, tip: Tip, at_ms: int, now_ms: int) -> None:
    """One acknowledgement for a new tip; follow-ups only after the quiet period."""
    reply_id = intake.derive("ack", run.key)
    key = entry_key(at_ms + 1, reply_id)
    already = intake.table.get_entry(tip_pk(tip.tip_id), key)
    if already is None:
        quiet_ms = int(intake.settings.ack_quiet_minutes * 60 * 1000)
        if not intake.table.claim_ack(tip.tip_id, reply_id, now_ms, quiet_ms):
            return
        ack = _ack_entry(intake, run, tip, at_ms)
        intake.table.put_entry_if_absent(ack)
    elif already.enqueued:
        return
    else:
        ack = already
    send_queued(intake.settings.replies_queue_url, ack, reply_id)
    intake.table.mark_enqueued(tip_pk(tip.tip_id), key)


def _alert_urgent(intake: Intake, tip: Tip) -> None:
    payload = {"unit_id": tip.unit_id, "tip_id": tip.tip_id, "code": tipcode.display(tip.code)}
    alerts.publish(intake.settings.urgent_topic_arn, "Tin báo khẩn", payload, unit_id=tip.unit_id)
    logger.info("urgent alert published", tip_id=tip.tip_id, unit_id=tip.unit_id)


# -- receipts and erasure ----------------------------------------------------------------------
def _mark_delivery(
    intake: Intake, run: _Run, oa_id: str, zalo_ids: list[str], status: DeliveryStatus
) -> None:
    """Mark the replies Zalo reports; the last mark is written with the claim done (a reply already
    seen stays seen: then the claim is finished on its own)."""
    found = [where for where in (intake.table.find_sent(oa_id, zalo_id) for zalo_id in zalo_ids) if where]
    for pk, key in found[:-1]:
        intake.table.mark_receipt(pk, key, status)
    if found:
        pk, key = found[-1]
        _finish_with(intake, run, [intake.table.mark_receipt_op(pk, key, status)])


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
