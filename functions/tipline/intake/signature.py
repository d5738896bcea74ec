"""Zalo's webhook signature: sha256(app_id + raw_body + timestamp + oa_secret_key), lowercase hex.

Header ``X-ZEvent-Signature`` as ``mac=<hex>``; a bare hex value is accepted too (which form Zalo
sends is unconfirmed).
"""

from __future__ import annotations

import hashlib
import hmac


def expected_signature(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    digest = hashlib.sha256()
    digest.update(app_id.encode())
    digest.update(raw_body)
    digest.update(timestamp.encode())
    digest.update(oa_secret_key.encode())
    return digest.hexdigest()


def header_value(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    return "mac=" + expected_signature(app_id, raw_body, timestamp, oa_secret_key)


def signature_matches(header: str | None, app_id: str, raw_body: bytes, timestamp: str, key: str) -> bool:
    if not header:
        return False
    presented = header.strip()
    if presented[:4].lower() == "mac=":
        presented = presented[4:]
    expected = expected_signature(app_id, raw_body, timestamp, key)
    return hmac.compare_digest(presented.lower().encode(), expected.encode())
