"""What officers do with tips: read (decrypting, audited), reply, triage, transfer.

Listing is in :mod:`.listing`, blocks in :mod:`.blocks`, the audit trail and statistics in
:mod:`.oversight`.

Every function takes the verified Caller and answers NotFound for anything outside its scope.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from tipline.access import Caller, visible
from tipline.adapters import envelope
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.console.blocks import Block
from tipline.console.content import AttachmentView, open_entry
from tipline.console.views import Refused, TipSummary, audit_action, iso
from tipline.domain import (
    OPEN_STATUSES,
    Contact,
    DeliveryStatus,
    Direction,
    ThreadEntry,
    Tip,
    TipStatus,
    sealing_context,
)
from tipline.evidence.model import AttachmentStatus
from tipline.evidence.service import list_records
from tipline.intake.events import SubmittedInfo
from tipline.intake.pseudonym import short_pseudonym
from tipline.keys import entry_key, tip_pk
from tipline.lifecycle.retention import apply_retention
from tipline.observability import logger
from tipline.replies.outbox import queue_reply
from tipline.zalo_rules import CS_WINDOW_MS, in_cs_window

TRANSITIONS: dict[TipStatus, frozenset[TipStatus]] = {
    TipStatus.NEW: frozenset({TipStatus.IN_PROGRESS, TipStatus.REJECTED, TipStatus.SPAM}),
    TipStatus.IN_PROGRESS: frozenset({TipStatus.RESOLVED, TipStatus.REJECTED, TipStatus.SPAM}),
    TipStatus.RESOLVED: frozenset({TipStatus.IN_PROGRESS}),
    TipStatus.REJECTED: frozenset({TipStatus.IN_PROGRESS}),
    TipStatus.SPAM: frozenset({TipStatus.IN_PROGRESS}),
}


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
    audit_action(table, tip, caller, "read", reason, now_ms)
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
    audit_action(table, tip, caller, "reply", "officer reply", now_ms, details={"reply_id": reply_id})
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
    audit_action(
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
        audit_action(
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
