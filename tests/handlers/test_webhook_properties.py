"""Property tests of the webhook's verifier and parser: arbitrary input never yields a 5xx and never
stores anything unless it is correctly signed.

Arbitrary bytes and shapes rarely make an event a known OA would store, so they cannot tell a verifier
that checks from one that accepts everything; the well-formed events below can: each is refused with
every wrong signature and stored with the right one (computed from Zalo's documented formula)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fixtures.webhook import deliver, demo_oa, drain, encode, now_ms, table_items
from fixtures.zalo_signature import zalo_mac
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tipline.intake.signature import header_value
from tipline_local.accounts import AccountSeed, demo_accounts
from tipline_local.samples import zalo_body

pytestmark = pytest.mark.usefixtures("stack")

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
oa = demo_oa()
zalo_like = st.fixed_dictionaries(
    {
        "app_id": st.sampled_from([oa.app_id, "1", ""]) | st.integers(),
        "event_name": st.sampled_from(["user_send_text", "user_send_image", "follow", "user_withdraw", "x"]),
        "timestamp": st.text(alphabet="0123456789", min_size=0, max_size=14) | st.integers(),
        "sender": st.fixed_dictionaries({"id": st.text(max_size=20)}) | json_values,
        "recipient": st.sampled_from([{"id": oa.oa_id}, {"id": "1"}, {}, None]),
        "message": json_values,
    },
    optional={"oa_id": st.sampled_from([oa.oa_id, "2"]), "follower": json_values, "info": json_values},
)
signatures = st.none() | st.text(max_size=80) | st.just("mac=" + "0" * 64)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=400) | zalo_like.map(lambda d: json.dumps(d).encode()), signature=signatures)
def test_unsigned_input_is_never_a_5xx_and_stores_nothing(
    raw: bytes, signature: str | None, lambda_context: Any, stack: Any
) -> None:
    before = len(table_items(stack))
    response = deliver(lambda_context, raw, signature=signature)
    assert response["statusCode"] < 500
    assert len(table_items(stack)) == before
    assert drain(stack, "RepliesQueue") == []


@PROPERTY_SETTINGS
@given(body=zalo_like)
def test_signed_but_arbitrary_events_are_never_a_5xx(
    body: dict[str, Any], lambda_context: Any, stack: Any
) -> None:
    body = {**body, "app_id": oa.app_id, "timestamp": str(now_ms())}
    raw = json.dumps(body).encode()
    response = deliver(
        lambda_context, raw, signature=header_value(oa.app_id, raw, body["timestamp"], oa.oa_secret_key)
    )
    assert response["statusCode"] in {200, 400, 401}
    if response["statusCode"] != 200:
        assert drain(stack, "IntakeSpillQueue") == []


def _nested(depth: int, opening: bytes, closing: bytes, closed: bool) -> bytes:
    return opening * depth + (b"1" + closing * depth if closed else b"")


hostile_bodies = st.one_of(
    st.builds(
        _nested,
        st.integers(min_value=900, max_value=60_000),
        st.sampled_from([b"[", b'{"a":']),
        st.sampled_from([b"]", b"}"]),
        st.booleans(),
    ).filter(lambda body: len(body) <= 64 * 1024),
    st.builds(  # a Zalo-like body whose OA id cannot be an id
        lambda oa_id, ts: json.dumps(
            {"app_id": oa.app_id, "timestamp": ts, "event_name": "user_send_text", "recipient": {"id": oa_id}}
        ).encode(),
        st.text(min_size=65, max_size=3_000) | st.text(st.characters(categories=["Cs", "Cc"]), min_size=1),
        st.text(alphabet="0123456789", min_size=1, max_size=16),
    ),
)


@PROPERTY_SETTINGS
@given(raw=hostile_bodies, signature=signatures)
def test_hostile_bodies_are_a_4xx_before_any_verification(
    raw: bytes, signature: str | None, lambda_context: Any, stack: Any
) -> None:
    before = len(table_items(stack))
    response = deliver(lambda_context, raw, signature=signature)
    assert 400 <= response["statusCode"] < 500, response["body"]
    assert len(table_items(stack)) == before
    assert drain(stack, "IntakeSpillQueue") == []


STORED_EVENTS = ["user_send_text", "user_send_image", "user_send_link", "anonymous_send_text"]
WRONG_SIGNATURES = [
    "another OA's secret",
    "the secret with a character more",
    "another body",
    "another timestamp",
    "no prefix, one digit off",
    "the body alone",
    "empty",
    "absent",
]


def _wrong_signature(how: str, oa: AccountSeed, raw: bytes, timestamp: str) -> str | None:
    other = next(a for a in demo_accounts() if a.oa_secret_key != oa.oa_secret_key)
    right = zalo_mac(oa.app_id, raw, timestamp, oa.oa_secret_key)
    return {
        "another OA's secret": zalo_mac(oa.app_id, raw, timestamp, other.oa_secret_key),
        "the secret with a character more": zalo_mac(oa.app_id, raw, timestamp, oa.oa_secret_key + "0"),
        "another body": zalo_mac(oa.app_id, raw + b" ", timestamp, oa.oa_secret_key),
        "another timestamp": zalo_mac(oa.app_id, raw, str(int(timestamp) + 1), oa.oa_secret_key),
        "no prefix, one digit off": right[4:-1] + ("0" if right[-1] != "0" else "1"),
        "the body alone": zalo_mac("", raw, "", ""),
        "empty": "",
        "absent": None,
    }[how]


@settings(PROPERTY_SETTINGS, max_examples=20)  # each example stores an event: slower than the rest
@given(
    account=st.sampled_from(range(len(demo_accounts()))),
    event_name=st.sampled_from(STORED_EVENTS),
    user=st.integers(min_value=10**17, max_value=10**18 - 1).map(str),
    text=st.text(min_size=1, max_size=60).filter(str.strip),
    how=st.sampled_from(WRONG_SIGNATURES),
)
def test_well_formed_events_of_known_oas_are_stored_only_when_correctly_signed(
    account: int, event_name: str, user: str, text: str, how: str, lambda_context: Any, stack: Any
) -> None:
    oa = demo_accounts()[account]
    raw = encode(zalo_body(event_name, oa, user_id=user, ts=now_ms(), text=text, msg_id=uuid.uuid4().hex))
    timestamp = json.loads(raw)["timestamp"]
    for queue in ("RepliesQueue", "FetchQueue"):  # what earlier examples' accepted events queued
        drain(stack, queue)
    before = len(table_items(stack))
    refused = deliver(lambda_context, raw, oa=oa, signature=_wrong_signature(how, oa, raw, timestamp))
    assert refused["statusCode"] == 401, (how, refused["body"])
    assert len(table_items(stack)) == before
    for queue in ("RepliesQueue", "FetchQueue", "IntakeSpillQueue"):
        assert drain(stack, queue) == [], queue
    # The same event, signed as Zalo signs it, is one a known OA stores: the refusal was the signature's.
    accepted = deliver(
        lambda_context, raw, oa=oa, signature=zalo_mac(oa.app_id, raw, timestamp, oa.oa_secret_key)
    )
    assert accepted["statusCode"] == 200, accepted["body"]
    assert len(table_items(stack)) > before
