"""What officers do with tips: list, read (decrypting, audited), reply, triage, transfer, block, stats.

Every function takes the verified Caller and answers NotFound for anything outside its scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tipline.access import Caller, visible
from tipline.adapters import envelope
from tipline.adapters.table import Table
from tipline.audit import AuditRecord, advisory_trail, tip_trail, unit_trail, write_audit
from tipline.config import Settings
from tipline.console.content import AttachmentView, open_entry
from tipline.domain import (
    OPEN_STATUSES,
    Contact,
    DeliveryStatus,
    Direction,
    OfficerBlock,
    ThreadEntry,
    Tip,
    TipStatus,
    sealing_context,
)
from tipline.errors import Conflict, NotFound, TiplineError
from tipline.evidence.model import AttachmentStatus
from tipline.evidence.service import list_records
from tipline.intake import tipcode
from tipline.intake.events import SubmittedInfo
from tipline.intake.pseudonym import short_pseudonym
from tipline.keys import entry_key, tip_pk
from tipline.lifecycle.retention import apply_retention
from tipline.observability import logger
from tipline.replies.outbox import queue_reply
from tipline.zalo_rules import CS_WINDOW_MS, in_cs_window, vietnam

TRANSITIONS: dict[TipStatus, frozenset[TipStatus]] = {
    TipStatus.NEW: frozenset({TipStatus.IN_PROGRESS, TipStatus.REJECTED, TipStatus.SPAM}),
    TipStatus.IN_PROGRESS: frozenset({TipStatus.RESOLVED, TipStatus.REJECTED, TipStatus.SPAM}),
    TipStatus.RESOLVED: frozenset({TipStatus.IN_PROGRESS}),
    TipStatus.REJECTED: frozenset({TipStatus.IN_PROGRESS}),
    TipStatus.SPAM: frozenset({TipStatus.IN_PROGRESS}),
}


class Refused(TiplineError):
    """A well-formed request the tip's state does not allow (answered 409 with the reason)."""


class InvalidInput(TiplineError):
    """Input the schema cannot catch, such as a tampered cursor (answered 422)."""


def iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


# -- listing (never decrypts) ------------------------------------------------------------------------
class TipSummary(BaseModel):
    tip_id: str
    code: str
    unit_id: str
    status: TipStatus
    urgent: bool
    created_at: str | None
    last_activity_at: str | None
    message_count: int
    reply_count: int
    citizen: str = Field(description="short pseudonym of the citizen")
    assignee: str | None = None
    labels: list[str] = []

    @classmethod
    def of(cls, tip: Tip) -> TipSummary:
        return cls(
            assignee=tip.assignee,
            labels=sorted(tip.labels),
            tip_id=tip.tip_id,
            code=tipcode.display(tip.code),
            unit_id=tip.unit_id,
            status=tip.status,
            urgent=tip.urgent,
            created_at=iso(tip.created_at_ms),
            last_activity_at=iso(tip.last_activity_ms),
            message_count=tip.message_count,
            reply_count=tip.reply_count,
            citizen=short_pseudonym(tip.pseudonym),
        )


class TipPage(BaseModel):
    items: list[TipSummary]
    next: str | None


def _sign(pepper: bytes, payload: bytes) -> str:
    return hmac.new(pepper, b"cursor\x1f" + payload, hashlib.sha256).hexdigest()[:32]


