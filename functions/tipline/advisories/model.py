"""Advisories, their schedules (evaluated in Vietnam time, UTC+7, no DST) and the channel rules.

Pure functions and pydantic models: nothing here touches AWS or Zalo.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from tipline.domain import Contact
from tipline.zalo_rules import (
    DAY_MS,
    PROMOTION_END_HOUR,
    PROMOTION_FIRST_HOUR,
    TEXT_LIMIT,
    VIETNAM,
    in_cs_window,
    vietnam,
)

PROMOTION_QUOTA_FLOOR, PROMOTION_QUOTA_PERCENT = 500, 5  # Zalo's daily promotion quota per OA
WINDOW_MARGIN_MS = 60_000  # consultation only if the 7-day window stays open a minute longer
# The furthest ahead an advisory may run: its last occurrence within this many days of its creation.
MAX_SCHEDULE_DAYS = 366
_SEARCH_DAYS = 366 * 5


class Category(StrEnum):
    SCAM = "scam"
    THEFT = "theft"
    TRAFFIC = "traffic"
    DRUGS = "drugs"
    PUBLIC_HEALTH = "public_health"
    OTHER = "other"


class AdvisoryStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class Skip(StrEnum):
    """Why a contact of a targeted OA gets no advisory (tipline.intake.subscription)."""

    OPTED_OUT = "opted_out"  # wrote "HỦY"
    UNFOLLOWED = "unfollowed"  # unfollowed, and neither followed again nor wrote "NHẬN TIN" since
    NOT_SUBSCRIBED = "not_subscribed"  # never followed nor wrote "NHẬN TIN" (e.g. only sent a tip)
    BLOCKED = "blocked"
    WINDOW_CLOSED = "window_closed"  # opted in without following, silent for 7 days: no channel
    NO_CHANNEL = "no_channel"  # anonymous, or no Zalo id to address
    OA_DISABLED = "oa_disabled"  # the OA was disabled by operations (tipline-ops disable-oa)


class Channel(StrEnum):
    CONSULTATION = "cs"
    PROMOTION = "promotion"


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = {name: number for number, name in enumerate(_MONTHS, 1)}
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
WEEKDAY_NAMES = {name: number for number, name in enumerate(_WEEKDAYS)}


def _parse_value(text: str, what: str, names: dict[str, int]) -> int:
    if text.isdigit():
        return int(text)
    if text.upper() in names:
        return names[text.upper()]
    known = f" or a name ({', '.join(names)})" if names else ""
    raise ValueError(f"{what}: {text!r} is not a number{known}")


def _parse_field(
    text: str, low: int, high: int, what: str = "field", names: dict[str, int] | None = None
) -> frozenset[int] | None:
    """One cron field: ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n`` and lists of them (month and weekday
    also by English three-letter name: ``JAN``, ``MON-FRI``). None: any."""
    if text == "*":
        return None
    names = names or {}
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = _parse_value(step_text, f"{what} step", {}) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = _parse_value(first, what, names), _parse_value(last, what, names)
        else:
            start = end = _parse_value(body, what, names)
        if not low <= start <= end <= high:
            raise ValueError(f"{what}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


class Cron(BaseModel):
    """``minute hour day-of-month month day-of-week`` (0 = Sunday), in Vietnam time."""

    model_config = ConfigDict(frozen=True)

    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None

    @classmethod
    def parse(cls, expression: str) -> Cron:
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError("a cron expression has 5 fields: minute hour day month weekday")
        weekdays = _parse_field(fields[4], 0, 7, "weekday", WEEKDAY_NAMES)
        if weekdays is not None and 7 in weekdays:
            weekdays = frozenset((weekdays - {7}) | {0})
        return cls(
            minutes=_parse_field(fields[0], 0, 59, "minute"),
            hours=_parse_field(fields[1], 0, 23, "hour"),
            days=_parse_field(fields[2], 1, 31, "day of month"),
            months=_parse_field(fields[3], 1, 12, "month", MONTH_NAMES),
            weekdays=weekdays,
        )

    def _day_matches(self, day: datetime) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        dom = self.days is None or day.day in self.days
        dow = self.weekdays is None or (day.isoweekday() % 7) in self.weekdays
        if self.days is not None and self.weekdays is not None:
            return dom or dow  # classic cron: either restricted day field matches
        return dom and dow

    def next_after(self, after_ms: int) -> int | None:
        """The first matching minute strictly after ``after_ms`` (epoch ms), or None within 5 years."""
        start = datetime.fromtimestamp(after_ms / 1000, UTC).astimezone(VIETNAM)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        hours = sorted(self.hours) if self.hours is not None else list(range(24))
        minutes = sorted(self.minutes) if self.minutes is not None else list(range(60))
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        at = day.replace(hour=hour, minute=minute)
                        at_ms = int(at.timestamp() * 1000)
                        if at_ms > after_ms:
                            return at_ms
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None


class Schedule(BaseModel):
    """Once at ``at_ms``, or recurring on ``cron`` (Vietnam time) until ``end_ms``."""

    model_config = ConfigDict(extra="forbid")

    at_ms: int | None = Field(default=None, ge=0, description="once: epoch milliseconds")
    cron: str | None = Field(default=None, max_length=100, description="recurring, Vietnam time")
    end_ms: int | None = Field(default=None, ge=0, description="recurring: no occurrence after this")

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.at_ms is None) == (self.cron is None):
            raise ValueError("give either at_ms (once) or cron (recurring)")
        if self.cron is not None:
            Cron.parse(self.cron)
            if self.end_ms is None:
                raise ValueError("a recurring schedule needs an end date (end_ms)")
        return self

    def refusal(self, now_ms: int) -> str | None:
        """Why Zalo's rules cannot serve this schedule (created at ``now_ms``); None when they can.

        Zalo sends a follower at most one promotion per Vietnam day, so a recurring advisory runs
        at most once a day (one minute of one hour); and nothing is planned beyond
        MAX_SCHEDULE_DAYS."""
        if self.cron is not None:
            cron = Cron.parse(self.cron)
            per_day = (60 if cron.minutes is None else len(cron.minutes)) * (
                24 if cron.hours is None else len(cron.hours)
            )
            if per_day > 1:
                return (
                    f"the schedule runs {per_day} times a Vietnam day; Zalo allows one promotion per "
                    "follower a day, so a recurring advisory names one minute and one hour"
                )
        last = self.end_ms if self.cron is not None else self.at_ms
        if last is not None and last - now_ms > MAX_SCHEDULE_DAYS * DAY_MS:
            return f"the schedule reaches {(last - now_ms) // DAY_MS} days ahead; at most {MAX_SCHEDULE_DAYS}"
        return None

    def first_due(self, now_ms: int) -> int | None:
        if self.at_ms is not None:
            return self.at_ms
        return self.next_due(now_ms - 1)

    def next_due(self, after_ms: int) -> int | None:
        """The next occurrence strictly after ``after_ms``; None when the schedule is over."""
        if self.cron is None:
            return None
        at = Cron.parse(self.cron).next_after(after_ms)
        if at is None or (self.end_ms is not None and at > self.end_ms):
            return None
        return at


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province_wide: bool = False
    unit_ids: list[str] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _something(self) -> Target:
        if self.province_wide == bool(self.unit_ids):
            raise ValueError("target either province_wide or a non-empty list of unit_ids")
        return self


class AdvisoryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=TEXT_LIMIT)
    link: HttpUrl | None = None
    link_title: str | None = Field(default=None, min_length=1, max_length=100)
    category: Category
    target: Target
    schedule: Schedule

    @field_validator("title", "text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class Advisory(BaseModel):
    model_config = ConfigDict(extra="ignore")

    advisory_id: str
    title: str
    text: str
    link: str | None = None
    link_title: str | None = None
    category: Category
    target: Target
    schedule: Schedule
    unit_id: str  # the creator's unit (province-wide ones: the commander's)
    created_by: str
    created_at_ms: int
    status: AdvisoryStatus = AdvisoryStatus.ACTIVE
    next_due_ms: int | None = None
    runs: list[int] = Field(default_factory=list)

    def message_text(self) -> str:
        parts = [self.title, self.text] + ([self.link] if self.link else [])
        return "\n\n".join(parts)[:TEXT_LIMIT]


# -- Vietnam time and Zalo's promotion rules ---------------------------------------------------
def vietnam_day(at_ms: int) -> str:
    return f"{vietnam(at_ms):%Y%m%d}"


def promotion_hours(at_ms: int) -> bool:
    return PROMOTION_FIRST_HOUR <= vietnam(at_ms).hour < PROMOTION_END_HOUR


def next_promotion_start(at_ms: int) -> int:
    """The next 06:00 Vietnam time: today's if it is still ahead, else tomorrow's."""
    today = _six_o_clock(at_ms, days_ahead=0)
    return today if at_ms < today else _six_o_clock(at_ms, days_ahead=1)


def promotion_start_tomorrow(at_ms: int) -> int:
    """06:00 Vietnam time on the next Vietnam day (a daily limit is used up until then)."""
    return _six_o_clock(at_ms, days_ahead=1)


def _six_o_clock(at_ms: int, days_ahead: int) -> int:
    day = vietnam(at_ms).date() + timedelta(days=days_ahead)
    return int(datetime.combine(day, time(PROMOTION_FIRST_HOUR), tzinfo=VIETNAM).timestamp()) * 1000


def daily_quota(followers: int) -> int:
    """Zalo's promotion quota per OA a day: 5 % of the OA's followers, and at least 500."""
    return max(PROMOTION_QUOTA_FLOOR, followers * PROMOTION_QUOTA_PERCENT // 100)


# -- who gets an advisory (the choices themselves: tipline.intake.subscription) -------------
def in_window(contact: Contact, now_ms: int) -> bool:
    return in_cs_window(contact.last_interaction_ms, now_ms, margin_ms=WINDOW_MARGIN_MS)


def skip_reason(contact: Contact, now_ms: int, sealed: bool = True) -> Skip | None:
    """Why this contact gets no advisory now; None when they asked for it and can be reached.

    Reached: by a consultation message while Zalo's 7-day window is open, else by a promotion,
    which Zalo allows to followers only; so an opted-in non-follower silent for 7 days is skipped
    (``window_closed``) until they write again. ``sealed``: whether the contact's Zalo id is
    stored (the audience listing does not read it)."""
    if contact.opted_out:
        return Skip.OPTED_OUT
    if not (contact.follower or contact.opted_in):
        return Skip.UNFOLLOWED if contact.follower_at_ms else Skip.NOT_SUBSCRIBED
    if contact.zalo_blocked:  # an officer's block is about tips, not the advice a citizen asked for
        return Skip.BLOCKED
    if contact.anonymous or not sealed:
        return Skip.NO_CHANNEL
    if not contact.follower and not in_window(contact, now_ms):
        return Skip.WINDOW_CLOSED
    return None
