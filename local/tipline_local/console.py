"""The officer console, locally: console/dist at the root of the HTTP front, with the security headers
CloudFront's response-headers policy adds in AWS, /config.json for local sign-in, and the local
sign-in endpoints (demo identities and tokens). None of this is in the Lambda package.

`make dev` builds console/dist when its sources changed (`make console`).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from tipline_local import auth
from tipline_local.accounts import AccountSeed, load_accounts
from tipline_local.template import ROOT

DIST = ROOT / "console" / "dist"
TOKEN_SECONDS = 3600  # a Cognito ID token's default lifetime
API_PREFIXES = ("/v1/", "/webhooks/", "/_local/", "/healthz")


def content_security_policy(evidence_origin: str = "") -> str:
    """CSP of the console: its own origin only; evidence images and media also from the bucket's
    presigned host (S3 in AWS, the emulator locally); no inline script or style, no frames."""
    media = f"'self' {evidence_origin}".strip()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(evidence_origin: str = "") -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(evidence_origin),
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def identities(accounts: list[AccountSeed]) -> list[dict[str, str]]:
    """The demo sign-ins: an officer of each unit, and a commander of the province."""
    units: dict[str, AccountSeed] = {}
    for account in accounts:
        units.setdefault(account.unit_id, account)
    found = [
        {"unit_id": a.unit_id, "unit_name": a.unit_name or a.unit_id, "role": "officer"}
        for a in units.values()
        if a.parent_unit_id is not None
    ]
    found += [
        {"unit_id": a.unit_id, "unit_name": a.unit_name or a.unit_id, "role": "commander"}
        for a in units.values()
        if a.parent_unit_id is None
    ]
    return found


class ConsoleSite:
    def __init__(self, evidence_origin: str = "", dist: Path = DIST) -> None:
        self.dist = dist
        self.headers = security_headers(evidence_origin)

    def respond(self, request: Request) -> Response | None:
        path = request.path
        if path == "/_local/console/identities":
            return self._json({"identities": identities(load_accounts())})
        if path == "/_local/console/token":
            return self._token(request)
        if request.method not in ("GET", "HEAD") or path.startswith(API_PREFIXES):
            return None
        if path == "/config.json":
            return self._json({"auth": "local"})
        return self._static(path)

    def _json(self, payload: Any, status: int = 200) -> Response:
        response = Response(
            json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json"
        )
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return self._json({"message": "POST {unit_id, role}"}, 405)
        try:
            body = json.loads(request.get_data() or b"{}")
            unit_id, role = str(body["unit_id"]), str(body["role"])
        except (ValueError, KeyError, TypeError):
            return self._json({"message": "give unit_id and role"}, 400)
        allowed = {(i["unit_id"], i["role"]) for i in identities(load_accounts())}
        if (unit_id, role) not in allowed:
            return self._json({"message": "no such demo identity"}, 404)
        token = auth.issue_token(unit_id, role, subject=f"{role}@{unit_id}", expires_in=TOKEN_SECONDS)
        return self._json({"token": token, "expires_in": TOKEN_SECONDS})

    def _static(self, path: str) -> Response:
        index = self.dist / "index.html"
        if not index.exists():
            html = (
                "<!doctype html><meta charset=utf-8><title>Zalo Tipline</title>"
                "<h1>The console is not built</h1>"
                "<p>Run <code>make console</code> (or <code>make dev</code>).</p>"
            )
            return self._file(html.encode(), "text/html; charset=utf-8", 503, cache="no-store")
        relative = path.lstrip("/")
        target = (self.dist / relative).resolve() if relative else index
        if not target.is_relative_to(self.dist.resolve()) or not target.is_file():
            # A path of the app itself (no file): the app, which reads its route from the URL.
            if "." in Path(relative).name:
                return self._file(b"Not Found", "text/plain; charset=utf-8", 404, cache="no-store")
            target = index
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "image/svg+xml"):
            content_type += "; charset=utf-8"
        immutable = target.parent.name == "assets"
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return self._file(target.read_bytes(), content_type, 200, cache=cache)

    def _file(self, body: bytes, content_type: str, status: int, cache: str) -> Response:
        response = Response(body, status=status, content_type=content_type)
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = cache
        return response
