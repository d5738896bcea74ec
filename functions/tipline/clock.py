"""The one source of wall-clock time for every function.

Code asks `now_ms()` / `now_s()` instead of calling `time.time()`, so a test can move time for a
whole flow at once (the officer API, the webhook, the scheduler and the senders see the same
instant) with `use(source)`. Elapsed-time measurements (deadlines, caches) keep `time.monotonic`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Source = Callable[[], float]

_source: Source = time.time


def now_s() -> float:
    """Seconds since the epoch, from the current source."""
    return _source()


def now_ms() -> int:
    """Milliseconds since the epoch, from the current source."""
    return int(_source() * 1000)


def set_source(source: Source) -> Source:
    """Make `source` the clock of every function; returns the previous one."""
    global _source
    previous, _source = _source, source
    return previous


@contextmanager
def use(source: Source) -> Iterator[None]:
    """Run a block with `source` as the clock, restoring the previous one after."""
    previous = set_source(source)
    try:
        yield
    finally:
        set_source(previous)
