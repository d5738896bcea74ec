"""Officers' blocks of a sender: placed, listed and lifted, each audited (docs/intake.md, "Blocks")."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tipline.access import Caller, visible
from tipline.adapters.table import Table
from tipline.audit import AuditRecord, write_audit
from tipline.console.listing import tips_in_scope
from tipline.console.views import Refused, audit_action, iso
from tipline.domain import (
    Contact,
    OfficerBlock,
    Tip,
)
from tipline.errors import Conflict, NotFound
from tipline.intake.pseudonym import short_pseudonym
from tipline.observability import logger


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


def _citizen_tip(table: Table, caller: Caller, citizen: str, tip_id: str | None) -> Tip:
    """One of the caller's tips from the citizen shown as ``citizen`` (short pseudonym).

    Short pseudonyms are 40 bits: should two citizens in scope share one, ``tip_id`` says which."""
    if tip_id is not None:
        tip = visible(caller, table.get_tip(tip_id))
        matches = {tip.pseudonym: tip} if short_pseudonym(tip.pseudonym) == citizen else {}
    else:
        matches = {}
        for tip in tips_in_scope(table, caller):
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
    audit_action(table, found, caller, "block", reason, now_ms, details={"citizen": citizen})
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
