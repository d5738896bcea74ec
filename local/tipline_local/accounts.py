"""The OA registry the local stack and the tests start with (TIPLINE_ACCOUNTS or the demo one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tipline_local.template import ROOT

DEMO_REGISTRY = ROOT / "events" / "demo-registry.json"


class AccountSeed(BaseModel):
    """One OA as ops would register it (secrets included: for the local stack and tests only)."""

    model_config = ConfigDict(extra="forbid")

    oa_id: str
    app_id: str
    unit_id: str
    unit_name: str = ""
    parent_unit_id: str | None = None
    oa_secret_key: str
    app_secret: str
    access_token: str = ""
    refresh_token: str = ""


def load_accounts(raw: str | None = None) -> list[AccountSeed]:
    """Accounts from a JSON list (TIPLINE_ACCOUNTS when set), else the bundled demo registry."""
    text = (
        raw
        if raw is not None
        else os.environ.get("TIPLINE_ACCOUNTS") or Path(DEMO_REGISTRY).read_text("utf-8")
    )
    data: Any = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("TIPLINE_ACCOUNTS must be a JSON list of accounts")
    return [AccountSeed.model_validate(item) for item in data]


def demo_accounts() -> list[AccountSeed]:
    return load_accounts(DEMO_REGISTRY.read_text("utf-8"))


def seed_accounts(accounts: list[AccountSeed], app_secret_prefix: str) -> None:
    """Register each OA (registry entry, app secrets, tokens) in the current AWS endpoint."""
    from tipline.adapters import secrets
    from tipline.domain import OaAccount
    from tipline.wiring import table

    for account in accounts:
        table().put_oa(OaAccount.model_validate(account.model_dump()))
        secrets.put_secret_json(
            app_secret_prefix + account.app_id,
            {"oa_secret_key": account.oa_secret_key, "app_secret": account.app_secret},
        )
    store_tokens(accounts)


def store_tokens(accounts: list[AccountSeed]) -> None:
    """Seal each account's access and refresh token into the token store, as registration does.

    The tokens count as just issued (Zalo's 25 h), like the simulator's ``add_oa`` assumes.
    """
    from tipline import wiring
    from tipline.adapters.zalo import TokenPair

    for account in accounts:
        if account.access_token and account.refresh_token:
            pair = TokenPair(account.access_token, account.refresh_token, expires_in=25 * 3600)
            wiring.token_store().save(account.oa_id, pair)
