"""Who may receive an advisory and when Zalo allows a promotion: the pure rules of advisories.model.

The handler tests (tests/handlers/test_advisory_eligibility.py, test_advisories.py) show these rules
at work through the scheduler and the fan-out; here each rule is pinned at its edges, in
milliseconds, so that a change to one of them fails a test that names it.
"""

from __future__ import annotations

import pytest
from tipline.advisories.model import (
    WINDOW_MARGIN_MS,
    Skip,
    daily_quota,
    in_window,
    next_promotion_start,
    promotion_hours,
    promotion_start_tomorrow,
    skip_reason,
    vietnam_day,
)
from tipline.domain import Contact
from tipline.zalo_rules import CS_WINDOW_MS, DAY_MS, vietnam

HOUR_MS = 3_600_000
# 2026-03-10 00:00 Vietnam time (UTC+7) is 2026-03-09 17:00 UTC.
MIDNIGHT_VN = 1_773_075_600_000
NOW = MIDNIGHT_VN + 12 * HOUR_MS  # noon in Vietnam


def _contact(**fields: object) -> Contact:
    values: dict[str, object] = {
        "pseudonym": "p" * 12,
        "oa_id": "oa-1",
        "unit_id": "unit-1",
        "user_id_sealed": b"sealed",
        "last_interaction_ms": NOW - DAY_MS,
        "follower": True,
        "follower_at_ms": NOW - 30 * DAY_MS,
    }
    return Contact.model_validate({**values, **fields})


def test_the_fixed_instant_is_vietnam_midnight() -> None:
    at = vietnam(MIDNIGHT_VN)
    assert (at.year, at.month, at.day, at.hour, at.minute) == (2026, 3, 10, 0, 0)


def test_a_follower_who_never_opted_out_is_reached() -> None:
    assert skip_reason(_contact(), NOW) is None
    assert skip_reason(_contact(last_interaction_ms=0), NOW) is None  # by promotion: silence is fine


def test_an_opted_in_non_follower_is_reached_only_while_their_window_is_open() -> None:
    writer = _contact(follower=False, follower_at_ms=0, opted_in=True)
    assert skip_reason(writer, NOW) is None
    silent = writer.model_copy(update={"last_interaction_ms": NOW - CS_WINDOW_MS})
    assert skip_reason(silent, NOW) == Skip.WINDOW_CLOSED


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"opted_out": True}, Skip.OPTED_OUT),
        ({"opted_out": True, "opted_in": True, "zalo_blocked": True}, Skip.OPTED_OUT),  # the choice first
        ({"follower": False, "follower_at_ms": 0}, Skip.NOT_SUBSCRIBED),
        ({"follower": False}, Skip.UNFOLLOWED),  # once a follower: they left
        ({"zalo_blocked": True}, Skip.BLOCKED),
        ({"zalo_blocked": True, "anonymous": True}, Skip.BLOCKED),
        ({"anonymous": True}, Skip.NO_CHANNEL),
        ({"anonymous": True, "follower": False, "opted_in": True, "last_interaction_ms": 0}, Skip.NO_CHANNEL),
    ],
)
def test_each_contact_not_reached_gets_the_first_reason_that_applies(
    fields: dict[str, object], reason: Skip
) -> None:
    assert skip_reason(_contact(**fields), NOW) == reason


def test_a_contact_whose_zalo_id_is_not_read_has_no_channel() -> None:
    assert skip_reason(_contact(), NOW, sealed=False) == Skip.NO_CHANNEL
    assert skip_reason(_contact(), NOW, sealed=True) is None


def test_an_officer_s_block_does_not_stop_the_advice_a_citizen_asked_for() -> None:
    block = {"by": "officer-1", "at_ms": NOW - HOUR_MS, "reason": "spam", "unit_id": "unit-1", "tip_id": "t1"}
    blocked = _contact(officer_block=block)
    assert blocked.officer_block is not None
    assert skip_reason(blocked, NOW) is None


def test_consultation_needs_the_window_open_a_minute_longer_than_zalo_s() -> None:
    assert WINDOW_MARGIN_MS == 60_000
    last = NOW - CS_WINDOW_MS + WINDOW_MARGIN_MS
    assert in_window(_contact(last_interaction_ms=last), NOW)
    assert not in_window(_contact(last_interaction_ms=last - 1), NOW)
    assert in_window(_contact(last_interaction_ms=NOW - 6 * DAY_MS), NOW)


def test_promotions_go_from_six_in_the_morning_to_before_ten_at_night_vietnam_time() -> None:
    assert not promotion_hours(MIDNIGHT_VN + 6 * HOUR_MS - 1)
    assert promotion_hours(MIDNIGHT_VN + 6 * HOUR_MS)
    assert promotion_hours(MIDNIGHT_VN + 22 * HOUR_MS - 1)
    assert not promotion_hours(MIDNIGHT_VN + 22 * HOUR_MS)


def test_the_next_promotion_start_is_six_o_clock_today_or_tomorrow() -> None:
    six_today = MIDNIGHT_VN + 6 * HOUR_MS
    assert next_promotion_start(MIDNIGHT_VN + 1) == six_today
    assert next_promotion_start(six_today - 1) == six_today
    assert next_promotion_start(six_today) == six_today + DAY_MS  # six itself has begun
    assert next_promotion_start(NOW) == six_today + DAY_MS
    assert promotion_start_tomorrow(MIDNIGHT_VN + 1) == six_today + DAY_MS
    assert promotion_start_tomorrow(NOW + 59_999) == six_today + DAY_MS  # seconds dropped
    assert promotion_start_tomorrow(MIDNIGHT_VN + DAY_MS - 1) == six_today + DAY_MS  # the same Vietnam day


def test_the_vietnam_day_turns_at_vietnam_midnight() -> None:
    assert vietnam_day(MIDNIGHT_VN) == "20260310"
    assert vietnam_day(MIDNIGHT_VN - 1) == "20260309"


@pytest.mark.parametrize(
    ("followers", "quota"),
    [(0, 500), (10_000, 500), (10_001, 500), (10_020, 501), (40_000, 2_000), (1_000_019, 50_000)],
)
def test_the_daily_promotion_quota_is_500_then_five_percent_of_followers(followers: int, quota: int) -> None:
    assert daily_quota(followers) == quota