def encode_cursor(pepper: bytes, key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    payload = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode() + "." + _sign(pepper, payload)


def decode_cursor(pepper: bytes, cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        encoded, signature = cursor.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError as exc:
        raise InvalidInput("invalid cursor") from exc
    if not hmac.compare_digest(signature, _sign(pepper, payload)):
        raise InvalidInput("invalid cursor")
    key: dict[str, Any] = json.loads(payload)
    return key


def list_tips(
    table: Table,
    pepper: bytes,
    caller: Caller,
    *,
    status: TipStatus | None = None,
    urgent: bool | None = None,
    unit_id: str | None = None,
    since_ms: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
    assignee: str | None = None,
    code: str | None = None,
) -> TipPage:
    if unit_id is not None and not caller.may_see(unit_id):
        raise NotFound("no such unit")
    if code is not None:
        return _tip_by_code(table, caller, code, unit_id)
    unit = unit_id if unit_id is not None else (None if caller.commander else caller.unit_id)
    filters: dict[str, Any] = {}
    if status is not None:
        filters["status"] = status.value
    if urgent is not None:
        filters["urgent"] = urgent
    if assignee is not None:
        filters["assignee"] = assignee
    tips, last_key = table.tips_page(unit, limit, decode_cursor(pepper, cursor), since_ms, filters)
    return TipPage(items=[TipSummary.of(tip) for tip in tips], next=encode_cursor(pepper, last_key))


def _tip_by_code(table: Table, caller: Caller, code: str, unit_id: str | None) -> TipPage:
    """The one tip a citizen's code names, if the caller may see it (a code in any spelling the citizen
    may have typed it: lower case, without the dash, O for 0)."""
    canonical = tipcode.normalise(code)
    tip_id = table.tip_id_for_code(canonical) if canonical else None
    tip = table.get_tip(tip_id) if tip_id else None
    if tip is None or not caller.may_see(tip.unit_id) or unit_id not in (None, tip.unit_id):
        return TipPage(items=[], next=None)
    return TipPage(items=[TipSummary.of(tip)], next=None)


# -- who is calling, and the units ---------------------------------------------------------------------
class Me(BaseModel):
    subject: str
    unit_id: str
    unit_name: str
    role: Literal["officer", "commander"]


class Unit(BaseModel):
    unit_id: str
    name: str
    parent_unit_id: str | None = None
    oa_ids: list[str] = Field(default_factory=list, description="the unit's Zalo Official Accounts")


def units(table: Table) -> list[Unit]:
    """Every unit that owns an OA (for transfers, filters and advisory targets; names are not secret)."""
    found: dict[str, Unit] = {}
    for account in table.list_oas():
        unit = found.setdefault(
            account.unit_id,
            Unit(
                unit_id=account.unit_id,
                name=account.unit_name or account.unit_id,
                parent_unit_id=account.parent_unit_id,
            ),
        )
        unit.oa_ids.append(account.oa_id)
    return sorted(found.values(), key=lambda unit: (unit.parent_unit_id is not None, unit.name))


def me(table: Table, caller: Caller) -> Me:
    names = {unit.unit_id: unit.name for unit in units(table)}
    return Me(
        subject=caller.subject,
        unit_id=caller.unit_id,
        unit_name=names.get(caller.unit_id, caller.unit_id),
        role="commander" if caller.commander else "officer",
    )


# -- reading (decrypts, audited) ---------------------------------------------------------------------
class EvidenceItem(BaseModel):
    """A stored copy of an attachment: fetch it through /v1/tips/{tip_id}/attachments/{attachment_id}."""

    attachment_id: str
    kind: str
    status: str
    reason: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None


class ThreadMessage(BaseModel):
    direction: Direction
    kind: str
    at: str | None
    text: str | None = None
    attachments: list[AttachmentView] = []
    info: SubmittedInfo | None = None
    unreadable: bool = Field(
        default=False,
        description="its sealed content did not open (tampered with, or moved from another record)",
    )
    delivery: DeliveryStatus | None = None
    reason: str | None = None
    author: str | None = None
    grouped: bool = False
    evidence: list[EvidenceItem] = []


class Block(BaseModel):
    """An officer's block: no acknowledgements or automatic answers to the citizen. Their messages are
    still stored (grouped into their open tip) and urgent ones still alert; officers' replies still go.
    It belongs to the unit of the tip it was placed on."""

    citizen: str = Field(description="short pseudonym of the citizen")
    unit_id: str
    tip_id: str = Field(description="the tip the block was placed on")
    blocked_by: str
    blocked_at: str | None
    reason: str

    @classmethod
    def of(cls, pseudonym: str, block: OfficerBlock) -> Block:
        return cls(
            citizen=short_pseudonym(pseudonym),
            unit_id=block.unit_id,
            tip_id=block.tip_id,
            blocked_by=block.by,
            blocked_at=iso(block.at_ms),
            reason=block.reason,
        )


class BlockLifted(BaseModel):
    citizen: str
    lifted_by: str
    lifted_at: str | None
    block: Block = Field(description="the block that was lifted")


class Sender(BaseModel):
    """What stands between the OA and the tip's citizen."""

    citizen: str = Field(description="short pseudonym of the citizen")
    blocked_the_oa: bool = Field(
        description="Zalo refused a message because the citizen blocked the OA (-217); "
        "clears when they write or follow again"
    )
    block: Block | None = Field(description="an officer's block, if any")

    @classmethod
    def of(cls, pseudonym: str, contact: Contact | None) -> Sender:
        block = contact.officer_block if contact is not None else None
        return cls(
            citizen=short_pseudonym(pseudonym),
            blocked_the_oa=contact is not None and contact.zalo_blocked,
            block=Block.of(pseudonym, block) if block is not None else None,
        )


class TipDetail(TipSummary):
    legal_hold: bool = False
    sender: Sender
    messages: list[ThreadMessage]
    reply_until: str | None = Field(
        default=None, description="Zalo's 7-day reply window closes then (None: no reply possible)"
    )
    reply_refused: Literal["withdrawn", "anonymous"] | None = Field(
        default=None, description="why the citizen cannot be answered at all, if so"
    )


def _audit(
    table: Table,
    tip: Tip,
    caller: Caller,
    action: str,
    reason: str,
    now_ms: int,
    unit_id: str | None = None,
    details: dict[str, str] | None = None,
) -> None:
    """Append the audit record of an action on ``tip``, before the action itself."""
    record = AuditRecord(
        tip_id=tip.tip_id,
        unit_id=unit_id or tip.unit_id,
        actor=caller.subject,
        action=action,
        reason=reason,
        at_ms=now_ms,
        details=details or {},
    )
    write_audit(table, record)


def _message(
    settings: Settings, entry: ThreadEntry, evidence: list[EvidenceItem], kept: Mapping[str, AttachmentStatus]
) -> ThreadMessage:
    content = open_entry(settings, entry, kept)
    return ThreadMessage(
        direction=entry.direction,
        kind=entry.kind,
        at=iso(entry.at_ms),
        text=content.text,
        attachments=content.attachments,
        info=content.info,
        unreadable=content.unreadable,
        delivery=entry.status,
        reason=entry.reason,
        author=entry.author,
        grouped=entry.grouped,
        evidence=evidence,
    )


def read_tip(
    table: Table, settings: Settings, caller: Caller, tip_id: str, reason: str, now_ms: int
) -> TipDetail:
    tip = visible(caller, table.get_tip(tip_id))
    _audit(table, tip, caller, "read", reason, now_ms)
    evidence: dict[str, list[EvidenceItem]] = defaultdict(list)
    kept: dict[str, AttachmentStatus] = {}
    for record in list_records(table, tip.tip_id):
        evidence[record.entry_key].append(EvidenceItem.model_validate(record.model_dump()))
        kept[record.attachment_id] = record.status
    messages = [
        _message(settings, entry, evidence.get(entry.entry_key, []), kept)
        for entry in table.thread(tip_pk(tip.tip_id))
    ]
    contact = table.get_contact(tip.pseudonym)
    refused = _reply_refusal(contact)
    logger.info("tip read", tip_id=tip.tip_id, actor=caller.subject, entries=len(messages))
    return TipDetail(
        **TipSummary.of(tip).model_dump(),
        legal_hold=tip.legal_hold,
        sender=Sender.of(tip.pseudonym, contact),
        messages=messages,
        reply_until=None if contact is None or refused else iso(contact.last_interaction_ms + CS_WINDOW_MS),
        reply_refused=refused,
    )


def _reply_refusal(contact: Contact | None) -> Literal["withdrawn", "anonymous"] | None:
    if contact is None or contact.user_id_sealed is None:
        return "withdrawn"
    return "anonymous" if contact.anonymous else None


# -- acting on a tip -----------------------------------------------------------------------------------
def reply(
    table: Table, settings: Settings, caller: Caller, tip_id: str, text: str, now_ms: int
) -> dict[str, str]:
    tip = visible(caller, table.get_tip(tip_id))
    contact = table.get_contact(tip.pseudonym)
    refused = _reply_refusal(contact)
    if refused == "withdrawn" or contact is None:
        raise Refused("the citizen withdrew their data; they can no longer be contacted")
    if refused == "anonymous":
        raise Refused("the citizen wrote anonymously; Zalo does not let the OA answer them")
    if not in_cs_window(contact.last_interaction_ms, now_ms):
        raise Refused(
            "Zalo allows replies only within 7 days of the citizen's last message or follow; "
            f"the last interaction was {iso(contact.last_interaction_ms)}"
        )
    reply_id = secrets.token_hex(10)
    _audit(table, tip, caller, "reply", "officer reply", now_ms, details={"reply_id": reply_id})
    entry = queue_reply(
        table,
        kms_key_id=settings.kms_key_id,
        queue_url=settings.replies_queue_url,
        oa_id=tip.oa_id,
        pseudonym=tip.pseudonym,
        tip_id=tip.tip_id,
        reply_id=reply_id,
        at_ms=now_ms,
        text=text,
        kind="officer_reply",
        author=caller.subject,
        existing=None,
    )
    table.note_officer_reply(tip.tip_id, now_ms)
    logger.info("officer reply queued", tip_id=tip.tip_id, reply_id=reply_id, actor=caller.subject)
    return {"reply_id": reply_id, "entry": entry.entry_key, "status": "queued"}


class TipChanges(BaseModel):
    status: TipStatus | None = None
    assignee: str | None = Field(default=None, max_length=128)
    labels: list[str] | None = Field(default=None, max_length=20)
    note: str | None = Field(default=None, min_length=1, max_length=4000)
    legal_hold: bool | None = None


def triage(
    table: Table, settings: Settings, caller: Caller, tip_id: str, changes: TipChanges, now_ms: int
) -> TipSummary:
    tip = visible(caller, table.get_tip(tip_id))
    updates: dict[str, Any] = {}
    if changes.status is not None and changes.status != tip.status:
        if changes.status not in TRANSITIONS[tip.status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[tip.status]))
            raise Refused(f"a {tip.status.value} tip can move to: {allowed}")
        updates["status"] = changes.status
        updates["closed_at_ms"] = None if changes.status in OPEN_STATUSES else now_ms
    if changes.legal_hold is not None:
        if not caller.commander:
            raise Refused("only the provincial command can place or lift a legal hold")
        updates["legal_hold"] = changes.legal_hold
    extra: dict[str, Any] = {}
    if changes.assignee is not None:
        extra["assignee"] = changes.assignee or None  # "" unassigns
    if changes.labels is not None:
        extra["labels"] = sorted(set(changes.labels))
    _audit(
        table,
        tip,
        caller,
        "triage",
        "triage",
        now_ms,
        details={k: str(v) for k, v in {**updates, **extra}.items() if k != "closed_at_ms"},
    )
    if changes.note is not None:
        _add_note(table, settings, tip, caller, changes.note, now_ms)
    updated = table.update_tip(tip, {**updates, **extra}) if updates or extra else tip
    if "status" in updates or "legal_hold" in updates:
        apply_retention(table, settings, updated)
    return TipSummary.of(updated)


def _add_note(table: Table, settings: Settings, tip: Tip, caller: Caller, note: str, now_ms: int) -> None:
    context = sealing_context(tip.oa_id, tip.tip_id, tip.pseudonym)
    sealed = envelope.seal(
        settings.kms_key_id, json.dumps({"text": note}, ensure_ascii=False).encode(), context
    )
    table.put_entry_if_absent(
        ThreadEntry(
            oa_id=tip.oa_id,
            pseudonym=tip.pseudonym,
            tip_id=tip.tip_id,
            entry_key=entry_key(now_ms, secrets.token_hex(8)),
            direction=Direction.INTERNAL,
            kind="note",
            at_ms=now_ms,
            sealed=sealed,
            author=caller.subject,
        )
    )


def transfer(
    table: Table, caller: Caller, tip_id: str, unit_id: str, reason: str, known_units: set[str], now_ms: int
) -> TipSummary:
    tip = visible(caller, table.get_tip(tip_id))
    if unit_id not in known_units:
        raise Refused(f"unknown unit {unit_id}")
    if unit_id == tip.unit_id:
        raise Refused("the tip already belongs to that unit")
    for unit in (tip.unit_id, unit_id):  # both units' trails show the move
        _audit(
            table,
            tip,
            caller,
            "transfer",
            reason,
            now_ms,
            unit_id=unit,
            details={"from_unit": tip.unit_id, "to_unit": unit_id},
        )
    moved = table.update_tip(tip, {"unit_id": unit_id}, expected_unit=tip.unit_id)  # Conflict if raced
    logger.info("tip transferred", tip_id=tip.tip_id, from_unit=tip.unit_id, to_unit=unit_id)
    return TipSummary.of(moved)


def _tips_in_scope(table: Table, caller: Caller) -> Iterator[Tip]:
    key: dict[str, Any] | None = None
    while True:
        page, key = table.tips_page(None if caller.commander else caller.unit_id, 500, key, None, {})
        yield from page
        if not key:
            return


def _citizen_tip(table: Table, caller: Caller, citizen: str, tip_id: str | None) -> Tip:
    """One of the caller's tips from the citizen shown as ``citizen`` (short pseudonym).

    Short pseudonyms are 40 bits: should two citizens in scope share one, ``tip_id`` says which."""
    if tip_id is not None:
        tip = visible(caller, table.get_tip(tip_id))
        matches = {tip.pseudonym: tip} if short_pseudonym(tip.pseudonym) == citizen else {}
    else:
        matches = {}
        for tip in _tips_in_scope(table, caller):
            if short_pseudonym(tip.pseudonym) == citizen:
                matches.setdefault(tip.pseudonym, tip)
    if len(matches) > 1:
        raise Refused(f"{citizen} names more than one citizen of your tips; give the tip_id of one of theirs")
    found = next(iter(matches.values()), None)
    if found is None:
        raise NotFound("no such citizen")
    return found


def block_contact(
    table: Table, caller: Caller, citizen: str, reason: str, now_ms: int, tip_id: str | None = None
) -> Block:
    """Block a citizen of one of the caller's tips; a citizen already blocked stays as they are."""
    found = _citizen_tip(table, caller, citizen, tip_id)
    contact = table.get_contact(found.pseudonym)
    if contact is None:
        raise NotFound("no such citizen")
    if contact.officer_block is not None:
        return Block.of(contact.pseudonym, contact.officer_block)
    block = OfficerBlock(
        by=caller.subject, at_ms=now_ms, reason=reason, unit_id=found.unit_id, tip_id=found.tip_id
    )
    _audit(table, found, caller, "block", reason, now_ms, details={"citizen": citizen})
    if not table.set_officer_block(found.pseudonym, block):
        current = table.get_contact(found.pseudonym)
        if current is None or current.officer_block is None:
            raise Conflict("the citizen's contact changed meanwhile; try again")
        return Block.of(current.pseudonym, current.officer_block)  # another officer blocked first
    logger.info("citizen blocked", tip_id=found.tip_id, actor=caller.subject)
    return Block.of(found.pseudonym, block)


def _blocks_in_scope(table: Table, caller: Caller) -> list[tuple[Contact, OfficerBlock]]:
    return [
        (contact, contact.officer_block)
        for contact in table.blocked_contacts()
        if contact.officer_block is not None and caller.may_see(contact.officer_block.unit_id)
    ]


def list_blocks(table: Table, caller: Caller) -> list[Block]:
    """Officers' blocks, newest first: of the caller's unit, or all for the provincial command."""
    return [Block.of(contact.pseudonym, block) for contact, block in _blocks_in_scope(table, caller)]


def unblock_contact(
    table: Table, caller: Caller, citizen: str, reason: str, now_ms: int, tip_id: str | None = None
) -> BlockLifted:
    """Lift a block of the caller's unit (any block for the provincial command), audited on its tip."""
    if tip_id is not None:
        pseudonym = _citizen_tip(table, caller, citizen, tip_id).pseudonym
        found = [(c, b) for c, b in _blocks_in_scope(table, caller) if c.pseudonym == pseudonym]
    else:
        found = [
            (c, b) for c, b in _blocks_in_scope(table, caller) if short_pseudonym(c.pseudonym) == citizen
        ]
    if len(found) > 1:
        raise Refused(f"{citizen} names more than one blocked citizen; give the tip_id of one of theirs")
    if not found:
        raise NotFound("no block of this citizen")
    contact, block = found[0]
    write_audit(
        table,
        AuditRecord(
            tip_id=block.tip_id,
            unit_id=block.unit_id,
            actor=caller.subject,
            action="unblock",
            reason=reason,
            at_ms=now_ms,
            details={"citizen": citizen, "blocked_by": block.by},
        ),
    )
    if not table.lift_officer_block(contact.pseudonym, block):
        raise Conflict("the block was lifted or replaced meanwhile")
    logger.info("citizen unblocked", tip_id=block.tip_id, actor=caller.subject)
    return BlockLifted(
        citizen=citizen,
        lifted_by=caller.subject,
        lifted_at=iso(now_ms),
        block=Block.of(contact.pseudonym, block),
    )


# -- oversight ---------------------------------------------------------------------------------------------
def audit_trail(
    table: Table, caller: Caller, tip_id: str | None, unit_id: str | None, advisory_id: str | None = None
) -> list[AuditRecord]:
    if not caller.commander:
        raise NotFound("not found")
    if tip_id:
        return tip_trail(table, tip_id)
    if advisory_id:
        return advisory_trail(table, advisory_id)
    if unit_id:
        return unit_trail(table, unit_id)
    raise InvalidInput("give tip_id, advisory_id or unit")


STATS_DAYS = 14  # tips per day over this many Vietnam days, today included
DELIVERY_DAYS = 30  # reply delivery rate over officer replies to tips active this recently
_LEFT = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SEEN, DeliveryStatus.FAILED})


