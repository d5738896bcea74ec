"""The rules every capability shares: the retry backoff and Zalo's reply window, each written once."""

from __future__ import annotations

import random

from tipline.retry import BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS, backoff_seconds
from tipline.zalo_rules import CS_WINDOW_MS, DAY_MS, in_cs_window


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
