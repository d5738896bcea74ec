"""Objects every function builds once per container, on first use."""

from __future__ import annotations

import functools

from tipline.adapters import secrets
from tipline.adapters.table import Table
from tipline.config import get_settings
from tipline.intake.service import Intake


@functools.cache
def table() -> Table:
    return Table(get_settings().table_name)


def pepper() -> bytes:
    settings = get_settings()
    return secrets.secret_string(settings.pepper_secret_id, settings.secret_cache_seconds).encode()


def intake() -> Intake:
    return Intake(table=table(), settings=get_settings(), pepper=pepper())
