"""Zalo's rules that shape behaviour, each written once (shared/zalo/ZALO-OA.md).

The reply sender, the officer API and the advisories all ask these; none spells a figure itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")  # UTC+7, no daylight saving
DAY_MS = 24 * 3600 * 1000
CS_WINDOW_MS = 7 * DAY_MS  # consultation messages only within 7 days of the last interaction (-230)
TEXT_LIMIT = 2000  # characters of a consultation message's text
PROMOTION_FIRST_HOUR = 6  # promotions only 06:00-21:59 Vietnam time (-234 outside)
PROMOTION_END_HOUR = 22  # exclusive


def vietnam(at_ms: int) -> datetime:
    """``at_ms`` as a Vietnam wall-clock time."""
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(VIETNAM)


def in_cs_window(last_interaction_ms: int, now_ms: int, margin_ms: int = 0) -> bool:
    """Whether Zalo still accepts a consultation message (``margin_ms`` earlier than Zalo would close)."""
    return now_ms - last_interaction_ms <= CS_WINDOW_MS - margin_ms
