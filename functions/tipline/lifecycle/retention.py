"""Closed tips expire after the retention period through DynamoDB TTL; a legal hold stops expiry.

Every item of a tip carries the same ``expires_at``, and each sealed value carries its own
encrypted data key, so when the items go the keys go with them. DynamoDB deletes expired items
within about 48 hours; the sweeper applies the same decision at once (and is how tests see it,
because moto does not expire items).
"""

from __future__ import annotations

from tipline.adapters.table import Table
from tipline.domain import OPEN_STATUSES, Tip
from tipline.observability import logger

DAY_SECONDS = 86_400


def expiry_for(tip: Tip, retention_days: int) -> int | None:
    """When a tip may be forgotten (epoch seconds), or None while it is open or on legal hold."""
    if tip.legal_hold or tip.status in OPEN_STATUSES:
        return None
    closed_ms = tip.closed_at_ms if tip.closed_at_ms is not None else tip.last_activity_ms
    return closed_ms // 1000 + retention_days * DAY_SECONDS


def apply_retention(table: Table, tip: Tip, retention_days: int) -> int | None:
    """Write the tip's expiry decision onto all of its items; returns the expiry set (None: kept)."""
    expires_at = expiry_for(tip, retention_days)
    if expires_at != tip.expires_at:
        table.set_expiry(tip, expires_at)
        logger.info("tip retention set", tip_id=tip.tip_id, expires_at=expires_at, legal_hold=tip.legal_hold)
    return expires_at


def sweep(table: Table, now_s: int, retention_days: int) -> int:
    """Delete the tips whose expiry has passed, re-checking the decision first. Returns tips deleted."""
    deleted = 0
    for tip in table.expired_tips(now_s):
        expires_at = expiry_for(tip, retention_days)
        if expires_at is None or expires_at > now_s:  # reopened or put on hold since: keep
            apply_retention(table, tip, retention_days)
            continue
        items = table.delete_tip(tip)
        deleted += 1
        logger.info("expired tip deleted", tip_id=tip.tip_id, items=items)
    return deleted
