"""The template's Schedule / ScheduleV2 events, run locally: rate(...) every period, cron(...) at the
matching minutes of its ScheduleExpressionTimezone (EventBridge's six-field cron, names included).

Each firing runs in a thread of its own, as separate Lambda invocations would; a schedule whose
previous run is still going is skipped (and said so) rather than piled up.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

ACCOUNT = "123456789012"

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: n for n, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN"), 1)} | {
    name: n for n, name in enumerate(("JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 7)
}
_WEEKDAYS = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}


@dataclass
class Schedule:
    function: str
    handler: str
    expression: str
    timezone: str = "UTC"
    timeout: int = 3
    kind: str = "ScheduleV2"  # or "Schedule" (an EventBridge rule)
    input: str | None = None  # the event's Input property: the payload instead of the default event
    enabled: bool = True

    @property
    def period(self) -> int | None:
        """Seconds between runs of a rate(...) schedule; None for cron(...)."""
        rate = _RATE.fullmatch(self.expression.strip())
        if not rate:
            return None
        return int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")]


def _value(token: str, names: dict[str, int]) -> int:
    return names[token.upper()] if token.upper() in names else int(token)


def _field_matches(spec: str, value: int, low: int, high: int, names: dict[str, int]) -> bool:
    """One cron field: *, ?, n, a-b, a/step, */step, lists of those, names (JAN, MON) allowed."""
    if spec in ("*", "?"):
        return True
    for part in spec.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(base, names)
            end = high if step else start
        if start <= value <= end and (value - start) % int(step or 1) == 0:
            return True
    return False


def cron_due(expression: str, moment: datetime) -> bool:
    """EventBridge cron(minutes hours day-of-month month day-of-week year) at this (local) minute."""
    fields = expression.strip().removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise ValueError(f"an EventBridge cron expression has six fields: {expression}")
    minute, hour, day, month, weekday, year = fields
    eventbridge_weekday = (moment.isoweekday() % 7) + 1  # SUN=1 … SAT=7
    return (
        _field_matches(minute, moment.minute, 0, 59, {})
        and _field_matches(hour, moment.hour, 0, 23, {})
        and _field_matches(day, moment.day, 1, 31, {})
        and _field_matches(month, moment.month, 1, 12, _MONTHS)
        and _field_matches(weekday, eventbridge_weekday, 1, 7, _WEEKDAYS)
        and _field_matches(year, moment.year, 1970, 2199, {})
    )


def scheduled_event(schedule: Schedule, region: str, now: datetime | None = None) -> Any:
    """What the function receives: the Input when the template sets one, else the scheduled event."""
    if schedule.input is not None:
        try:
            return json.loads(schedule.input)
        except ValueError:
            return schedule.input
    moment = now or datetime.now(UTC)
    if schedule.kind == "Schedule":
        source, resource = "aws.events", f"arn:aws:events:{region}:{ACCOUNT}:rule/{schedule.function}"
    else:
        source = "aws.scheduler"
        resource = f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule/default/{schedule.function}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": source,
        "account": ACCOUNT,
        "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [resource],
        "detail": {},
    }


Invoke = Callable[[Schedule], Any]


class Scheduler:
    """Fires the schedules from a clock thread; ``run_now`` runs one at once (POST /_local/schedules)."""

    def __init__(self, schedules: list[Schedule], invoke: Invoke, stopping: threading.Event) -> None:
        self.schedules = schedules
        self._invoke = invoke
        self._stopping = stopping
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def find(self, function: str) -> Schedule | None:
        return next((s for s in self.schedules if s.function == function), None)

    def run_now(self, schedule: Schedule) -> Any:
        return self._invoke(schedule)

    def loop(self) -> None:
        started = time.time()
        fired_rate: dict[str, int] = {}
        fired_minute: dict[str, int] = {}
        while not self._stopping.wait(1.0):
            now = time.time()
            for schedule in self.schedules:
                if not schedule.enabled:
                    continue
                period = schedule.period
                if period is not None:
                    due = int((now - started) // period)
                    if due > fired_rate.get(schedule.function, 0):
                        fired_rate[schedule.function] = due
                        self._fire(schedule)
                    continue
                minute = int(now // 60)
                if fired_minute.get(schedule.function) != minute and cron_due(
                    schedule.expression, datetime.fromtimestamp(now, ZoneInfo(schedule.timezone))
                ):
                    fired_minute[schedule.function] = minute
                    self._fire(schedule)

    def _fire(self, schedule: Schedule) -> None:
        with self._lock:
            previous = self._running.get(schedule.function)
            if previous is not None and previous.is_alive():
                print(f"schedule {schedule.function}: previous run still going, this one skipped", flush=True)
                return
            thread = threading.Thread(
                target=self._invoke, args=(schedule,), name=f"schedule-{schedule.function}", daemon=True
            )
            self._running[schedule.function] = thread
            thread.start()

    def join(self, timeout: float) -> list[str]:
        """Wait for runs in progress; the names of those still running after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            running = list(self._running.values())
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in running if t.is_alive()]
