"""Planning the audience of due advisories and delivering each recipient's message.

Audience: the contacts of each targeted OA, queried from the OA's audience partition of gsi1
(``AUDIENCE#<oa_id>`` / pseudonym, written with the contact), so a run reads only the contacts of
the OAs it targets.

Planning one (advisory, occurrence, OA) is gated by its RUN record: written ``planning`` with a
condition, ``planned`` once every recipient is on the queue. A scheduler retry (Lambda retries a
failed scheduled invocation) skips what was planned and plans again what a crash interrupted.

Fan-out messages carry ids only: ``{"advisory_id", "run_ms", "oa_id", "pseudonyms": [...]}``, up
to ``PER_MESSAGE`` recipients each, sent with SendMessageBatch, ten messages per call.

Recipients are the contacts who asked for advisories (``subscription``: followers, and
non-followers who wrote "NHẬN TIN") and can be reached (``model.skip_reason``); every other
contact of the OA gets a ``skipped`` record with its reason, so the report counts each reason.
Eligibility is checked when planning and again when sending (a citizen may have unfollowed or
written "HỦY" meanwhile).

Channel per recipient, decided when sending: consultation when the citizen interacted within 7
days; otherwise a promotion (followers only), only 06:00-21:59 Vietnam time, at most one per
person per Vietnam day and within the OA's daily quota (both counted in the table before calling
Zalo, so Zalo never has to refuse); what does not fit is deferred to the next allowed time, never
dropped.

Exactly once per (occurrence, recipient): a conditional write claims the delivery record
(absent, or ``deferred`` before) before Zalo is called. A claim left ``sending`` by a crash is not
sent again (at most once: Zalo may have delivered it); the report counts it as interrupted.
A fan-out message is delivered with a handful of batched table calls plus, per recipient, the
claim, the KMS call that opens the citizen's Zalo id and the Zalo call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from tipline.adapters import envelope, queues, zalo
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import Contact
from tipline.errors import DecryptionFailed
from tipline.intake import subscription
from tipline.observability import logger
from tipline.tokens.store import TokenStore, TokenUnavailable

from . import manage
from .model import (
    Advisory,
    AdvisoryStatus,
    Channel,
    Skip,
    daily_quota,
    in_window,
    next_promotion_start,
    promotion_hours,
    promotion_start_tomorrow,
    skip_reason,
    vietnam_day,
)

PER_MESSAGE = 50
PROMOTION_TEXT_ELEMENT = 1000  # a promotion's text element is shorter than a message: split it
MAX_DEFER_SECONDS = 43_200  # SQS visibility timeout limit
BUSY_RETRY_SECONDS = 60  # Zalo busy without saying for how long: try again in a minute
PROMOTED_MARKER_SECONDS = 3 * 86400  # a citizen's one-promotion-a-day marker outlives its day
PLANNING, PLANNED = "planning", "planned"
_CONTACT_FIELDS = (  # blocked: the flag of contacts stored before zalo_blocked (tipline.domain.Contact)
    "pseudonym, oa_id, unit_id, follower, follower_at_ms, opted_in, opted_out, zalo_blocked, blocked, "
    "last_interaction_ms, anonymous"
)


class FanoutMessage(BaseModel):
    advisory_id: str = Field(min_length=1, max_length=64)
    run_ms: int = Field(ge=0)
    oa_id: str = Field(min_length=1, max_length=64)
    pseudonyms: list[str] = Field(min_length=1, max_length=PER_MESSAGE)


@dataclass
class Plan:
    advisories: int = 0
    targeted: int = 0
    enqueued: int = 0
    skipped: int = 0
    messages: int = 0


def contacts_of(table: Table, oa_ids: set[str]) -> Iterable[Contact]:
    """Every contact of these OAs, from their audience partitions."""
    for oa_id in sorted(oa_ids):
        yield from table.audience(oa_id, _CONTACT_FIELDS)


def plan_due(table: Table, settings: Settings, now_ms: int) -> Plan:
    """Fan out every due advisory once, then move it to its next occurrence (or finish it)."""
    plan = Plan()
    due = manage.due(table, now_ms)
    if not due:
        return plan
    accounts = table.list_oas()
    wanted: dict[str, list[tuple[Advisory, int]]] = {}
    for advisory in due:
        run_ms = advisory.next_due_ms or now_ms
        units = set(advisory.target.unit_ids)
        for account in accounts:
            if advisory.target.province_wide or account.unit_id in units:
                wanted.setdefault(account.oa_id, []).append((advisory, run_ms))
    by_oa: dict[str, list[Contact]] = {oa_id: [] for oa_id in wanted}
    for contact in contacts_of(table, set(wanted)):
        by_oa[contact.oa_id].append(contact)
    for oa_id, pairs in wanted.items():
        contacts = sorted(by_oa[oa_id], key=lambda c: c.pseudonym)
        followers = sum(1 for c in contacts if c.follower)
        for advisory, run_ms in pairs:
            _plan_one(table, settings, advisory, run_ms, oa_id, contacts, followers, now_ms, plan)
    for advisory in due:
        plan.advisories += 1
        run_ms = advisory.next_due_ms or now_ms
        following = advisory.schedule.next_due(max(now_ms, run_ms))
        status = AdvisoryStatus.ACTIVE if following is not None else AdvisoryStatus.DONE
        runs = [*advisory.runs, run_ms][-50:]
        if not manage.advance(
            table, advisory.model_copy(update={"next_due_ms": following, "status": status, "runs": runs})
        ):
            logger.info("advisory cancelled while it was planned", advisory_id=advisory.advisory_id)
            continue
        logger.info(
            "advisory fanned out", advisory_id=advisory.advisory_id, run_ms=run_ms, status=str(status)
        )
    return plan


def _plan_one(
    table: Table,
    settings: Settings,
    advisory: Advisory,
    run_ms: int,
    oa_id: str,
    contacts: list[Contact],
    followers: int,
    now_ms: int,
    plan: Plan,
) -> None:
    advisory_id = advisory.advisory_id
    values = {
        "run_ms": run_ms,
        "oa_id": oa_id,
        "targeted": len(contacts),
        "followers": followers,
        "state": PLANNING,
        "planned_ms": now_ms,
    }
    if not table.put_run(advisory_id, run_ms, oa_id, values, if_absent=True):
        earlier = table.get_run(advisory_id, run_ms, oa_id)
        if earlier is not None and earlier.get("state") == PLANNED:
            logger.info("advisory run already planned", advisory_id=advisory.advisory_id, oa_id=oa_id)
            return
        # a crash interrupted the earlier planning: plan again (claims keep deliveries single)
        table.put_run(advisory_id, run_ms, oa_id, {**(earlier or {}), **values})
    eligible: list[str] = []
    skips: list[tuple[str, dict[str, Any]]] = []
    for contact in contacts:
        reason = skip_reason(contact, now_ms)
        if reason is None:
            eligible.append(contact.pseudonym)
            continue
        skipped = {"status": manage.SKIPPED, "reason": reason.value, "updated_ms": now_ms}
        skips.append((contact.pseudonym, skipped))
    # nobody else writes these records before they are enqueued
    table.write_deliveries(advisory_id, run_ms, oa_id, skips)
    messages = enqueue(settings.fanout_queue_url, advisory_id, run_ms, oa_id, eligible)
    table.put_run(advisory_id, run_ms, oa_id, {**values, "state": PLANNED})
    plan.targeted += len(contacts)
    plan.enqueued += len(eligible)
    plan.skipped += len(skips)
    plan.messages += messages


def enqueue(queue_url: str, advisory_id: str, run_ms: int, oa_id: str, pseudonyms: list[str]) -> int:
    """Put recipients on the fan-out queue, PER_MESSAGE ids a message, ten messages a call."""
    bodies = [
        FanoutMessage(
            advisory_id=advisory_id, run_ms=run_ms, oa_id=oa_id, pseudonyms=pseudonyms[i : i + PER_MESSAGE]
        ).model_dump_json()
        for i in range(0, len(pseudonyms), PER_MESSAGE)
    ]
    queues.send_batch(queue_url, bodies)
    return len(bodies)


# -- delivery --------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What happened to one fan-out message; ``defer_seconds`` > 0: come back then for the rest."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0
    done_before: int = 0
    defer_seconds: int = 0


@dataclass
class Deliverer:
    table: Table
    settings: Settings
    tokens: TokenStore


@dataclass
class _Batch:
    """One fan-out message being delivered: its records are written together at the end."""

    table: Table
    message: FanoutMessage
    now_ms: int
    outcome: Outcome = field(default_factory=Outcome)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)  # (Zalo message id, pseudonym)
    defer_until_ms: int = 0
    claimed: set[str] = field(default_factory=set)
    deferred_before: set[str] = field(default_factory=set)

    @property
    def run(self) -> tuple[str, int, str]:
        """(advisory id, run, OA): where this message's delivery records live."""
        return self.message.advisory_id, self.message.run_ms, self.message.oa_id

    def claim(self, pseudonym: str, values: dict[str, Any]) -> bool:
        """Write the recipient's record only if it is absent or was deferred before."""
        return self.table.claim_delivery(*self.run, pseudonym, {"updated_ms": self.now_ms, **values})

    def flush(self) -> None:
        """Write the records (and receipt pointers) gathered so far."""
        self.table.write_deliveries(*self.run, self.records, self.sent)
        self.records, self.sent = [], []

    def record(self, pseudonym: str, status: str, reason: str | None = None, **extra: Any) -> None:
        """The final word on a claimed recipient (written in a batch at the end)."""
        self.records.append(
            (pseudonym, {"status": status, "reason": reason, "updated_ms": self.now_ms, **extra})
        )

    def claim_for_sending(self, pseudonym: str) -> bool:
        if self.claim(pseudonym, {"status": manage.SENDING}):
            self.claimed.add(pseudonym)
            return True
        self.outcome.done_before += 1
        return False

    def defer(self, pseudonym: str, reason: str, until_ms: int, channel: Channel) -> None:
        """Come back at ``until_ms``: recorded over our claim, or first-time (conditional)."""
        if pseudonym in self.claimed:
            self.record(pseudonym, "deferred", reason, channel=channel.value, retry_at_ms=until_ms)
        elif pseudonym not in self.deferred_before and not self.table.put_delivery_if_absent(
            *self.run,
            pseudonym,
            {
                "status": "deferred",
                "reason": reason,
                "channel": channel.value,
                "retry_at_ms": until_ms,
                "updated_ms": self.now_ms,
            },
        ):
            self.outcome.done_before += 1  # a duplicate of this message got there first
            return
        self.outcome.deferred += 1
        self.defer_until_ms = max(self.defer_until_ms, until_ms)


