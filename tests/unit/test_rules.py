"""The rules every capability shares: the retry backoff and Zalo's reply window, each written once."""

from __future__ import annotations

import random
from datetime import timedelta

from tipline.replies.delivery import _window_reason
from tipline.retry import BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS, backoff_seconds
from tipline.zalo_rules import CS_WINDOW_MS, DAY_MS, in_cs_window, vietnam


def test_backoff_doubles_with_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(3)
    for attempt, ceiling in ((1, 30), (2, 60), (3, 120), (5, 480), (6, 900), (40, 900)):
        for _ in range(50):
            assert ceiling // 2 <= backoff_seconds(attempt, rng=rng) <= ceiling
    assert backoff_seconds(1, floor=700, rng=rng) >= 700  # a server's Retry-After wins
    assert (BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS) == (30, 900)


def test_the_reply_window_is_seven_days_to_the_millisecond() -> None:
    last = 1_700_000_000_000
    assert CS_WINDOW_MS == 7 * DAY_MS
    assert in_cs_window(last, last + 7 * DAY_MS)
    assert not in_cs_window(last, last + 7 * DAY_MS + 1)
    assert in_cs_window(last, last + DAY_MS * 6)  # a 1-day window would fail here
    assert not in_cs_window(last, last + 7 * DAY_MS - 10, margin_ms=60_000)


def test_vietnam_time_is_utc_plus_7_to_the_millisecond() -> None:
    at = vietnam(1_767_225_600_123)  # 2026-01-01 00:00:00.123 UTC
    assert at.utcoffset() == timedelta(hours=7)
    assert (at.year, at.month, at.day, at.hour, at.minute, at.microsecond) == (2026, 1, 1, 7, 0, 123_000)


def test_the_window_reason_says_when_the_citizen_last_wrote_or_that_they_never_did() -> None:
    never = "outside Zalo's 7-day reply window: the citizen never wrote to the OA"
    assert _window_reason(0) == never
    assert _window_reason(-1) == never
    assert _window_reason(1).startswith("outside Zalo's 7-day reply window: the citizen last wrote on 01/01")
    assert _window_reason(1_767_225_600_000) == (
        "outside Zalo's 7-day reply window: the citizen last wrote on 01/01/2026 07:00; "
        "the reply can be sent after they write again"
    )
