"""TIPLINE_ACCOUNTS: JSON text or the path of a JSON file; anything else stops `make dev` with a reason.

Through the command `make dev` runs (`tipline-local serve`): in-process for each bad value (it stops
before anything starts), as a subprocess for a newcomer's first try, and end to end for good values.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.local_stack import StackProcess
from fixtures.local_stack import stack_command as _command
from tipline_local import auth, cli

CANARY = "CANARY-oa-secret-7f3a"  # an account's secret: never echoed in an error
ACCOUNT: dict[str, Any] = {
    "oa_id": "918273645501928374",
    "app_id": "818273645501928374",
    "unit_id": "pc99-accounts-test",
    "unit_name": "Công an thử nghiệm",
    "oa_secret_key": CANARY,
    "app_secret": "test-app-secret",
    "access_token": "test-access-token",
    "refresh_token": "test-refresh-token",
}
WITHOUT_UNIT = {name: value for name, value in ACCOUNT.items() if name != "unit_id"}
EXPECTS = "TIPLINE_ACCOUNTS takes a JSON list of accounts"

# name: (TIPLINE_ACCOUNTS, files to create {name: content}, what the error must say)
BAD_VALUES: dict[str, tuple[str, dict[str, str], str]] = {
    "a file that is not there": ("accounts.json", {}, "there is no file accounts.json (looked in "),
    "a directory": ("config", {"config/accounts.json": "[]"}, "config is a directory, not a file"),
    "a file that is not JSON": (
        "accounts.json",
        {"accounts.json": "oa_id=1\n"},
        "the file accounts.json is not valid JSON (Expecting value at line 1 column 1)",
    ),
    "JSON text cut short": ('[{"oa_id": "1"', {}, "the JSON text is not valid JSON ("),
    "one account instead of a list": (json.dumps(ACCOUNT), {}, "the JSON text holds an object, not a list"),
    "an empty list": ("[]", {}, "the JSON text holds an empty list"),
    "a list of numbers": ("[1, 2]", {}, "account 1: the account: not an object; account 2:"),
    "accounts with wrong fields": (
        "accounts.json",
        {
            "accounts.json": json.dumps(
                [
                    {**ACCOUNT, "app_secret": 5, "note": CANARY},
                    {k: v for k, v in ACCOUNT.items() if k != "unit_id"},
                ]
            )
        },
        "in the file accounts.json, account 1: app_secret: must be a string; note: unknown field; "
        "account 2: unit_id: missing",
    ),
    "the same OA twice": (
        json.dumps([ACCOUNT, ACCOUNT]),
        {},
        f"account 2: oa_id {ACCOUNT['oa_id']} is listed twice",
    ),
}


def _files(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content, "utf-8")


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_bad_value_stops_serve_with_a_reason_naming_the_variable(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    value, files, says = BAD_VALUES[case]
    _files(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIPLINE_ACCOUNTS", value)
    monkeypatch.setenv("TIPLINE_PORT", "0")

    assert cli.main(["serve"]) == 2
    out, err = capsys.readouterr()
    assert out == "", "nothing was started"
    assert err.startswith("tipline-local: TIPLINE_ACCOUNTS: "), err
    assert says in err, err
    assert EXPECTS in err, err
    assert CANARY not in err
    assert "Traceback" not in err


def test_a_newcomers_first_try_exits_non_zero_and_says_what_the_variable_takes(tmp_path: Path) -> None:
    """`TIPLINE_ACCOUNTS=accounts.json make dev` in a directory without that file (issue 14.11)."""
    done = subprocess.run(
        _command(),
        check=False,
        cwd=tmp_path,
        env={**_environment(), "TIPLINE_ACCOUNTS": "accounts.json", "TIPLINE_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert "Expecting value" not in done.stderr
    assert done.stderr.strip() == (
        f"tipline-local: TIPLINE_ACCOUNTS: there is no file accounts.json (looked in {tmp_path.resolve()}). "
        f"{EXPECTS} ([{{oa_id, app_id, unit_id, oa_secret_key, app_secret, unit_name?, parent_unit_id?, "
        "access_token?, refresh_token?}, ...]) or the path of a file holding one."
    )


def _environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "TIPLINE_ACCOUNTS"}


@pytest.mark.e2e
@pytest.mark.parametrize("form", ["a relative path", "JSON text"])
def test_serve_takes_the_accounts_from_a_file_path_or_json_text(form: str, tmp_path: Path) -> None:
    _files(tmp_path, {"accounts.json": json.dumps([ACCOUNT], ensure_ascii=False)})
    value = "accounts.json" if form == "a relative path" else json.dumps([ACCOUNT])
    stack = StackProcess(env={"TIPLINE_ACCOUNTS": value}, cwd=tmp_path)
    try:
        answer = httpx.post(
            f"{stack.info['zalo']}/_sim/citizen",
            json={
                "oa_id": ACCOUNT["oa_id"],
                "user_id": "5550001",
                "text": "có người lạ theo dõi nhà tôi",
                "webhook_url": stack.info["webhook"],
            },
            timeout=30,
        ).json()
        assert answer["status"] == 200, answer  # signed with this account's OA secret, and accepted
        token = auth.issue_token(ACCOUNT["unit_id"], "officer")
        tips = httpx.get(
            f"{stack.url}/v1/tips", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()
        assert [tip["unit_id"] for tip in tips["items"]] == [ACCOUNT["unit_id"]], tips
    finally:
        output = stack.stop()
    assert CANARY not in output
