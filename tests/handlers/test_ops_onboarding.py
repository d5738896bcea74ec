"""First tokens and first users: `tipline-ops connect-oa` against the Zalo simulator's OAuth, and
`add-officer` / `add-commander` against moto's Cognito (a pool shaped like the template's)."""

from __future__ import annotations

import io
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fixtures.sender import Zalo, simulated_zalo
from fixtures.webhook import demo_oa, items_with_prefix
from tipline.wiring import token_store
from tipline_local.provision import Provisioned
from tipline_ops.cli import main

OA = demo_oa()
REDIRECT = "https://tipline.example.vn/zalo/callback"


@pytest.fixture
def zalo_sim(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    yield from simulated_zalo(monkeypatch)


class Admin(io.StringIO):
    """stdin for connect-oa: the OA admin opens the printed link, allows the app, and the operator
    pastes what the browser ends on (the redirect URL, or just its code)."""

    def __init__(self, zalo: Zalo, capsys: pytest.CaptureFixture[str], whole_url: bool = True) -> None:
        super().__init__()
        self.zalo, self.capsys, self.whole_url = zalo, capsys, whole_url
        self.printed = ""
        self.link: dict[str, str] = {}

    def readline(self, *_: Any) -> str:
        self.printed = self.capsys.readouterr().out
        (link,) = re.findall(r"https?://\S+/v4/oa/permission\?\S+", self.printed)
        self.link = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(link).query).items()}
        code = self.zalo.sim.authorize(OA.oa_id, code_challenge=self.link["code_challenge"])
        if not self.whole_url:
            return code + "\n"
        query = urllib.parse.urlencode({"code": code, "oa_id": OA.oa_id, "state": self.link["state"]})
        return f"{self.link['redirect_uri']}?{query}\n"


@pytest.mark.parametrize("whole_url", [True, False])
def test_connect_oa_prints_the_pkce_link_takes_the_code_and_stores_the_tokens(
    stack: Provisioned,
    zalo_sim: Zalo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    whole_url: bool,
) -> None:
    admin = Admin(zalo_sim, capsys, whole_url)
    monkeypatch.setattr("sys.stdin", admin)
    code = main(["connect-oa", "--oa", OA.oa_id, "--redirect-uri", REDIRECT])
    out = capsys.readouterr().out
    assert code == 0 and "first tokens stored" in out
    assert admin.link["app_id"] == OA.app_id and admin.link["redirect_uri"] == REDIRECT
    assert len(admin.link["code_challenge"]) == 43  # S256 of the verifier, which is never printed
    token = token_store().access_token(OA.oa_id)
    assert token.access_token == zalo_sim.sim.access_token(OA.oa_id)
    assert token.access_token not in admin.printed + out


def test_connect_oa_refuses_a_redirect_of_another_session_and_stores_nothing(
    stack: Provisioned, zalo_sim: Zalo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{REDIRECT}?code=abc&oa_id={OA.oa_id}&state=forged\n"))
    before = items_with_prefix(stack, "TOKEN#")
    code = main(["connect-oa", "--oa", OA.oa_id, "--redirect-uri", REDIRECT])
    assert code == 2 and "state is not this session's" in capsys.readouterr().err
    assert items_with_prefix(stack, "TOKEN#") == before


@pytest.fixture
def pool(stack: Provisioned) -> str:
    """A user pool as the template defines OfficerUserPool (moto's Cognito; the local stack has none)."""
    cognito = boto3.client("cognito-idp")
    pool_id = cognito.create_user_pool(
        PoolName="tipline-local-officers",
        MfaConfiguration="ON",
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        Schema=[{"Name": "unit_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    for group in ("officer", "commander"):
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
    return str(pool_id)


@pytest.mark.parametrize(("command", "group"), [("add-officer", "officer"), ("add-commander", "commander")])
def test_add_officer_and_commander_create_the_account_with_unit_and_group(
    pool: str, capsys: pytest.CaptureFixture[str], command: str, group: str
) -> None:
    argv = [command, "--email", "Lan.Nguyen@congan.example.vn", "--unit-id", "pc02-hoan-kiem"]
    code = main([*argv, "--user-pool-id", pool])
    assert code == 0 and "MFA is required" in capsys.readouterr().out
    cognito = boto3.client("cognito-idp")
    user = cognito.admin_get_user(UserPoolId=pool, Username="lan.nguyen@congan.example.vn")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["custom:unit_id"] == "pc02-hoan-kiem"
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # their own password at first sign-in
    groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username="lan.nguyen@congan.example.vn")
    assert [g["GroupName"] for g in groups["Groups"]] == [group]
    code = main([*argv, "--user-pool-id", pool])
    assert code == 2 and "already has an account" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--email", "not-an-address", "--unit-id", "pc02"], "--email"),
        (["--email", "a@b.vn", "--unit-id", "bad unit!"], "--unit-id"),
        (["--email", "a@b.vn", "--unit-id", "pc02"], "--user-pool-id"),
    ],
)
def test_add_officer_refuses_bad_input_and_creates_nobody(
    pool: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["add-officer", *argv])
    assert code == 2 and message in capsys.readouterr().err
    assert boto3.client("cognito-idp").list_users(UserPoolId=pool)["Users"] == []
