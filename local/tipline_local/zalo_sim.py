"""A Zalo OA API simulator: the project's stand-in for openapi.zalo.me and oauth.zaloapp.com.

A WSGI application holding all state in memory behind one lock. It enforces the platform rules
of shared/zalo/ZALO-OA.md, so a test (or the local stack) that talks to it proves the client
obeys them:

- consultation messages (``message/cs``) only within 7 days of the citizen's last interaction
  (-230); the first 8 within 48 h of that interaction are free, later ones billed (``free``);
- promotion messages only to followers (-213), once per follower per Vietnam day (-218), only
  06:00-21:59 Vietnam time (-234), at most the OA's daily quota (500, or 5 % of followers above
  10,000; -211), the day starting at 00:00 Asia/Ho_Chi_Minh (UTC+7, no DST);
- access tokens last 25 h (-220 expired, -216 unknown or revoked); refresh tokens are single use,
  and spending one twice revokes every token of the OA (locked out until re-authorised);
- a per-app, per-minute rate limit (-32, headers ``X-RateLimit-Limit``/``X-RateLimit-Remain``);
- ``user/getlist`` with ``count`` <= 50 and ``offset`` <= 9951 (-201 otherwise);
- injected faults (latency, timeouts, HTTP 5xx, any error code) for the next N calls.

Every time rule reads the injectable ``clock``, so tests move time instead of sleeping.

Run standalone: ``python -m tipline_local.zalo_sim --port 8901 [--accounts accounts.json]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
VN_OFFSET = 7 * 3600
DAY = 86400
ACCESS_TOKEN_TTL = 25 * 3600
REFRESH_TOKEN_TTL = 90 * DAY
AUTH_CODE_TTL = 10 * 60
WINDOW = 7 * DAY
FREE_WINDOW = 48 * 3600
FREE_MESSAGES = 8
PROMOTION_FIRST_HOUR = 6
PROMOTION_END_HOUR = 22
PROMOTION_QUOTA = 500
PROMOTION_QUOTA_FOLLOWER_THRESHOLD = 10_000
TEXT_LIMIT = 2000
GETLIST_MAX_COUNT = 50
GETLIST_MAX_OFFSET = 9951
DEFAULT_RATE_LIMIT = 4000
DEFAULT_TIMEOUT_SECONDS = 30.0

OK = 0
RATE_LIMITED = -32
INVALID_PARAM = -201
OUT_OF_QUOTA = -211
NOT_FOLLOWER = -213
TOKEN_INVALID = -216
RECEIVE_QUOTA = -218
TOKEN_EXPIRED = -220
OUTSIDE_WINDOW = -230
NIGHT_BAN = -234
OAUTH_INVALID_APP = -14002
OAUTH_INVALID_SECRET = -14003
OAUTH_INVALID_GRANT = -14014
OAUTH_INVALID_CODE = -14019

MESSAGES = {
    OK: "Success",
    RATE_LIMITED: "Request rate exceeded the limit",
    -100: "Attachment id has expired",
    INVALID_PARAM: "Parameters are invalid",
    OUT_OF_QUOTA: "Out of quota",
    NOT_FOLLOWER: "User has not followed the OA",
    TOKEN_INVALID: "Access token is invalid",
    -217: "User has blocked invitations from the OA",
    RECEIVE_QUOTA: "User has reached the limit of received messages",
    TOKEN_EXPIRED: "Access token has expired",
    -221: "OA is not verified",
    -223: "OA has not been granted permission to use this API",
    -224: "OA package does not include this feature",
    -227: "User is inactive",
    OUTSIDE_WINDOW: "User has not interacted with the OA in the last 7 days",
    -232: "User has not interacted with the OA recently",
    NIGHT_BAN: "This message type cannot be sent at night (22:00-06:00)",
    -240: "Message API v2 has been shut down",
    -244: "User has restricted this message type",
}

# Events that count as an interaction for the reply window (opening the chat or reacting does not).
_INTERACTION_PREFIXES = ("user_send_",)
_INTERACTION_EVENTS = frozenset({"follow", "user_submit_info"})
_STOP_KEY = "tipline.zalo_sim.stop"


def vietnam_day(at: float) -> int:
    """The Vietnam calendar day (days since 1970-01-01 in UTC+7) holding epoch second ``at``."""
    return int((at + VN_OFFSET) // DAY)


def vietnam_hour(at: float) -> int:
    return int(((at + VN_OFFSET) % DAY) // 3600)


def next_vietnam_midnight(at: float) -> float:
    return float((vietnam_day(at) + 1) * DAY - VN_OFFSET)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone(VIETNAM).isoformat()


class _Refused(Exception):
    """A request the platform refuses with a Zalo error code (HTTP 200, like Zalo)."""

    def __init__(self, code: int, detail: str = "", rule: str | None = None) -> None:
        super().__init__(detail or MESSAGES.get(code, "error"))
        self.code = code
        self.detail = detail or MESSAGES.get(code, "error")
        self.rule = rule


class _BadControl(Exception):
    """A malformed control request (400)."""


@dataclass
class _Oa:
    oa_id: str
    app_id: str
    app_secret: str
    oa_secret_key: str
    locked: bool = False
    followers: int = 0
    promotions: dict[int, int] = field(default_factory=dict)  # Vietnam day -> promotions sent


@dataclass
class _Token:
    oa_id: str
    app_id: str
    kind: str  # "access" or "refresh"
    expires_at: float
    revoked: bool = False
    spent_at: float | None = None


@dataclass
class _Contact:
    order: int
    last_interaction: float | None = None
    free_used: int = 0
    following: bool = False
    promotion_day: int | None = None


@dataclass
class _Fault:
    error: int | None
    status: int | None
    latency: float
    timeout: bool
    remaining: int
    path_prefix: str | None
    effective: bool

    def matches(self, path: str) -> bool:
        return path.startswith(self.path_prefix) if self.path_prefix else True


@dataclass
class _Code:
    oa_id: str
    app_id: str
    challenge: str | None
    expires_at: float
    used: bool = False


def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=utf-8",
    )


def _envelope(code: int, data: Any = None, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message or MESSAGES.get(code, "error")}
    if data is not None:
        body["data"] = data
    return body


class ZaloSimulator:
    """The Zalo OA API with its rules, as a thread-safe WSGI application (see the module doc)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.clock = clock
        self.rate_limit = rate_limit
        self.timeout_seconds = timeout_seconds
        self._lock = threading.RLock()
        self._never = threading.Event()
        self._clear()

    # ---------------------------------------------------------------- state

    def _clear(self) -> None:
        self._oas: dict[str, _Oa] = {}
        self._oa_seeds: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, _Token] = {}
        self._codes: dict[str, _Code] = {}
        self._contacts: dict[tuple[str, str], _Contact] = {}
        self._order = itertools.count()
        self._faults: list[_Fault] = []
        self._latency = 0.0
        self._rates: dict[tuple[str, int], int] = {}
        self._media: dict[str, tuple[bytes, str]] = {}
        self._sent: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._violations: list[dict[str, Any]] = []
        self._refusals: Counter[int] = Counter()

    def reset(self, keep_oas: bool = False) -> None:
        """Forget everything (``keep_oas``: then re-register the OAs with their original tokens)."""
        with self._lock:
            seeds = list(self._oa_seeds.values()) if keep_oas else []
            self._clear()
            for seed in seeds:
                self.add_oa(**seed)

    @property
    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._sent]

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._calls]

    @property
    def violations(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._violations]

    @property
    def refusals(self) -> Counter[int]:
        with self._lock:
            return Counter(self._refusals)

    # ---------------------------------------------------------- control API

    def add_oa(
        self,
        oa_id: str,
        app_id: str,
        app_secret: str,
        access_token: str,
        refresh_token: str,
        oa_secret_key: str = "",
        access_expires_at: float | None = None,
    ) -> None:
        """Register an OA that authorised the app (again: clears a lock-out) with its token pair."""
        with self._lock:
            now = self.clock()
            old = self._oas.get(oa_id)
            if old is not None:
                self._revoke(oa_id)
            oa = _Oa(oa_id, app_id, app_secret, oa_secret_key)
            if old is not None:
                oa.promotions, oa.followers = old.promotions, old.followers
            self._oas[oa_id] = oa
            self._oa_seeds[oa_id] = {
                "oa_id": oa_id,
                "app_id": app_id,
                "app_secret": app_secret,
                "access_token": access_token,
                "refresh_token": refresh_token,
                "oa_secret_key": oa_secret_key,
                "access_expires_at": access_expires_at,
            }
            expires = access_expires_at if access_expires_at is not None else now + ACCESS_TOKEN_TTL
            if access_token:
                self._tokens[access_token] = _Token(oa_id, app_id, "access", expires)
            if refresh_token:
                self._tokens[refresh_token] = _Token(oa_id, app_id, "refresh", now + REFRESH_TOKEN_TTL)

    def authorize(self, oa_id: str, code_challenge: str | None = None) -> str:
        """An OA admin grants the app access: an authorization code for ``grant_type=authorization_code``.

        ``code_challenge`` is the PKCE S256 challenge (base64url of the verifier's SHA-256, no padding).
        """
        with self._lock:
            oa = self._oa(oa_id)
            code = "sim-code-" + secrets.token_urlsafe(18)
            self._codes[code] = _Code(oa_id, oa.app_id, code_challenge, self.clock() + AUTH_CODE_TTL)
            return code

    def interact(self, oa_id: str, user_id: str, at: float | None = None) -> None:
        """The citizen messaged or followed the OA: opens the 7-day window and a new free 48 h batch."""
        with self._lock:
            self._oa(oa_id)
            when = self.clock() if at is None else at
            contact = self._contact(oa_id, user_id)
            if contact.last_interaction is None or when >= contact.last_interaction:
                contact.last_interaction = when
                contact.free_used = 0

    def follow(self, oa_id: str, user_id: str, following: bool = True) -> None:
        """The citizen follows (an interaction, too) or unfollows the OA."""
        with self._lock:
            oa = self._oa(oa_id)
            contact = self._contact(oa_id, user_id)
            oa.followers += int(following) - int(contact.following)
            contact.following = following
            if following:
                self.interact(oa_id, user_id)

    def inject(
        self,
        error: int | None = None,
        status: int | None = None,
        latency: float = 0.0,
        timeout: bool = False,
        count: int = 1,
        path_prefix: str | None = None,
        effective: bool = False,
    ) -> None:
        """A fault for the next ``count`` calls whose path starts with ``path_prefix`` (any non-control call).

        ``error``: answer that Zalo error code (HTTP ``status`` or 200); ``status`` alone: an HTML
        error page with that HTTP status; ``latency``: extra seconds before answering; ``timeout``:
        no answer (served: the connection stays silent for ``timeout_seconds`` then gets a 504;
        in-process: ``httpx.ReadTimeout`` is raised). ``effective``: the call takes effect (the
        message is sent) before the fault hides the answer, like a response lost on the way back.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if latency < 0:
            raise ValueError("latency must not be negative")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        with self._lock:
            self._faults.append(_Fault(error, status, latency, timeout, count, path_prefix, effective))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Extra latency before every (non-control) call is answered."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            self._latency = seconds

    def set_rate_limit(self, per_minute: int) -> None:
        with self._lock:
            self.rate_limit = per_minute

    def add_media(self, name: str, content: bytes, content_type: str) -> None:
        """Serve ``content`` at ``GET /media/<name>`` (Zalo's CDN for attachments)."""
        with self._lock:
            self._media[name] = (content, content_type)

    def access_token(self, oa_id: str) -> str | None:
        """The newest live access token of the OA (what the app should be holding)."""
        with self._lock:
            now = self.clock()
            live = [
                (token.expires_at, value)
                for value, token in self._tokens.items()
                if token.oa_id == oa_id and token.kind == "access" and not token.revoked
                if token.expires_at > now
            ]
            return max(live)[1] if live else None

    def is_locked(self, oa_id: str) -> bool:
        with self._lock:
            return self._oa(oa_id).locked

    def promotion_quota(self, oa_id: str) -> int:
        """The OA's promotion quota per Vietnam day: 500, or 5 % of followers above 10,000."""
        with self._lock:
            followers = self._oa(oa_id).followers
            if followers <= PROMOTION_QUOTA_FOLLOWER_THRESHOLD:
                return PROMOTION_QUOTA
            return followers * 5 // 100

    def citizen(
        self,
        oa_id: str,
        user_id: str,
        text: str,
        webhook_url: str,
        event_name: str = "user_send_text",
        attachments: list[dict[str, Any]] | None = None,
        timeout: float = 10.0,
    ) -> int:
        """A citizen acts: a signed Zalo webhook body is POSTed to ``webhook_url``; its status returned."""
        status, _ = self._citizen(oa_id, user_id, text, webhook_url, event_name, attachments, timeout)
        return status

    def _citizen(
        self,
        oa_id: str,
        user_id: str,
        text: str,
        webhook_url: str,
        event_name: str,
        attachments: list[dict[str, Any]] | None,
        timeout: float,
    ) -> tuple[int, str]:
        from tipline.intake.signature import header_value

        from tipline_local.accounts import AccountSeed
        from tipline_local.samples import zalo_body

        host = urlsplit(webhook_url).hostname
        if urlsplit(webhook_url).scheme not in ("http", "https") or host not in ("127.0.0.1", "localhost"):
            raise ValueError("webhook_url must be an http URL on the loopback interface")
        with self._lock:
            oa = self._oa(oa_id)
            now = self.clock()
            msg_id = uuid.uuid4().hex
            seed = AccountSeed(
                oa_id=oa.oa_id,
                app_id=oa.app_id,
                unit_id="sim",
                oa_secret_key=oa.oa_secret_key,
                app_secret=oa.app_secret,
            )
            body = zalo_body(event_name, seed, user_id=user_id, ts=int(now * 1000), text=text, msg_id=msg_id)
            if attachments is not None and isinstance(body.get("message"), dict):
                body["message"]["attachments"] = attachments
            if event_name == "follow":
                self.follow(oa_id, user_id, True)
            elif event_name == "unfollow":
                self.follow(oa_id, user_id, False)
            elif event_name.startswith(_INTERACTION_PREFIXES) or event_name in _INTERACTION_EVENTS:
                self.interact(oa_id, user_id, now)
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            signature = header_value(oa.app_id, raw, body["timestamp"], oa.oa_secret_key)
        # Never hold the lock across the webhook: it may call back into the simulator.
        response = httpx.post(
            webhook_url,
            content=raw,
            headers={"content-type": "application/json", "x-zevent-signature": signature},
            timeout=timeout,
        )
        return response.status_code, msg_id

    # ------------------------------------------------------------- helpers

    def _oa(self, oa_id: str) -> _Oa:
        oa = self._oas.get(oa_id)
        if oa is None:
            raise KeyError(f"unknown OA {oa_id}: add_oa first")
        return oa

    def _contact(self, oa_id: str, user_id: str) -> _Contact:
        key = (oa_id, user_id)
        contact = self._contacts.get(key)
        if contact is None:
            contact = self._contacts[key] = _Contact(order=next(self._order))
        return contact

    def _revoke(self, oa_id: str) -> None:
        for token in self._tokens.values():
            if token.oa_id == oa_id:
                token.revoked = True

    def _violation(self, rule: str, detail: str, **extra: Any) -> None:
        self._violations.append({"rule": rule, "detail": detail, "at": self.clock(), **extra})

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
        return None

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sim/"):
            return self._control(request)(environ, start_response)
        stop: threading.Event = environ.get(_STOP_KEY) or self._never
        fault = self._take_fault(request.path)
        with self._lock:
            delay = self._latency + (fault.latency if fault else 0.0)
        if delay > 0:
            stop.wait(delay)
        response = self._answer(request, fault)
        if fault is not None and fault.timeout:
            self._record(request, None, "timeout", 0)
            if _STOP_KEY not in environ:
                raise httpx.ReadTimeout("simulated Zalo timeout")
            stop.wait(self.timeout_seconds)
            page = "<html><body>504 Gateway Time-out</body></html>"
            response = Response(page, 504, content_type="text/html")
        return response(environ, start_response)

    def _answer(self, request: Request, fault: _Fault | None) -> Response:
        disrupts = fault is not None and (
            fault.timeout or fault.error is not None or fault.status is not None
        )
        oa_id: str | None = None
        if fault is None or not disrupts or fault.effective:
            response, oa_id, code = self._dispatch(request)
            if fault is None or not disrupts:
                self._record(request, oa_id, code, response.status_code)
                return response
        if fault.timeout:
            return Response(status=504)  # recorded by the caller, which withholds it
        if fault.error is not None:
            self._record(request, oa_id, fault.error, fault.status or 200, fault=True)
            return _json_response(_envelope(fault.error), status=fault.status or 200)
        status = fault.status or 500
        self._record(request, oa_id, None, status, fault=True)
        page = f"<html><body>{status} simulated upstream error</body></html>"
        return Response(page, status=status, content_type="text/html")

    def _record(
        self, request: Request, oa_id: str | None, error: int | str | None, status: int, fault: bool = False
    ) -> None:
        with self._lock:
            self._calls.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "oa_id": oa_id,
                    "error": error,
                    "status": status,
                    "fault": fault,
                    "at": self.clock(),
                }
            )

    def _dispatch(self, request: Request) -> tuple[Response, str | None, int | None]:
        path, method = request.path, request.method
        if path.startswith("/media/"):
            return self._serve_media(request), None, None
        routes: dict[str, tuple[str, Callable[[Request, _Oa], dict[str, Any]]]] = {
            "/v3.0/oa/message/cs": ("POST", self._send_cs),
            "/v3.0/oa/message/promotion": ("POST", self._send_promotion),
            "/v3.0/oa/user/getlist": ("GET", self._getlist),
            "/v3.0/oa/quota/message": ("POST", self._quota),
        }
        if path == "/v4/oa/access_token":
            if method != "POST":
                return _json_response({"error": 405, "message": "POST only"}, 405), None, None
            with self._lock:
                return self._token_endpoint(request)
        if path not in routes:
            return _json_response({"error": 404, "message": f"no such endpoint {path}"}, 404), None, None
        allowed, handler = routes[path]
        if method != allowed:
            return _json_response({"error": 405, "message": f"{allowed} only"}, 405), None, None
        with self._lock:
            headers: dict[str, str] = {}
            oa_id: str | None = None
            try:
                oa = self._authenticate(request)
                oa_id = oa.oa_id
                headers, over = self._count_rate(oa)
                if over:
                    detail = f"more than {self.rate_limit} calls this minute"
                    raise _Refused(RATE_LIMITED, detail, "rate_limit")
                data = handler(request, oa)
            except _Refused as refused:
                self._refusals[refused.code] += 1
                if refused.rule:
                    self._violation(refused.rule, refused.detail, oa_id=oa_id, path=path, code=refused.code)
                return (
                    _json_response(_envelope(refused.code, message=refused.detail), 200, headers),
                    oa_id,
                    (refused.code),
                )
            return _json_response(_envelope(OK, data), 200, headers), oa_id, OK

    # ---------------------------------------------------------- Zalo rules

    def _authenticate(self, request: Request) -> _Oa:
        value = request.headers.get("access_token", "")
        token = self._tokens.get(value) if value else None
        if token is None or token.kind != "access" or token.revoked:
            raise _Refused(TOKEN_INVALID)
        if self.clock() >= token.expires_at:
            raise _Refused(TOKEN_EXPIRED)
        return self._oas[token.oa_id]

    def _count_rate(self, oa: _Oa) -> tuple[dict[str, str], bool]:
        key = (oa.app_id, int(self.clock() // 60))
        used = self._rates.get(key, 0) + 1
        self._rates = {k: v for k, v in self._rates.items() if k[1] >= key[1] - 1}
        self._rates[key] = used
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remain": str(max(self.rate_limit - used, 0)),
        }
        return headers, used > self.rate_limit

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError as exc:
            raise _Refused(INVALID_PARAM, "body is not JSON", "invalid_request") from exc
        if not isinstance(body, dict):
            raise _Refused(INVALID_PARAM, "body must be a JSON object", "invalid_request")
        return body

    @staticmethod
    def _recipient(body: dict[str, Any]) -> str:
        recipient = body.get("recipient")
        user_id = recipient.get("user_id") if isinstance(recipient, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise _Refused(INVALID_PARAM, "recipient.user_id is required", "invalid_request")
        return user_id

    def _send_cs(self, request: Request, oa: _Oa) -> dict[str, Any]:
        body = self._json_body(request)
        user_id = self._recipient(body)
        message = body.get("message")
        if not isinstance(message, dict):
            raise _Refused(INVALID_PARAM, "message is required", "invalid_request")
        text = message.get("text")
        if text is None and not isinstance(message.get("attachment"), dict):
            raise _Refused(INVALID_PARAM, "message.text or message.attachment is required", "invalid_request")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise _Refused(INVALID_PARAM, "message.text must be a non-empty string", "invalid_request")
        if isinstance(text, str) and len(text) > TEXT_LIMIT:
            detail = f"message.text longer than {TEXT_LIMIT} characters"
            raise _Refused(INVALID_PARAM, detail, "text_too_long")
        now = self.clock()
        contact = self._contacts.get((oa.oa_id, user_id))
        last = contact.last_interaction if contact else None
        if contact is None or last is None or now - last > WINDOW:
            raise _Refused(OUTSIDE_WINDOW, rule="interaction_window")
        free = now - last <= FREE_WINDOW and contact.free_used < FREE_MESSAGES
        if free:
            contact.free_used += 1
        message_id = uuid.uuid4().hex
        self._sent.append(
            {
                "path": request.path,
                "oa_id": oa.oa_id,
                "user_id": user_id,
                "text": text if isinstance(text, str) else "",
                "message_id": message_id,
                "kind": "cs",
                "at": now,
                "free": free,
            }
        )
        remain = FREE_MESSAGES - contact.free_used if now - last <= FREE_WINDOW else 0
        quota = {
            "quota_type": "reply_free" if free else "reply_billed",
            "remain": remain,
            "total": FREE_MESSAGES,
            "expired_date": _iso(last + FREE_WINDOW),
        }
        return {"message_id": message_id, "user_id": user_id, "quota": quota}

    def _send_promotion(self, request: Request, oa: _Oa) -> dict[str, Any]:
        body = self._json_body(request)
        user_id = self._recipient(body)
        message = body.get("message")
        attachment = message.get("attachment") if isinstance(message, dict) else None
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        if not isinstance(payload, dict) or payload.get("template_type") != "promotion":
            raise _Refused(
                INVALID_PARAM, "message.attachment.payload.template_type must be promotion", "invalid_request"
            )
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements:
            raise _Refused(INVALID_PARAM, "payload.elements must be a non-empty list", "invalid_request")
        now = self.clock()
        contact = self._contacts.get((oa.oa_id, user_id))
        if contact is None or not contact.following:
            raise _Refused(NOT_FOLLOWER, rule="promotion_follower_only")
        if not PROMOTION_FIRST_HOUR <= vietnam_hour(now) < PROMOTION_END_HOUR:
            raise _Refused(NIGHT_BAN, rule="promotion_hours")
        day = vietnam_day(now)
        if contact.promotion_day == day:
            raise _Refused(RECEIVE_QUOTA, "one promotion per follower per day", "promotion_once_per_day")
        if oa.promotions.get(day, 0) >= self.promotion_quota(oa.oa_id):
            raise _Refused(OUT_OF_QUOTA, "daily promotion quota used up", "promotion_daily_quota")
        contact.promotion_day = day
        oa.promotions = {day: oa.promotions.get(day, 0) + 1}
        message_id = uuid.uuid4().hex
        parts = [
            str(element.get("content", ""))
            for element in elements
            if isinstance(element, dict) and element.get("type") in ("header", "text")
        ]
        self._sent.append(
            {
                "path": request.path,
                "oa_id": oa.oa_id,
                "user_id": user_id,
                "text": "\n".join(parts),
                "message_id": message_id,
                "kind": "promotion",
                "at": now,
                "free": False,
            }
        )
        return {"message_id": message_id, "user_id": user_id}

    def _getlist(self, request: Request, oa: _Oa) -> dict[str, Any]:
        try:
            query = json.loads(request.args.get("data", ""))
        except ValueError as exc:
            raise _Refused(INVALID_PARAM, "data must be a JSON object", "invalid_request") from exc
        if not isinstance(query, dict):
            raise _Refused(INVALID_PARAM, "data must be a JSON object", "invalid_request")
        offset, count = query.get("offset", 0), query.get("count", GETLIST_MAX_COUNT)
        if type(offset) is not int or type(count) is not int:
            raise _Refused(INVALID_PARAM, "offset and count must be integers", "invalid_request")
        if not 1 <= count <= GETLIST_MAX_COUNT:
            raise _Refused(INVALID_PARAM, f"count must be 1..{GETLIST_MAX_COUNT}", "getlist_paging")
        if not 0 <= offset <= GETLIST_MAX_OFFSET:
            raise _Refused(INVALID_PARAM, f"offset must be 0..{GETLIST_MAX_OFFSET}", "getlist_paging")
        follower = query.get("is_follower")
        if isinstance(follower, str):
            follower = {"true": True, "false": False}.get(follower.lower(), follower)
        if follower is not None and not isinstance(follower, bool):
            raise _Refused(INVALID_PARAM, "is_follower must be true or false", "invalid_request")
        users = sorted(
            (contact.order, user_id)
            for (oa_id, user_id), contact in self._contacts.items()
            if oa_id == oa.oa_id and (follower is None or contact.following == follower)
        )
        page = [{"user_id": user_id} for _, user_id in users[offset : offset + count]]
        return {"total": len(users), "count": len(page), "offset": offset, "users": page}

    def _quota(self, request: Request, oa: _Oa) -> dict[str, Any]:
        body = self._json_body(request) if request.get_data() else {}
        now = self.clock()
        daily = self.promotion_quota(oa.oa_id)
        used = oa.promotions.get(vietnam_day(now), 0)
        data: dict[str, Any] = {
            "promotion": {
                "daily_quota": daily,
                "used": used,
                "remain": max(daily - used, 0),
                "reset_at": _iso(next_vietnam_midnight(now)),
            }
        }
        user_id = body.get("user_id")
        if isinstance(user_id, str) and user_id:
            contact = self._contacts.get((oa.oa_id, user_id))
            last = contact.last_interaction if contact else None
            in_free = contact is not None and last is not None and now - last <= FREE_WINDOW
            data["cs"] = {
                "window_open": last is not None and now - last <= WINDOW,
                "window_expires_at": _iso(last + WINDOW) if last is not None else None,
                "free_remain": FREE_MESSAGES - contact.free_used if in_free and contact else 0,
            }
        return data

    # --------------------------------------------------------------- OAuth

    def _token_endpoint(self, request: Request) -> tuple[Response, str | None, int | None]:
        form = request.form
        app_id, grant = form.get("app_id", ""), form.get("grant_type", "")
        oas = [oa for oa in self._oas.values() if oa.app_id == app_id]
        oa_id: str | None = None
        try:
            if not oas:
                raise _Refused(OAUTH_INVALID_APP, "invalid app_id")
            if all(request.headers.get("secret_key", "") != oa.app_secret for oa in oas):
                raise _Refused(OAUTH_INVALID_SECRET, "invalid secret_key")
            if grant == "refresh_token":
                oa_id, pair = self._refresh(app_id, form.get("refresh_token", ""))
            elif grant == "authorization_code":
                oa_id, pair = self._exchange(app_id, form.get("code", ""), form.get("code_verifier", ""))
            else:
                raise _Refused(INVALID_PARAM, "grant_type must be refresh_token or authorization_code")
        except _Refused as refused:
            self._refusals[refused.code] += 1
            if refused.rule:
                self._violation(
                    refused.rule, refused.detail, oa_id=oa_id, path=request.path, code=refused.code
                )
            body = {"error": refused.code, "error_name": refused.detail, "error_description": refused.detail}
            return _json_response(body), oa_id, refused.code
        return _json_response(pair), oa_id, OK

    def _issue_pair(self, oa: _Oa) -> dict[str, str]:
        now = self.clock()
        access, refresh = "sim-at-" + secrets.token_urlsafe(24), "sim-rt-" + secrets.token_urlsafe(24)
        self._tokens[access] = _Token(oa.oa_id, oa.app_id, "access", now + ACCESS_TOKEN_TTL)
        self._tokens[refresh] = _Token(oa.oa_id, oa.app_id, "refresh", now + REFRESH_TOKEN_TTL)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": str(ACCESS_TOKEN_TTL),
            "refresh_token_expires_in": str(REFRESH_TOKEN_TTL),
        }

    def _refresh(self, app_id: str, value: str) -> tuple[str | None, dict[str, str]]:
        token = self._tokens.get(value) if value else None
        if token is None or token.kind != "refresh" or token.app_id != app_id:
            raise _Refused(OAUTH_INVALID_GRANT, "invalid refresh token")
        oa = self._oas[token.oa_id]
        if token.spent_at is not None:
            if not oa.locked:
                oa.locked = True
                self._revoke(oa.oa_id)
            raise _Refused(
                OAUTH_INVALID_GRANT,
                "refresh token already used: the OA's tokens are revoked until it authorises the app again",
                "refresh_token_reuse",
            )
        if token.revoked or oa.locked:
            raise _Refused(OAUTH_INVALID_GRANT, "refresh token revoked")
        if self.clock() >= token.expires_at:
            raise _Refused(OAUTH_INVALID_GRANT, "refresh token expired")
        token.spent_at = self.clock()
        return oa.oa_id, self._issue_pair(oa)

    def _exchange(self, app_id: str, code: str, verifier: str) -> tuple[str | None, dict[str, str]]:
        grant = self._codes.get(code) if code else None
        if grant is None or grant.app_id != app_id or grant.used or self.clock() >= grant.expires_at:
            raise _Refused(OAUTH_INVALID_CODE, "invalid authorization code")
        if grant.challenge is not None:
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                raise _Refused(OAUTH_INVALID_CODE, "code_verifier does not match the code_challenge")
        grant.used = True
        oa = self._oas[grant.oa_id]
        self._revoke(oa.oa_id)
        oa.locked = False
        return oa.oa_id, self._issue_pair(oa)

    # --------------------------------------------------------------- media

    def _serve_media(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed", 405)
        name = request.path.removeprefix("/media/")
        with self._lock:
            item = self._media.get(name)
        if item is None:
            return Response("not found", 404, content_type="text/plain")
        content, content_type = item
        return Response(content, 200, content_type=content_type)

    # ------------------------------------------------------- HTTP control

    def _control(self, request: Request) -> Response:
        name = request.path.removeprefix("/_sim/").strip("/")
        try:
            if request.method == "GET":
                getters: dict[str, Callable[[], Any]] = {
                    "sent": lambda: self.sent,
                    "calls": lambda: self.calls,
                    "violations": lambda: self.violations,
                    "refusals": lambda: {str(k): v for k, v in self.refusals.items()},
                }
                if name not in getters:
                    return _json_response({"error": f"no such control GET /_sim/{name}"}, 404)
                return _json_response(getters[name]())
            if request.method != "POST":
                return _json_response({"error": "GET or POST only"}, 405)
            body = json.loads(request.get_data() or b"{}")
            if not isinstance(body, dict):
                raise _BadControl("body must be a JSON object")
            return self._control_post(name, body)
        except (ValueError, TypeError, KeyError, _BadControl) as exc:
            return _json_response({"error": str(exc)}, 400)
        except httpx.HTTPError as exc:
            return _json_response({"error": f"webhook unreachable: {type(exc).__name__}"}, 502)

    def _control_post(self, name: str, body: dict[str, Any]) -> Response:
        if name == "faults":
            self.inject(**body)
        elif name == "interactions":
            self.interact(str(body["oa_id"]), str(body["user_id"]), body.get("at"))
        elif name == "followers":
            self.follow(str(body["oa_id"]), str(body["user_id"]), bool(body.get("following", True)))
        elif name == "oas":
            self.add_oa(**body)
        elif name == "reset":
            self.reset(keep_oas=bool(body.get("keep_oas", False)))
        elif name == "latency":
            self.set_latency(float(body["seconds"]))
        elif name == "rate_limit":
            self.set_rate_limit(int(body["per_minute"]))
        elif name == "media":
            content = base64.b64decode(body["content_b64"])
            self.add_media(str(body["name"]), content, str(body["content_type"]))
        elif name == "authorize":
            return _json_response({"code": self.authorize(str(body["oa_id"]), body.get("code_challenge"))})
        elif name == "citizen":
            status, msg_id = self._citizen(
                str(body["oa_id"]),
                str(body["user_id"]),
                str(body.get("text", "")),
                str(body["webhook_url"]),
                str(body.get("event_name", "user_send_text")),
                body.get("attachments"),
                float(body.get("timeout", 10.0)),
            )
            return _json_response({"status": status, "msg_id": msg_id})
        else:
            return _json_response({"error": f"no such control POST /_sim/{name}"}, 404)
        return _json_response({"ok": True})


# ------------------------------------------------------------------ server


class _QuietHandler(WSGIRequestHandler):
    """No access log; and keeps Zalo's underscore headers (``access_token``, ``secret_key``),
    which werkzeug's development server drops by default."""

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        for key, value in self.headers.items():
            if "_" in key:
                environ["HTTP_" + key.upper().replace("-", "_")] = value.replace("\r\n", "")
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class RunningSimulator:
    """A simulator served on a loopback port by a threaded server; ``stop()`` ends it."""

    def __init__(self, sim: ZaloSimulator, server: BaseWSGIServer, stopping: threading.Event) -> None:
        self.sim = sim
        self.server = server
        self._stopping = stopping
        self.url = f"http://{server.host}:{server.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="zalo-sim", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in latency or timeout faults
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(sim: ZaloSimulator, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve ``sim`` over HTTP on ``host:port`` (0: a free port) in a background thread."""
    stopping = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[_STOP_KEY] = stopping
        return sim(environ, start_response)

    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    return RunningSimulator(sim, server, stopping)


def main(argv: list[str] | None = None) -> None:
    from tipline_local.accounts import load_accounts

    parser = argparse.ArgumentParser(description="Zalo OA API simulator (dev tooling)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--accounts", help="JSON list of accounts (default: TIPLINE_ACCOUNTS or the demo)")
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT, help="calls per app a minute")
    parser.add_argument("--timeout-seconds", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error("the simulator only listens on the loopback interface")
    raw = None
    if args.accounts:
        with open(args.accounts, encoding="utf-8") as handle:
            raw = handle.read()
    sim = ZaloSimulator(rate_limit=args.rate_limit, timeout_seconds=args.timeout_seconds)
    for account in load_accounts(raw):
        sim.add_oa(
            account.oa_id,
            account.app_id,
            account.app_secret,
            account.access_token,
            account.refresh_token,
            account.oa_secret_key,
        )
    running = serve(sim, args.host, args.port)
    print(f"zalo simulator listening on {running.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    main()