def deliver(deliverer: Deliverer, message: FanoutMessage, now_ms: int) -> Outcome:
    table = deliverer.table
    batch = _Batch(table=table, message=message, now_ms=now_ms)
    advisory = manage.load(table, message.advisory_id)
    todo = _not_done(batch)
    if advisory is None or advisory.status == AdvisoryStatus.CANCELLED:
        for pseudonym in todo:
            if batch.claim(pseudonym, {"status": "failed", "reason": "the advisory was cancelled"}):
                batch.outcome.failed += 1
        return _finish(batch)
    account = table.get_oa(message.oa_id, cache_seconds=deliverer.settings.registry_cache_seconds)
    if account is not None and account.disabled:  # tipline-ops disable-oa: each recipient says why
        for pseudonym in todo:
            if batch.claim(pseudonym, {"status": manage.SKIPPED, "reason": Skip.OA_DISABLED.value}):
                batch.outcome.skipped += 1
        logger.warning("advisory recipients skipped: their OA is disabled", oa_id=message.oa_id)
        return _finish(batch)
    contacts = {contact.pseudonym: contact for contact in table.get_contacts(todo)}
    sends: list[tuple[Contact, Channel]] = []
    promotions: list[Contact] = []
    for pseudonym in todo:
        contact = contacts.get(pseudonym)
        reason = (
            Skip.NO_CHANNEL
            if contact is None
            else skip_reason(contact, now_ms, sealed=contact.user_id_sealed is not None)
        )
        if contact is None or reason is not None:
            skip = (reason or Skip.NO_CHANNEL).value
            if batch.claim(pseudonym, {"status": manage.SKIPPED, "reason": skip}):
                batch.outcome.skipped += 1
            continue
        if in_window(contact, now_ms):
            if batch.claim_for_sending(pseudonym):
                sends.append((contact, Channel.CONSULTATION))
        else:
            promotions.append(contact)
    sends += _fit_promotions(batch, promotions)
    _send_all(batch, deliverer, advisory, sends)
    return _finish(batch)


