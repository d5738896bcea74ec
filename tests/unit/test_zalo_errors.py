"""Zalo's error codes sorted into what the callers do with them (shared/zalo/ZALO-OA.md's table):
refresh the token, retry later, fail for the officer, or fail and alert ops."""

from __future__ import annotations

import pytest
from tipline.adapters.zalo import TokenRejected, ZaloRefused, ZaloUnavailable, classify


@pytest.mark.parametrize("code", [-216, -220])
def test_token_codes_ask_for_a_refresh(code: int) -> None:
    error = classify(code)
    assert type(error) is TokenRejected and error.code == code
    assert error.reason == str(error) and "access token" in error.reason


@pytest.mark.parametrize(
    ("code", "words"),
    [(-32, "rate limit"), (-211, "quota"), (-218, "limit of received messages"), (-234, "night")],
)
def test_busy_codes_are_retried_later(code: int, words: str) -> None:
    error = classify(code)
    assert type(error) is ZaloUnavailable and error.code == code and words in error.reason
    assert error.reason == str(error) and error.reason.endswith(("retrying", "resets", "later", "06:00"))
    assert not error.maybe_delivered


def test_only_the_rate_limit_waits_a_minute_unless_zalo_says_how_long() -> None:
    assert classify(-32).retry_after == 60.0
    assert classify(-32, retry_after=5.0).retry_after == 5.0
    assert classify(-211).retry_after is None
    assert classify(-211, retry_after=120.0).retry_after == 120.0


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (-100, "attachment has expired"),
        (-201, "invalid"),
        (-213, "does not follow"),
        (-217, "blocked the OA"),
        (-227, "inactive"),
        (-230, "7-day reply window"),
        (-232, "reply window"),
        (-244, "turned off"),
    ],
)
def test_permanent_codes_fail_for_the_officer_without_alerting_ops(code: int, words: str) -> None:
    error = classify(code)
    assert type(error) is ZaloRefused and error.code == code and not error.alert_ops
    assert words in error.reason and error.reason == str(error)


@pytest.mark.parametrize("code", [-221, -223, -224, -240])
def test_codes_only_an_administrator_can_fix_alert_ops(code: int) -> None:
    error = classify(code)
    assert type(error) is ZaloRefused and error.code == code and error.alert_ops
    assert error.reason.endswith("(ops must act)")


def test_an_unknown_code_is_permanent_and_named() -> None:
    error = classify(-999)
    assert type(error) is ZaloRefused and error.code == -999 and not error.alert_ops
    assert error.reason == "Zalo refused the message (error -999)"
