"""The OA registry the local stack and the tests start with (TIPLINE_ACCOUNTS or the demo one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from tipline_local.template import ROOT

DEMO_REGISTRY = ROOT / "events" / "demo-registry.json"
ACCOUNTS_VARIABLE = "TIPLINE_ACCOUNTS"
EXPECTED = (
    "a JSON list of accounts ([{oa_id, app_id, unit_id, oa_secret_key, app_secret, unit_name?, "
    "parent_unit_id?, access_token?, refresh_token?}, ...]) or the path of a file holding one"
)


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


class AccountsError(ValueError):
    """Accounts that cannot be loaded; the message names where they came from and what is expected.

    It never quotes an account's values (they hold secrets), only positions and field names.
    """


def load_accounts(value: str | None = None, source: str = ACCOUNTS_VARIABLE) -> list[AccountSeed]:
    """The accounts ``value`` gives (default: ``$TIPLINE_ACCOUNTS``; unset or blank: the demo registry).

    A value starting with ``[`` or ``{`` is JSON text; anything else is the path of a JSON file
    (relative to the current directory). Raises AccountsError naming ``source``.
    """
    if value is None:
        value = os.environ.get(ACCOUNTS_VARIABLE, "")
    if not value.strip():
        return demo_accounts()
    if value.lstrip().startswith(("[", "{")):
        return parse_accounts(value, source, "the JSON text")
    path = Path(value).expanduser()
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        raise _problem(source, f"there is no file {value}{where}") from None
    except IsADirectoryError:
        raise _problem(source, f"{value} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _problem(source, f"cannot read {value} ({exc.__class__.__name__})") from None
    return parse_accounts(text, source, f"the file {value}")


def parse_accounts(text: str, source: str, what: str) -> list[AccountSeed]:
    """Accounts from JSON text; AccountsError naming ``source`` and ``what`` held the text."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _problem(source, f"{what} is not valid JSON ({exc.msg} at {where})") from None
    if not isinstance(data, list):
        raise _problem(source, f"{what} holds {_json_kind(data)}, not a list")
    if not data:
        raise _problem(source, f"{what} holds an empty list")
    accounts: list[AccountSeed] = []
    faults: list[str] = []
    for number, item in enumerate(data, start=1):
        try:
            account = AccountSeed.model_validate(item)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            faults.append(f"account {number}: " + "; ".join(_field_fault(error) for error in errors))
            continue
        if any(seen.oa_id == account.oa_id for seen in accounts):
            faults.append(f"account {number}: oa_id {account.oa_id} is listed twice")
        accounts.append(account)
    if faults:
        raise _problem(source, f"in {what}, " + "; ".join(faults))
    return accounts


_FAULTS = {
    "missing": "missing",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "model_type": "not an object",
}


def _field_fault(error: ErrorDetails) -> str:
    """One field's fault, from pydantic's error without its input (which may be a secret)."""
    field = ".".join(str(part) for part in error["loc"]) or "the account"
    return f"{field}: {_FAULTS.get(error['type'], error['msg'].lower())}"


def _json_kind(data: Any) -> str:
    kinds = {dict: "an object", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if data is None else kinds.get(type(data), "a value")


def _problem(source: str, problem: str) -> AccountsError:
    return AccountsError(f"{source}: {problem}. {source} takes {EXPECTED}.")


def demo_accounts() -> list[AccountSeed]:
    return parse_accounts(DEMO_REGISTRY.read_text("utf-8"), str(DEMO_REGISTRY), "the demo registry")


def seed_accounts(accounts: list[AccountSeed], app_secret_prefix: str) -> None:
    """Register each OA (registry entry, app secrets, tokens) in the current AWS endpoint."""
    from tipline.adapters import secrets
    from tipline.config import get_settings
    from tipline.domain import OaAccount
    from tipline.wiring import table

    for account in accounts:
        table().put_oa(OaAccount.model_validate(account.model_dump()))
        secrets.put_secret_json(
            app_secret_prefix + account.app_id,
            {"oa_secret_key": account.oa_secret_key, "app_secret": account.app_secret},
            get_settings().kms_key_id,
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