def _not_done(batch: _Batch) -> list[str]:
    """The recipients to work on now: no record yet, or deferred until now (one batched read).

    Recipients still deferred to a later time are counted and the message comes back then; nothing
    is written for them.
    """
    pseudonyms = list(dict.fromkeys(batch.message.pseudonyms))
    records = batch.table.get_deliveries(*batch.run, pseudonyms)
    todo = []
    for pseudonym in pseudonyms:
        record = records.get(pseudonym)
        if record is None:
            todo.append(pseudonym)
        elif record.get("status") != "deferred":
            batch.outcome.done_before += 1
        elif int(record.get("retry_at_ms") or 0) > batch.now_ms:
            batch.outcome.deferred += 1
            batch.defer_until_ms = max(batch.defer_until_ms, int(record["retry_at_ms"]))
        else:
            batch.deferred_before.add(pseudonym)
            todo.append(pseudonym)
    return todo


def _fit_promotions(batch: _Batch, contacts: list[Contact]) -> list[tuple[Contact, Channel]]:
    """Promotions that may go now: Vietnam daytime, the OA's quota, once per person per day.

    Quota slots are counted for the whole message at once (returned if unused); only recipients
    that got a slot are claimed, the others are deferred without a write when already deferred.
    """
    if not contacts:
        return []
    table, message, now_ms = batch.table, batch.message, batch.now_ms
    if not promotion_hours(now_ms):
        until = next_promotion_start(now_ms)
        for contact in contacts:
            batch.defer(contact.pseudonym, "outside 06:00-21:59 Vietnam time", until, Channel.PROMOTION)
        return []
    tomorrow = promotion_start_tomorrow(now_ms)
    run = table.get_run(*batch.run)
    quota = daily_quota(int(run["followers"]) if run else 0)
    day = vietnam_day(now_ms)
    slots = table.take_promotion_slots(message.oa_id, day, len(contacts), quota)
    fitting: list[tuple[Contact, Channel]] = []
    used = 0
    expires = now_ms // 1000 + PROMOTED_MARKER_SECONDS
    for contact in contacts:
        if used >= slots:
            batch.defer(
                contact.pseudonym, "the OA's daily promotion quota is used up", tomorrow, Channel.PROMOTION
            )
            continue
        if not batch.claim_for_sending(contact.pseudonym):
            continue
        used += 1
        marker = {"advisory_id": message.advisory_id, "expires_at": expires}
        if not table.mark_promoted(contact.pseudonym, day, marker):
            used -= 1
            batch.defer(contact.pseudonym, "one promotion per person per day", tomorrow, Channel.PROMOTION)
            continue
        fitting.append((contact, Channel.PROMOTION))
    if slots > used:
        table.return_promotion_slots(message.oa_id, day, slots - used)
    return fitting


