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
    return Table(get_settings().table_name)


def pepper() -> bytes:
    settings = get_settings()
    return secrets.secret_string(settings.pepper_secret_id, settings.secret_cache_seconds).encode()


def intake() -> Intake:
    return Intake(table=table(), settings=get_settings(), pepper=pepper())


@functools.cache
def token_store() -> TokenStore:
    """The container's OA token store (its in-memory cache saves a KMS call per reply)."""
    from tipline.tokens.store import TokenStore  # httpx: only the functions that call Zalo load it

    return TokenStore(table(), get_settings())
