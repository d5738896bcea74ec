"""Planning the audience of due advisories and delivering each recipient's message.

Audience: the contacts of each targeted OA, read by a paged scan of contact items filtered on
the OA (one scan per scheduler run for all due advisories' OAs). A scan reads the whole table,
but it runs at most every 5 minutes and only when something is due; a per-OA contact index would
need the webhook to maintain index keys on every contact (a change to the intake path), which we
leave for when tables grow past a few million items.

Fan-out messages carry ids only: ``{"advisory_id", "run_ms", "oa_id", "pseudonyms": [...]}``, up
to ``PER_MESSAGE`` recipients each, sent with SendMessageBatch, ten messages per call.

Channel per recipient, decided when sending (a follower may have unfollowed meanwhile):
consultation when the citizen interacted within 7 days; otherwise a promotion if they follow the
OA, only 06:00-21:59 Vietnam time, at most one per person per Vietnam day and within the OA's
daily quota (both counted in the table before calling Zalo, so Zalo never has to refuse); what
does not fit is deferred to the next allowed time, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tipline.adapters import envelope, queues, zalo
from tipline.adapters.table import Table, contact_pk
from tipline.config import Settings
from tipline.domain import Contact
from tipline.errors import DecryptionFailed
from tipline.observability import logger
from tipline.tokens.store import TokenStore, TokenUnavailable

from . import manage
from .model import (
    WINDOW_MS,
    Advisory,
    AdvisoryStatus,
    Channel,
    Skip,
    daily_quota,
    next_promotion_start,
    promotion_hours,
    vietnam_day,
)

PER_MESSAGE = 50
MAX_DEFER_SECONDS = 43_200  # SQS visibility timeout limit


class FanoutMessage(BaseModel):
    advisory_id: str
    run_ms: int
    oa_id: str
    pseudonyms: list[str]


@dataclass
class Plan:
    advisories: int = 0
    targeted: int = 0
    enqueued: int = 0
    skipped: int = 0
    messages: int = 0


def _contacts(table: Table, oa_ids: set[str]) -> Iterable[Contact]:
    kwargs: dict[str, Any] = {
        "FilterExpression": "begins_with(pk, :c) AND sk = :meta",
        "ExpressionAttributeValues": {":c": {"S": "CONTACT#"}, ":meta": {"S": "META"}},
        "ProjectionExpression": "pseudonym, oa_id, unit_id, follower, opted_out, blocked, "
        "last_interaction_ms, anonymous",
    }
    for values in table.paginate("scan", kwargs):
        if values.get("oa_id") in oa_ids:
            yield Contact.model_validate(values)


def _skip_reason(contact: Contact, now_ms: int, sealed: bool = True) -> Skip | None:
    if contact.opted_out:
        return Skip.OPTED_OUT
    if contact.blocked or contact.anonymous or not sealed:
        return Skip.NO_CHANNEL
    if now_ms - contact.last_interaction_ms > WINDOW_MS and not contact.follower:
        return Skip.NOT_FOLLOWING
    return None


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
    for contact in _contacts(table, set(wanted)):
        by_oa[contact.oa_id].append(contact)
    for oa_id, pairs in wanted.items():
        contacts = by_oa[oa_id]
        followers = sum(1 for c in contacts if c.follower)
        for advisory, run_ms in pairs:
            _plan_one(table, settings, advisory, run_ms, oa_id, contacts, followers, now_ms, plan)
    for advisory in due:
        plan.advisories += 1
        run_ms = advisory.next_due_ms or now_ms
        following = advisory.schedule.next_due(max(now_ms, run_ms))
        status = AdvisoryStatus.ACTIVE if following is not None else AdvisoryStatus.DONE
        runs = [*advisory.runs, run_ms][-50:]
        manage.save(
            table, advisory.model_copy(update={"next_due_ms": following, "status": status, "runs": runs})
        )
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
    run = f"RUN#{run_ms:013d}#OA#{oa_id}"
    values = {"run_ms": run_ms, "oa_id": oa_id, "targeted": len(contacts), "followers": followers}
    table.put(manage.advisory_pk(advisory.advisory_id), run, values)
    eligible = []
    for contact in contacts:
        reason = _skip_reason(contact, now_ms)
        if reason is None:
            eligible.append(contact.pseudonym)
            continue
        plan.skipped += 1
        table.put(
            manage.run_pk(advisory.advisory_id, run_ms),
            manage.delivery_sk(oa_id, contact.pseudonym),
            {"status": manage.SKIPPED, "reason": reason.value, "oa_id": oa_id},
            if_absent=True,
        )
    messages = enqueue(settings.fanout_queue_url, advisory.advisory_id, run_ms, oa_id, eligible)
    plan.targeted += len(contacts)
    plan.enqueued += len(eligible)
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
    notes: list[str] = field(default_factory=list)


@dataclass
class Deliverer:
    table: Table
    settings: Settings
    tokens: TokenStore


def _claim(table: Table, pk: str, sk: str, oa_id: str, now_ms: int) -> bool:
    """Take a recipient for sending: only if never recorded, or deferred before."""
    from tipline.adapters.table import to_item

    item = to_item({"pk": pk, "sk": sk, "status": manage.SENDING, "oa_id": oa_id, "claimed_ms": now_ms})
    try:
        table._call(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR #st = :deferred",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":deferred": {"S": "deferred"}},
        )
    except ClientError:
        return False
    return True


def _take_promotion(table: Table, oa_id: str, pseudonym: str, quota: int, now_ms: int) -> str | None:
    """Count one promotion for the person and the OA today; the reason when it does not fit."""
    day = vietnam_day(now_ms)
    expires = now_ms // 1000 + 3 * 86400
    if not table.put(contact_pk(pseudonym), f"PROMO#{day}", {"expires_at": expires}, if_absent=True):
        return "one promotion per person per day"
    try:
        table._call(
            "update_item",
            Key={"pk": {"S": f"PROMOQUOTA#{oa_id}"}, "sk": {"S": day}},
            UpdateExpression="ADD used :one SET expires_at = :e",
            ConditionExpression="attribute_not_exists(used) OR used < :quota",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":quota": {"N": str(quota)},
                ":e": {"N": str(expires)},
            },
        )
    except ClientError:
        table.delete(contact_pk(pseudonym), f"PROMO#{day}")
        return "the OA's daily promotion quota is used up"
    return None


def _release_promotion(table: Table, oa_id: str, pseudonym: str, now_ms: int) -> None:
    day = vietnam_day(now_ms)
    table.delete(contact_pk(pseudonym), f"PROMO#{day}")
    table._call(
        "update_item",
        Key={"pk": {"S": f"PROMOQUOTA#{oa_id}"}, "sk": {"S": day}},
        UpdateExpression="ADD used :minus",
        ExpressionAttributeValues={":minus": {"N": "-1"}},
    )


def deliver(deliverer: Deliverer, message: FanoutMessage, now_ms: int) -> Outcome:  # noqa: PLR0915 - one recipient loop; split when it grows
    table = deliverer.table
    outcome = Outcome()
    advisory = manage.load(table, message.advisory_id)
    pk = manage.run_pk(message.advisory_id, message.run_ms)
    run = table.get(manage.advisory_pk(message.advisory_id), f"RUN#{message.run_ms:013d}#OA#{message.oa_id}")
    quota = daily_quota(int(run["followers"]) if run else 0)
    defer_until = 0
    for pseudonym in message.pseudonyms:
        sk = manage.delivery_sk(message.oa_id, pseudonym)

        def record(status: str, reason: str | None = None, **extra: Any) -> None:
            values = {"status": status, "oa_id": message.oa_id, "reason": reason, **extra}
            table.put(pk, sk, values)  # noqa: B023 - used within this iteration only

        if not _claim(table, pk, sk, message.oa_id, now_ms):
            outcome.done_before += 1
            continue
        if advisory is None or advisory.status == AdvisoryStatus.CANCELLED:
            record("failed", "the advisory was cancelled")
            outcome.failed += 1
            continue
        contact = table.get_contact(pseudonym)
        reason = (
            Skip.NO_CHANNEL
            if contact is None
            else _skip_reason(contact, now_ms, sealed=contact.user_id_sealed is not None)
        )
        if contact is None or reason is not None:
            record(manage.SKIPPED, (reason or Skip.NO_CHANNEL).value)
            outcome.skipped += 1
            continue
        channel = Channel.CONSULTATION
        if now_ms - contact.last_interaction_ms > WINDOW_MS:
            channel = Channel.PROMOTION
            wait_reason = None
            if not promotion_hours(now_ms):
                wait_reason = "outside 06:00-21:59 Vietnam time"
                until = next_promotion_start(now_ms, tomorrow=False)
            else:
                wait_reason = _take_promotion(table, message.oa_id, pseudonym, quota, now_ms)
                until = next_promotion_start(now_ms, tomorrow=True)
            if wait_reason is not None:
                record("deferred", wait_reason, channel=channel.value)
                outcome.deferred += 1
                defer_until = max(defer_until, until)
                continue
        try:
            user_id = envelope.open_sealed(
                deliverer.settings.kms_key_id,
                contact.user_id_sealed or b"",
                {"oa_id": message.oa_id, "contact": pseudonym},
            ).decode()
            sent = _send(deliverer, message.oa_id, user_id, advisory, channel)
        except DecryptionFailed:
            record("failed", "the citizen's id could not be decrypted", channel=channel.value)
            outcome.failed += 1
            continue
        except zalo.ZaloRefused as refused:
            if refused.code == -217:
                table.set_contact_flags(pseudonym, blocked=True)
            record("failed", refused.reason, channel=channel.value)
            outcome.failed += 1
            continue
        except (zalo.ZaloUnavailable, zalo.TokenRejected, TokenUnavailable) as busy:
            if channel == Channel.PROMOTION:
                _release_promotion(table, message.oa_id, pseudonym, now_ms)
            record("deferred", getattr(busy, "reason", None) or str(busy), channel=channel.value)
            outcome.deferred += 1
            wait = getattr(busy, "retry_after", None) or 60
            defer_until = max(defer_until, now_ms + int(wait * 1000))
            continue
        record("sent", None, channel=channel.value, zalo_message_id=sent.message_id, sent_ms=now_ms)
        table.remember_sent(message.oa_id, sent.message_id, pk, sk)
        outcome.sent += 1
    if defer_until:
        outcome.defer_seconds = max(1, min(MAX_DEFER_SECONDS, (defer_until - now_ms + 999) // 1000))
    logger.info(
        "advisory batch delivered",
        advisory_id=message.advisory_id,
        oa_id=message.oa_id,
        sent=outcome.sent,
        skipped=outcome.skipped,
        failed=outcome.failed,
        deferred=outcome.deferred,
    )
    return outcome


def _send(
    deliverer: Deliverer, oa_id: str, user_id: str, advisory: Advisory, channel: Channel
) -> zalo.SentMessage:
    def call(token: str) -> zalo.SentMessage:
        if channel == Channel.CONSULTATION:
            return zalo.send_consultation(token, user_id, advisory.message_text())
        elements: list[dict[str, Any]] = [
            {"type": "header", "content": advisory.title[:100]},
            {"type": "text", "align": "left", "content": advisory.text[:1000]},
        ]
        if advisory.link:
            elements.append({"type": "text", "align": "left", "content": advisory.link})
        return zalo.send_promotion(token, user_id, elements)

    token = deliverer.tokens.access_token(oa_id)
    try:
        return call(token.access_token)
    except zalo.TokenRejected:
        logger.info("zalo rejected the oa token; refreshing", oa_id=oa_id)
    return call(deliverer.tokens.refresh(oa_id, seen_version=token.version).access_token)


def parse(body: str) -> FanoutMessage:
    return FanoutMessage.model_validate(json.loads(body))