def _release_promotion(batch: _Batch, pseudonym: str) -> None:
    day = vietnam_day(batch.now_ms)
    batch.table.unmark_promoted(pseudonym, day)
    batch.table.return_promotion_slots(batch.message.oa_id, day, 1)


def _send_all(
    batch: _Batch, deliverer: Deliverer, advisory: Advisory, sends: list[tuple[Contact, Channel]]
) -> None:
    message, now_ms = batch.message, batch.now_ms
    for contact, channel in sends:
        pseudonym = contact.pseudonym
        try:
            user_id = envelope.open_sealed(
                deliverer.settings.kms_key_id,
                contact.user_id_sealed or b"",
                {"oa_id": message.oa_id, "contact": pseudonym},
            ).decode()
            sent = _send(deliverer, message.oa_id, user_id, advisory, channel)
        except DecryptionFailed:
            batch.record(
                pseudonym, "failed", "the citizen's id could not be decrypted", channel=channel.value
            )
            batch.outcome.failed += 1
            continue
        except zalo.ZaloRefused as refused:
            _refused(batch, contact, channel, refused)
            continue
        except (zalo.ZaloUnavailable, zalo.TokenRejected, TokenUnavailable) as busy:
            if isinstance(busy, zalo.ZaloUnavailable) and busy.maybe_delivered:
                # the answer was lost: Zalo may have delivered it, so never send it again
                batch.record(pseudonym, "failed", "Zalo's answer was lost; not resent", channel=channel.value)
                batch.outcome.failed += 1
                continue
            if channel == Channel.PROMOTION:
                _release_promotion(batch, pseudonym)
            batch.defer(pseudonym, str(busy), _retry_at(busy, now_ms), channel)
            continue
        batch.record(
            pseudonym, "sent", None, channel=channel.value, zalo_message_id=sent.message_id, sent_ms=now_ms
        )
        batch.sent.append((sent.message_id, pseudonym))
        batch.outcome.sent += 1
        if len(batch.records) >= 25:  # keep what a crash could lose small
            batch.flush()


