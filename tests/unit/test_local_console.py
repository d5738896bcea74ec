"""The console as the local stack serves it: its files at /, the security headers CloudFront adds in
AWS, /config.json for local sign-in, and the local-only sign-in endpoints (never in the Lambda package)."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from tipline_local import auth
from tipline_local.accounts import demo_accounts
from tipline_local.console import ConsoleSite, identities
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parents[2]
AWS = "http://127.0.0.1:45678"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/app.js"></script>'
    )
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def _client(site: ConsoleSite) -> Client:
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        answer = site.respond(Request(environ)) or Response("API", status=299)
        return answer(environ, start_response)

    return Client(app)


def test_files_come_with_the_cloudfront_headers_and_app_paths_get_the_app(dist: Path) -> None:
    client = _client(ConsoleSite(evidence_origin=AWS, dist=dist))
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/html")
    csp = index.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' {AWS}",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert index.headers["Referrer-Policy"] == "no-referrer"
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    assert index.headers["X-Frame-Options"] == "DENY"
    assert index.headers["Cache-Control"] == "no-cache"
    script = client.get("/assets/app.js")
    assert script.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/tip/abc").data == index.data, "an app path gets the app"
    assert client.get("/missing.js").status_code == 404
    assert b"root:" not in client.get("/../../etc/passwd").data
    assert client.get("/config.json").json == {"auth": "local"}


def test_api_paths_and_other_methods_are_left_to_the_api(dist: Path) -> None:
    client = _client(ConsoleSite(dist=dist))
    for path in ("/v1/tips", "/webhooks/zalo", "/healthz", "/_local/info"):
        assert client.get(path).status_code == 299, path
    assert client.post("/").status_code == 299


def test_without_a_build_it_says_how_to_make_one(tmp_path: Path) -> None:
    answer = _client(ConsoleSite(dist=tmp_path / "none")).get("/")
    assert answer.status_code == 503
    assert b"make console" in answer.data


def test_local_sign_in_lists_demo_identities_and_issues_their_tokens_only(dist: Path) -> None:
    client = _client(ConsoleSite(dist=dist))
    listed = client.get("/_local/console/identities").json["identities"]
    assert listed == identities(demo_accounts())
    assert {(i["unit_id"], i["role"]) for i in listed} == {
        ("pc02-hoan-kiem", "officer"),
        ("pc08-traffic", "officer"),
        ("province", "commander"),
    }
    answer = client.post("/_local/console/token", json={"unit_id": "pc02-hoan-kiem", "role": "officer"})
    claims = auth.verify(answer.json["token"])
    assert (claims["custom:unit_id"], claims["cognito:groups"], claims["sub"]) == (
        "pc02-hoan-kiem",
        ["officer"],
        "officer@pc02-hoan-kiem",
    )
    assert claims["exp"] - claims["iat"] == answer.json["expires_in"] == 3600
    assert answer.headers["Cache-Control"] == "no-store"
    for body in (
        {"unit_id": "pc02-hoan-kiem", "role": "commander"},
        {"unit_id": "elsewhere", "role": "officer"},
    ):
        assert client.post("/_local/console/token", json=body).status_code == 404
    assert client.post("/_local/console/token", data="nonsense").status_code == 400
    assert client.get("/_local/console/token").status_code == 405
    assert jwt.get_unverified_header(answer.json["token"])["alg"] == "RS256"


def test_the_local_sign_in_is_not_in_the_lambda_package() -> None:
    package = ROOT / "functions"
    for source in package.rglob("*.py"):
        text = source.read_text("utf-8")
        assert "_local/console" not in text and "issue_token" not in text, source
    assert json.loads((ROOT / "console" / "package.json").read_text())["private"] is True
