"""Objects every function builds once per container, on first use."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from tipline.adapters import secrets
from tipline.adapters.table import Table
from tipline.config import get_settings
from tipline.intake.service import Intake

if TYPE_CHECKING:
    from tipline.tokens.store import TokenStore


@functools.cache
def table() -> Table:
    settings = get_settings()
    return Table(
        settings.table_name, audit_name=settings.audit_table_name, audit_days=settings.audit_retention_days
    )


def pepper() -> bytes:
    settings = get_settings()
    return secrets.secret_string(settings.pepper_secret_id, settings.secret_cache_seconds).encode()


def cursor_key() -> bytes:
    """The officer API's cursor-signing key: its own secret, so that function never holds the pepper."""
    settings = get_settings()
    return secrets.secret_string(settings.cursor_secret_id, settings.secret_cache_seconds).encode()


def intake() -> Intake:
    return Intake(table=table(), settings=get_settings(), pepper=pepper())


@functools.cache
def token_store() -> TokenStore:
    """The container's OA token store (its in-memory cache saves a KMS call per reply)."""
    from tipline.tokens.store import TokenStore  # httpx: only the functions that call Zalo load it

    return TokenStore(table(), get_settings())