class UnitStats(BaseModel):
    """Counts only: no citizen, no text, no pseudonym."""

    unit_id: str
    total: int = 0
    by_status: dict[str, int]
    urgent: int
    median_minutes_to_first_reply: float | None
    per_day: dict[str, int] = Field(
        default_factory=dict, description=f"tips created per Vietnam day (YYYY-MM-DD), last {STATS_DAYS} days"
    )
    replies_sent: int = Field(
        default=0, description=f"officer replies sent or failed, on tips active in {DELIVERY_DAYS} days"
    )
    replies_delivered: int = Field(default=0, description="of those, delivered or seen in Zalo")


def vietnam_day(ms: int) -> str:
    return vietnam(ms).date().isoformat()


def stats(table: Table, caller: Caller, now_ms: int) -> list[UnitStats]:
    by_unit: dict[str, list[Tip]] = defaultdict(list)
    for tip in _tips_in_scope(table, caller):
        by_unit[tip.unit_id].append(tip)
    days = [vietnam_day(now_ms - back * 86_400_000) for back in reversed(range(STATS_DAYS))]
    recent_ms = now_ms - DELIVERY_DAYS * 86_400_000
    result = []
    for unit, unit_tips in sorted(by_unit.items()):
        waits = [
            (t.first_reply_ms - t.created_at_ms) / 60000 for t in unit_tips if t.first_reply_ms is not None
        ]
        created = Counter(vietnam_day(t.created_at_ms) for t in unit_tips)
        sent = delivered = 0
        for tip in unit_tips:
            if tip.reply_count and tip.last_activity_ms >= recent_ms:
                for entry in table.thread(tip_pk(tip.tip_id)):
                    if entry.kind == "officer_reply" and entry.status in _LEFT:
                        sent += 1
                        delivered += entry.status in (DeliveryStatus.DELIVERED, DeliveryStatus.SEEN)
        result.append(
            UnitStats(
                unit_id=unit,
                total=len(unit_tips),
                by_status=dict(Counter(t.status.value for t in unit_tips)),
                urgent=sum(1 for t in unit_tips if t.urgent),
                median_minutes_to_first_reply=round(statistics.median(waits), 1) if waits else None,
                per_day={day: created.get(day, 0) for day in days},
                replies_sent=sent,
                replies_delivered=delivered,
            )
        )
    return result
