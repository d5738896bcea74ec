"""Closed tips expire after the retention period; a legal hold stops expiry; contacts go when idle.

Every item of a tip carries the same ``expires_at`` (DynamoDB TTL), and each sealed value carries
its own encrypted data key, so when the items go the keys go with them. The daily sweeper deletes a
tip as soon as its retention has passed, together with its evidence objects; the TTL is set
``TTL_GRACE_DAYS`` later as a backstop, so the sweeper normally wins and no evidence is orphaned.
moto never expires items, so the sweeper is also what the tests observe.
"""

from __future__ import annotations

from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import OPEN_STATUSES, Tip
from tipline.evidence.service import evidence_retention, purge_tip_evidence
from tipline.observability import logger

DAY_SECONDS = 86_400
TTL_GRACE_DAYS = 7


def forget_after(tip: Tip, retention_days: int) -> int | None:
    """When a tip is to be forgotten (epoch seconds), or None while it is open or on legal hold."""
    if tip.legal_hold or tip.status in OPEN_STATUSES:
        return None
    closed_ms = tip.closed_at_ms if tip.closed_at_ms is not None else tip.last_activity_ms
    return closed_ms // 1000 + retention_days * DAY_SECONDS


def ttl_for(tip: Tip, retention_days: int) -> int | None:
    """The DynamoDB TTL written on the tip's items: the decision plus a grace period."""
    forget = forget_after(tip, retention_days)
    return None if forget is None else forget + TTL_GRACE_DAYS * DAY_SECONDS


def apply_retention(table: Table, settings: Settings, tip: Tip) -> int | None:
    """Write the tip's retention decision onto its items and evidence; returns the TTL set (None: kept).

    Call it whenever a tip's status or legal hold changes.
    """
    expires_at = ttl_for(tip, settings.retention_days)
    if expires_at != tip.expires_at:
        table.set_expiry(tip, expires_at)
        evidence_retention(settings, tip, forget_after(tip, settings.retention_days))
        logger.info("tip retention set", tip_id=tip.tip_id, expires_at=expires_at, legal_hold=tip.legal_hold)
    return expires_at


def sweep(table: Table, settings: Settings, now_s: int) -> int:
    """Delete tips whose retention has passed (re-checking the decision) and evidence of erased
    citizens. Returns the number of tips deleted."""
    deleted = 0
    for tip in table.expired_tips(now_s + TTL_GRACE_DAYS * DAY_SECONDS):
        forget = forget_after(tip, settings.retention_days)
        if forget is None or forget > now_s:  # reopened or put on hold since, or not yet due
            apply_retention(table, settings, tip)
            continue
        purge_tip_evidence(settings, tip.tip_id)
        items = table.delete_tip(tip)
        deleted += 1
        logger.info("expired tip deleted", tip_id=tip.tip_id, items=items)
    for tip_id in table.pending_evidence_purges():
        purge_tip_evidence(settings, tip_id)
        table.clear_evidence_purge(tip_id)
    return deleted


def forget_idle_contacts(table: Table, settings: Settings, now_s: int) -> int:
    """Delete contacts (the sealed Zalo id with them) with no tip left and no interaction for the
    retention period. A follower who has not opted out is kept: Zalo lets advisories reach followers
    with no open window, and their id is needed for it; unfollowing or opting out is an interaction
    that starts the clock. (An opted-in non-follower this silent is out of Zalo's 7-day window: no
    advisory can reach them.) Returns how many were deleted."""
    before_ms = (now_s - settings.retention_days * DAY_SECONDS) * 1000
    forgotten = 0
    for contact in table.idle_contacts(before_ms):
        if contact.follower and not contact.opted_out:
            continue
        if contact.open_tip_id is not None or table.contact_tip_ids(contact.pseudonym):
            continue
        if table.forget_contact(contact.pseudonym, before_ms):
            forgotten += 1
            logger.info("idle contact forgotten", contact=contact.pseudonym[:12], oa_id=contact.oa_id)
    return forgotten
