"""The one retry rule of every queue consumer: exponential backoff with jitter.

30 s, 60 s, 120 s ... capped at 15 minutes, each times a random 0.5-1.0 so that retries of many
messages spread out instead of arriving together.
"""

from __future__ import annotations

import random

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 900
_MAX_DOUBLINGS = 10  # past this the cap holds anyway; keeps 2**n small for absurd receive counts


def backoff_seconds(attempt: int, floor: float | None = None, rng: random.Random | None = None) -> int:
    """Seconds to wait before attempt ``attempt + 1`` (at least ``floor``, at least 1)."""
    doublings = min(_MAX_DOUBLINGS, max(0, attempt - 1))
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**doublings)
    # Jitter only spreads retries; nothing secret depends on it.
    jitter = (rng or random).uniform(0.5, 1.0)  # nosec B311
    return max(1, int(max(ceiling * jitter, floor or 0)))
