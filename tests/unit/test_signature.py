"""Zalo's webhook signature computed independently of the code under test.

ZALO-OA.md documents it as sha256(app_id + raw_body + timestamp + oa_secret_key) in lowercase hex,
sent as ``X-ZEvent-Signature: mac=<hex>``. Every other test, the samples and the simulator sign
with ``tipline.intake.signature``; here the formula is written out with hashlib, so a change to the
verifier's formula (order, encoding, prefix) fails these tests instead of moving with them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fixtures.events import EVENTS
from fixtures.zalo_signature import zalo_mac
from tipline.intake.signature import header_value, signature_matches
from tipline_local.accounts import demo_accounts

SAMPLES = sorted(Path(EVENTS, "webhook").glob("*.json"))


def _signer_of(body: bytes) -> tuple[str, str]:
    """The samples are written to the second demo OA (``tipline_local.samples``): its app id and secret."""
    oa = demo_accounts()[1]
    assert str(json.loads(body)["app_id"]) == oa.app_id
    return oa.app_id, oa.oa_secret_key


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_saved_events_carry_the_documented_signature(path: Path) -> None:
    event = json.loads(path.read_text("utf-8"))
    body = event["body"].encode()
    app_id, secret = _signer_of(body)
    timestamp = str(json.loads(body)["timestamp"])
    header = event["headers"]["x-zevent-signature"]
    assert header == zalo_mac(app_id, body, timestamp, secret)
    assert signature_matches(header, app_id, body, timestamp, secret)


def test_the_verifier_accepts_the_documented_signature_in_both_forms() -> None:
    oa = demo_accounts()[0]
    body, timestamp = b'{"event_name":"user_send_text","text":"c\xc3\xb3 tr\xe1\xbb\x99m"}', "1767225600000"
    mac = zalo_mac(oa.app_id, body, timestamp, oa.oa_secret_key)
    assert signature_matches(mac, oa.app_id, body, timestamp, oa.oa_secret_key)
    assert signature_matches(mac.removeprefix("mac="), oa.app_id, body, timestamp, oa.oa_secret_key)


def test_the_verifier_refuses_a_signature_over_anything_else() -> None:
    oa = demo_accounts()[0]
    body, timestamp = b'{"event_name":"follow"}', "1767225600000"
    good = (oa.app_id, body, timestamp, oa.oa_secret_key)
    for app_id, raw, ts, key in (
        (oa.app_id + "0", body, timestamp, oa.oa_secret_key),
        (oa.app_id, body + b" ", timestamp, oa.oa_secret_key),
        (oa.app_id, body, timestamp + "1", oa.oa_secret_key),
        (oa.app_id, body, timestamp, oa.oa_secret_key + "x"),
        (oa.oa_secret_key, body, timestamp, oa.app_id),  # the parts in another order
    ):
        assert not signature_matches(zalo_mac(app_id, raw, ts, key), *good)
    assert not signature_matches(None, *good) and not signature_matches("", *good)
    assert not signature_matches("mac=" + hashlib.sha256(body).hexdigest(), *good)


def test_the_projects_signer_writes_the_documented_header() -> None:
    """The simulator and the samples sign with ``header_value``: it must write what Zalo sends."""
    for oa in demo_accounts():
        body, timestamp = b'{"event_name":"user_send_text"}', "1767225600000"
        assert header_value(oa.app_id, body, timestamp, oa.oa_secret_key) == zalo_mac(
            oa.app_id, body, timestamp, oa.oa_secret_key
        )
