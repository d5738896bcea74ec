"""Citizens are keyed by HMAC-SHA256(pepper, oa_id ‖ user_id); the Zalo id itself is never a key."""

from __future__ import annotations

import base64
import hashlib
import hmac


def pseudonym(pepper: bytes, oa_id: str, user_id: str) -> str:
    mac = hmac.new(pepper, f"{oa_id}\x1f{user_id}".encode(), hashlib.sha256)
    return mac.hexdigest()


def short_pseudonym(full: str) -> str:
    """What officers see: eight base32 characters, enough to tell citizens of one unit apart."""
    return "C-" + base64.b32encode(bytes.fromhex(full)[:5]).decode()


def derived_id(pepper: bytes, purpose: str, *parts: str) -> str:
    """A deterministic, unguessable id (tip ids, reply ids, dedupe keys) from non-secret parts."""
    mac = hmac.new(pepper, "\x1f".join((purpose, *parts)).encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:15]).decode().lower()
