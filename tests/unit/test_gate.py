"""The gate's rules on both sides of each edge, without AWS: size, probes, JSON, age, schema.

The webhook handler tests (tests/handlers/test_webhook*.py) prove the gate guards the handler and
the spill consumer; here ``admit`` is called with a spilled event's ``verified=True`` (the path that
reads nothing but the OA registry, given a fake one), so each edge is pinned exactly.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import DEDUPE_MEMORY_SECONDS, OaAccount
from tipline.errors import NotFound
from tipline.intake.gate import (
    FUTURE_SKEW_MS,
    STALE_AFTER_MS,
    UNAUTHORISED,
    Rejected,
    admit,
    age_ms,
    is_fresh,
)
from tipline_local.accounts import demo_accounts
from tipline_local.samples import zalo_body

NOW_MS = 1_800_000_000_000
SEED = demo_accounts()[0]
OA = OaAccount(oa_id=SEED.oa_id, app_id=SEED.app_id, unit_id="unit-1")
SETTINGS = Settings.from_env(
    {
        "TABLE_NAME": "t",
        "REPLIES_QUEUE_URL": "q",
        "SPILL_QUEUE_URL": "s",
        "KMS_KEY_ID": "k",
        "PEPPER_SECRET_ID": "p",
        "APP_SECRET_PREFIX": "a/",
        "URGENT_TOPIC_ARN": "u",
        "MAX_BODY_BYTES": "2000",
    }
)


class Registry:
    """The one table read of the verified path: the OA registry."""

    def __init__(self, *accounts: OaAccount) -> None:
        self.accounts = {a.oa_id: a for a in accounts}
        self.reads: list[tuple[str, float]] = []

    def get_oa(self, oa_id: str, cache_seconds: float = 0) -> OaAccount | None:
        self.reads.append((oa_id, cache_seconds))
        return self.accounts.get(oa_id)


def _admit(raw: bytes, signature: str | None = "mac=x", registry: Registry | None = None) -> Any:
    table = cast(Table, registry or Registry(OA))
    return admit(raw, signature, table, SETTINGS, NOW_MS, verified=True)


def _body(ts: int = NOW_MS, **changes: Any) -> bytes:
    body = {**zalo_body("user_send_text", SEED, ts=ts, text="xin chào"), **changes}
    return json.dumps(body).encode()


def test_the_body_limit_is_inclusive() -> None:
    body = _body()
    padded = body[:-1] + b" " * (SETTINGS.max_body_bytes - len(body)) + b"}"
    assert len(padded) == SETTINGS.max_body_bytes
    assert _admit(padded).kind == "event"
    with pytest.raises(Rejected) as refused:
        _admit(padded + b" ")
    assert (refused.value.status, refused.value.reason) == (413, "body larger than 2000 bytes")


def test_probes_are_empty_and_unsigned() -> None:
    assert _admit(b"", signature=None).kind == "probe"
    assert _admit(b"  \n", signature=None).kind == "probe"
    assert _admit(b"{}", signature=None).kind == "probe"
    assert _admit(b"{}", signature="").kind == "probe"
    for signed in (b"", b"{}"):  # a signed empty body is not Zalo's URL check
        with pytest.raises(Rejected) as refused:
            _admit(signed, signature="mac=x")
        assert refused.value.status == 400


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'"text"', "body must be a JSON object"),
        (b"[" * 60_000, "body is nested too deeply"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused_with_their_reason(raw: bytes, reason: str) -> None:
    settings = SETTINGS.model_copy(update={"max_body_bytes": 100_000})
    with pytest.raises(Rejected) as refused:
        admit(raw, "mac=x", cast(Table, Registry(OA)), settings, NOW_MS, verified=True)
    assert (refused.value.status, refused.value.reason, refused.value.fields) == (400, reason, [])
    assert str(refused.value) == reason  # what a traceback shows


@pytest.mark.parametrize(
    "changes",
    [{"app_id": 123}, {"app_id": None}, {"timestamp": None}, {"timestamp": 1.5}, {"recipient": {"id": 7}}],
)
def test_a_body_without_app_id_timestamp_or_oa_id_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(Rejected) as refused:
        _admit(_body(**changes))
    assert refused.value.status == 400
    assert refused.value.reason == "body lacks app_id, timestamp or a well-formed OA id"


def test_a_numeric_timestamp_is_accepted() -> None:
    admitted = _admit(_body(timestamp=NOW_MS))
    assert (admitted.kind, admitted.oa) == ("event", OA)


def test_a_verified_event_of_an_oa_no_longer_registered_is_not_found() -> None:
    registry = Registry()
    with pytest.raises(NotFound, match=r"^the event's OA is no longer registered$"):  # what ops read
        _admit(_body(), registry=registry)
    assert registry.reads == [(OA.oa_id, SETTINGS.registry_cache_seconds)]


def test_ages_are_measured_from_reception_and_only_for_numeric_stamps() -> None:
    assert age_ms("1000", 1500) == 500
    assert age_ms(1000, 900) == -100
    assert age_ms("9" * 16, 10**16) == 1
    assert age_ms("9" * 17, 10**17) is None
    for stamp in ("", "12a", "-5", "1.5", "١٢٣"):  # the last: Arabic-Indic digits
        assert age_ms(stamp, 1000) is None


def test_freshness_edges() -> None:
    assert STALE_AFTER_MS == DEDUPE_MEMORY_SECONDS * 1000 - FUTURE_SKEW_MS
    assert FUTURE_SKEW_MS == 5 * 60 * 1000
    assert is_fresh(0)
    assert is_fresh(-FUTURE_SKEW_MS)
    assert not is_fresh(-FUTURE_SKEW_MS - 1)
    assert is_fresh(STALE_AFTER_MS - 1)
    assert not is_fresh(STALE_AFTER_MS)


def test_stale_and_early_events_are_admitted_as_stale_with_their_age() -> None:
    old = _admit(_body(ts=NOW_MS - STALE_AFTER_MS))
    assert (old.kind, old.oa, old.event, old.event_name, old.age_ms) == (
        "stale",
        OA,
        None,
        "user_send_text",
        STALE_AFTER_MS,
    )
    early = _admit(_body(ts=NOW_MS + FUTURE_SKEW_MS + 1))
    assert (early.kind, early.age_ms) == ("stale", -FUTURE_SKEW_MS - 1)
    assert _admit(_body(ts=NOW_MS - STALE_AFTER_MS + 1)).kind == "event"


def test_unknown_event_names_are_ignored_and_cut_to_64_characters() -> None:
    ignored = _admit(_body(event_name="x" * 100))
    assert (ignored.kind, ignored.oa, ignored.event, ignored.event_name) == ("ignored", OA, None, "x" * 64)
    assert _admit(_body(event_name=None)).event_name == "None"
    unnamed = json.loads(_body())
    del unnamed["event_name"]
    assert (_admit(json.dumps(unnamed).encode()).kind, _admit(json.dumps(unnamed).encode()).event_name) == (
        "ignored",
        "",
    )


def test_a_known_event_that_breaks_the_schema_names_the_fields_not_the_values() -> None:
    body = json.loads(_body())
    body["message"]["text"] = {"canary": "CANARY-7731"}
    with pytest.raises(Rejected) as refused:
        _admit(json.dumps(body).encode())
    assert (refused.value.status, refused.value.reason) == (400, "body does not match the event schema")
    assert refused.value.fields == ["user_send_text.message.text"]
    assert "CANARY" not in repr(refused.value.fields)


def test_an_admitted_event_carries_its_oa_name_and_parsed_event() -> None:
    admitted = _admit(_body())
    assert (admitted.kind, admitted.oa, admitted.event_name, admitted.age_ms) == (
        "event",
        OA,
        "user_send_text",
        0,
    )
    assert admitted.event is not None and admitted.event.event_name == "user_send_text"


def test_a_disabled_oa_is_admitted_as_disabled_before_its_age_or_name_is_judged() -> None:
    disabled = OA.model_copy(update={"disabled": True})
    registry = Registry(disabled)
    for body in (_body(), _body(ts=NOW_MS - STALE_AFTER_MS), _body(event_name="x" * 100)):
        admitted = _admit(body, registry=registry)
        name = json.loads(body)["event_name"][:64]
        assert (admitted.kind, admitted.oa, admitted.event, admitted.event_name, admitted.age_ms) == (
            "disabled",
            disabled,
            None,
            name,
            0,
        )


@pytest.mark.parametrize("registered", [None, OA.model_copy(update={"app_id": "another-app"})])
def test_an_unverified_event_of_an_unknown_oa_or_another_app_is_refused_before_any_secret_is_read(
    registered: OaAccount | None,
) -> None:
    registry = Registry(*([registered] if registered else []))
    with pytest.raises(Rejected) as refused:
        admit(_body(), "mac=x", cast(Table, registry), SETTINGS, NOW_MS)
    assert (refused.value.status, refused.value.reason) == (401, UNAUTHORISED)
    assert registry.reads == [(OA.oa_id, SETTINGS.registry_cache_seconds)]  # through the registry cache