def _refused(batch: _Batch, contact: Contact, channel: Channel, refused: zalo.ZaloRefused) -> None:
    pseudonym = contact.pseudonym
    if channel == Channel.PROMOTION:  # refused: Zalo counted nothing
        _release_promotion(batch, pseudonym)
    if refused.code == -213:  # Zalo says they do not follow (any more): the unfollow event was lost
        subscription.unfollowed(batch.table, pseudonym, batch.now_ms)
        batch.record(pseudonym, manage.SKIPPED, Skip.UNFOLLOWED.value, channel=channel.value)
        batch.outcome.skipped += 1
        return
    if refused.code == -217:
        batch.table.set_contact_flags(pseudonym, zalo_blocked=True)
    batch.record(pseudonym, "failed", refused.reason, channel=channel.value)
    batch.outcome.failed += 1


def _retry_at(busy: zalo.ZaloError | TokenUnavailable, now_ms: int) -> int:
    """When to try a recipient again after Zalo (or the OA's token) was unavailable."""
    code = busy.code if isinstance(busy, zalo.ZaloError) else None
    if code == -234:  # night ban (our clock and Zalo's disagree): 06:00
        return next_promotion_start(now_ms)
    if code in (-211, -218):  # daily quotas: tomorrow
        return promotion_start_tomorrow(now_ms)
    wait = busy.retry_after if isinstance(busy, zalo.ZaloUnavailable) else None
    return now_ms + int((wait or BUSY_RETRY_SECONDS) * 1000)


def _finish(batch: _Batch) -> Outcome:
    batch.flush()
    outcome = batch.outcome
    if batch.defer_until_ms:
        seconds = (batch.defer_until_ms - batch.now_ms + 999) // 1000
        outcome.defer_seconds = max(1, min(MAX_DEFER_SECONDS, seconds))
    logger.info(
        "advisory batch delivered",
        advisory_id=batch.message.advisory_id,
        oa_id=batch.message.oa_id,
        sent=outcome.sent,
        skipped=outcome.skipped,
        failed=outcome.failed,
        deferred=outcome.deferred,
        done_before=outcome.done_before,
    )
    return outcome


def _send(
    deliverer: Deliverer, oa_id: str, user_id: str, advisory: Advisory, channel: Channel
) -> zalo.SentMessage:
    def call(token: str) -> zalo.SentMessage:
        if channel == Channel.CONSULTATION:
            return zalo.send_consultation(token, user_id, advisory.message_text())
        return zalo.send_promotion(token, user_id, promotion_elements(advisory))

    token = deliverer.tokens.access_token(oa_id)
    try:
        return call(token.access_token)
    except zalo.TokenRejected:
        logger.info("zalo rejected the oa token; refreshing", oa_id=oa_id)
    return call(deliverer.tokens.refresh(oa_id, seen_version=token.version).access_token)


def promotion_elements(advisory: Advisory) -> list[dict[str, Any]]:
    """The promotion template: a header, the text and, with a link, an ``oa.open.url`` button."""
    elements: list[dict[str, Any]] = [{"type": "header", "content": advisory.title[:100]}]
    elements += [
        {"type": "text", "align": "left", "content": advisory.text[i : i + PROMOTION_TEXT_ELEMENT]}
        for i in range(0, len(advisory.text), PROMOTION_TEXT_ELEMENT)
    ]
    if advisory.link:
        elements.append(
            {
                "type": "buttons",
                "buttons": [
                    {
                        "title": (advisory.link_title or "Xem chi tiết")[:100],
                        "type": "oa.open.url",
                        "payload": {"url": advisory.link},
                    }
                ],
            }
        )
    return elements


def parse(body: str) -> FanoutMessage:
    return FanoutMessage.model_validate(json.loads(body))
