"""The Zalo OA HTTP API: consultation and promotion messages, followers, quota and OAuth tokens.

Only this module speaks httpx to Zalo. One client per container (connection reuse, explicit
timeouts); base URLs come from Settings. Zalo answers ``{"error": int, "message": str, "data": …}``
(``error == 0`` is success) and sometimes a non-2xx HTTP status; both are translated into the small
exceptions below, classified per the error table of shared/zalo/ZALO-OA.md:

- :class:`TokenRejected` (-216, -220): refresh the OA's access token once, then retry;
- :class:`ZaloUnavailable` (-32 rate limit, -211/-218 quota, -234 night ban, timeouts, network
  errors, HTTP 5xx/429): retry later with backoff; ``retry_after`` may say when;
- :class:`ZaloRefused` (everything else): permanent, with a ``reason`` an officer can read and
  ``alert_ops`` when the OA itself is misconfigured (-221, -223, -224, -240).

Tokens, user ids and message texts never appear in an exception message or a log line.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tipline.config import get_settings
from tipline.errors import DependencyUnavailable, TiplineError
from tipline.zalo_rules import TEXT_LIMIT

CS_PATH = "/v3.0/oa/message/cs"
PROMOTION_PATH = "/v3.0/oa/message/promotion"
GETLIST_PATH = "/v3.0/oa/user/getlist"
QUOTA_PATH = "/v3.0/oa/quota/message"
TOKEN_PATH = "/v4/oa/access_token"  # a path, not a secret  # noqa: S105  # nosec B105
GETLIST_MAX_COUNT = 50


class ZaloError(TiplineError):
    """A Zalo call that did not succeed. ``code`` is Zalo's error code (None: HTTP or network)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TokenRejected(ZaloError):
    """The access token is invalid or expired: refresh it once and retry."""


class ZaloUnavailable(ZaloError, DependencyUnavailable):
    """Worth retrying later: rate limit, quota, night ban, timeout, network or server error.

    ``maybe_delivered``: the request reached Zalo and its answer was lost (a read timeout or a
    gateway error), so the message may have been sent. ``retry_after``: seconds to wait at least.
    """

    def __init__(
        self,
        reason: str,
        code: int | None = None,
        retry_after: float | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(reason, code)
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered


class ZaloRefused(ZaloError):
    """Permanent: retrying cannot help. ``alert_ops``: the OA or the app needs an administrator."""

    def __init__(self, reason: str, code: int | None = None, alert_ops: bool = False) -> None:
        super().__init__(reason, code)
        self.alert_ops = alert_ops


class OAuthRefused(ZaloError):
    """The token endpoint refused (invalid or spent refresh token, bad code, wrong secret)."""


# code -> (class, officer-readable reason). Codes absent here are permanent ("Zalo error <code>").
_TOKEN_CODES = {-216: "the OA's access token is invalid", -220: "the OA's access token has expired"}
_RETRY_CODES = {
    -32: "Zalo's rate limit was reached; retrying",
    -211: "the OA's Zalo quota is used up; retrying when it resets",
    -218: "the citizen has reached Zalo's limit of received messages; retrying later",
    -234: "Zalo does not allow this message type at night; retrying after 06:00",
}
_PERMANENT_CODES = {
    -100: "the attachment has expired on Zalo",
    -201: "Zalo refused the message as invalid (for example empty or too long)",
    -213: "the citizen does not follow the OA",
    -217: "the citizen has blocked the OA",
    -227: "the citizen's Zalo account is inactive",
    -244: "the citizen has turned off this type of message",
    -230: "outside Zalo's 7-day reply window: the citizen must write to the OA again first",
    -232: "outside Zalo's reply window: the citizen must write to the OA again first",
}
_OPS_CODES = {
    -221: "the OA is not verified on Zalo (ops must act)",
    -223: "the app is not authorised for this Zalo API (ops must act)",
    -224: "the OA's Zalo package does not include this feature (ops must act)",
    -240: "Zalo's v2 message API is shut down (ops must act)",
}
_RATE_LIMIT_SECONDS = 60.0


def classify(code: int, retry_after: float | None = None) -> ZaloError:
    """The exception for a Zalo error code (never raised for 0)."""
    if code in _TOKEN_CODES:
        return TokenRejected(_TOKEN_CODES[code], code)
    if code in _RETRY_CODES:
        wait = retry_after if retry_after is not None else (_RATE_LIMIT_SECONDS if code == -32 else None)
        return ZaloUnavailable(_RETRY_CODES[code], code, retry_after=wait)
    if code in _OPS_CODES:
        return ZaloRefused(_OPS_CODES[code], code, alert_ops=True)
    return ZaloRefused(_PERMANENT_CODES.get(code, f"Zalo refused the message (error {code})"), code)


@dataclass(frozen=True)
class SentMessage:
    message_id: str
    quota_type: str | None = None


@dataclass(frozen=True)
class TokenPair:
    """Fresh tokens from Zalo. ``repr`` hides the values."""

    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:
        return f"TokenPair(expires_in={self.expires_in})"


_lock = threading.Lock()


class Pace:
    """This container's share of Zalo's per-app rate limit: calls start at least 1/rate s apart.

    The sender runs a batch's citizens concurrently, so Lambda's MaximumConcurrency alone no longer
    bounds the calls a minute; ``Settings.zalo_calls_per_second`` x MaximumConcurrency does.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, rate: float) -> float:
        """Block until this call may start; returns the seconds waited (0 when uncapped)."""
        if rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + 1.0 / rate
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay


pace = Pace()


@functools.cache
def _client() -> httpx.Client:
    settings = get_settings()
    timeout = httpx.Timeout(
        connect=settings.zalo_connect_seconds,
        read=settings.zalo_read_seconds,
        write=settings.zalo_read_seconds,
        pool=settings.zalo_connect_seconds,
    )
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60)
    return httpx.Client(timeout=timeout, limits=limits, headers={"user-agent": "zalo-tipline"})


def client() -> httpx.Client:
    """The container's one client (built on first use)."""
    with _lock:
        return _client()


def reset_client() -> None:
    """Close and forget the client (tests change timeouts between runs)."""
    with _lock:
        if _client.cache_info().currsize:
            _client().close()
        _client.cache_clear()


def _request(method: str, url: str, paced: bool = True, **kwargs: Any) -> httpx.Response:
    if paced:
        pace.wait(get_settings().zalo_calls_per_second)
    try:
        response = client().request(method, url, **kwargs)
    except httpx.ConnectError as exc:
        raise ZaloUnavailable("Zalo could not be reached; retrying") from exc
    except httpx.ConnectTimeout as exc:
        raise ZaloUnavailable("Zalo could not be reached in time; retrying") from exc
    except httpx.PoolTimeout as exc:
        raise ZaloUnavailable("too many calls to Zalo at once; retrying") from exc
    except httpx.TimeoutException as exc:
        raise ZaloUnavailable("Zalo did not answer in time; retrying", maybe_delivered=True) from exc
    except httpx.HTTPError as exc:
        raise ZaloUnavailable("the connection to Zalo failed; retrying", maybe_delivered=True) from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise ZaloUnavailable(
            f"Zalo answered HTTP {response.status_code}; retrying",
            retry_after=_retry_after(response),
            maybe_delivered=response.status_code in (502, 504),
        )
    return response


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _data(response: httpx.Response) -> dict[str, Any]:
    """The ``data`` of a successful API answer, or the classified exception."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ZaloUnavailable(f"Zalo answered HTTP {response.status_code} without JSON; retrying") from exc
    if not isinstance(body, dict) or not isinstance(body.get("error"), int):
        if response.status_code >= 400:
            raise ZaloRefused(f"Zalo answered HTTP {response.status_code}")
        raise ZaloUnavailable("Zalo answered without an error code; retrying")
    code = body["error"]
    if code != 0:
        raise classify(code, _retry_after(response))
    if response.status_code >= 400:
        raise ZaloRefused(f"Zalo answered HTTP {response.status_code}")
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def _api(path: str) -> str:
    return get_settings().zalo_api_base_url.rstrip("/") + path


def _headers(access_token: str) -> dict[str, str]:
    return {"access_token": access_token, "content-type": "application/json"}


# -- messages ------------------------------------------------------------------------------
def send_consultation(access_token: str, user_id: str, text: str) -> SentMessage:
    """``POST /v3.0/oa/message/cs``: a reply to a citizen inside the 7-day interaction window."""
    if not text.strip() or len(text) > TEXT_LIMIT:
        raise ZaloRefused(f"the reply must be 1 to {TEXT_LIMIT} characters", -201)
    body = {"recipient": {"user_id": user_id}, "message": {"text": text}}
    return _sent(_post_json(CS_PATH, access_token, body))


def send_promotion(access_token: str, user_id: str, elements: list[dict[str, Any]]) -> SentMessage:
    """``POST /v3.0/oa/message/promotion`` to one follower (06:00-21:59 Vietnam time, once a day)."""
    body = {
        "recipient": {"user_id": user_id},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "promotion", "language": "VI", "elements": elements},
            }
        },
    }
    return _sent(_post_json(PROMOTION_PATH, access_token, body))


def _post_json(path: str, access_token: str, body: dict[str, Any]) -> dict[str, Any]:
    content = json.dumps(body, ensure_ascii=False).encode()
    return _data(_request("POST", _api(path), content=content, headers=_headers(access_token)))


def _sent(data: dict[str, Any]) -> SentMessage:
    message_id = data.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise ZaloUnavailable("Zalo accepted the call without a message id; retrying", maybe_delivered=True)
    quota = data.get("quota")
    quota_type = quota.get("quota_type") if isinstance(quota, dict) else None
    return SentMessage(message_id=message_id, quota_type=quota_type if isinstance(quota_type, str) else None)


@dataclass(frozen=True)
class FollowerPage:
    user_ids: list[str]
    total: int
    offset: int

    def __repr__(self) -> str:
        return f"FollowerPage(count={len(self.user_ids)}, total={self.total}, offset={self.offset})"


def followers(
    access_token: str,
    offset: int = 0,
    count: int = GETLIST_MAX_COUNT,
    last_interaction_period: str | None = None,
) -> FollowerPage:
    """One page of ``GET /v3.0/oa/user/getlist`` (count <= 50, offset <= 9951), optionally only
    followers who interacted in ``last_interaction_period`` (TODAY, YESTERDAY, L7D, L30D)."""
    if not 1 <= count <= GETLIST_MAX_COUNT or not 0 <= offset <= 9951:
        raise ZaloRefused("follower pages are 1..50 long and start at most at 9951", -201)
    filters: dict[str, Any] = {"offset": offset, "count": count, "is_follower": "true"}
    if last_interaction_period is not None:
        filters["last_interaction_period"] = last_interaction_period
    query = json.dumps(filters, separators=(",", ":"))
    response = _request("GET", _api(GETLIST_PATH), params={"data": query}, headers=_headers(access_token))
    data = _data(response)
    users = data.get("users") if isinstance(data.get("users"), list) else []
    ids = [str(u["user_id"]) for u in users or [] if isinstance(u, dict) and u.get("user_id")]
    total = data.get("total")
    return FollowerPage(user_ids=ids, total=total if isinstance(total, int) else len(ids), offset=offset)


def quota(access_token: str, user_id: str | None = None) -> dict[str, Any]:
    """``POST /v3.0/oa/quota/message``: the OA's promotion quota (and a citizen's reply window)."""
    body: dict[str, Any] = {"user_id": user_id} if user_id else {}
    return _post_json(QUOTA_PATH, access_token, body)


# -- OAuth ---------------------------------------------------------------------------------
def refresh_tokens(app_id: str, app_secret: str, refresh_token: str) -> TokenPair:
    """Spend a single-use refresh token for a new pair (``grant_type=refresh_token``)."""
    form = {"app_id": app_id, "refresh_token": refresh_token, "grant_type": "refresh_token"}
    return _token_call(app_secret, form)


def exchange_code(app_id: str, app_secret: str, code: str, code_verifier: str) -> TokenPair:
    """Exchange an OA admin's authorization code (PKCE) for the first pair."""
    form = {
        "app_id": app_id,
        "code": code,
        "grant_type": "authorization_code",
        "code_verifier": code_verifier,
    }
    return _token_call(app_secret, form)


def _token_call(app_secret: str, form: dict[str, str]) -> TokenPair:
    url = get_settings().zalo_oauth_base_url.rstrip("/") + TOKEN_PATH
    response = _request("POST", url, paced=False, data=form, headers={"secret_key": app_secret})
    try:
        body = response.json()
    except ValueError as exc:
        raise ZaloUnavailable(
            f"the token endpoint answered HTTP {response.status_code} without JSON"
        ) from exc
    if not isinstance(body, dict):
        raise ZaloUnavailable("the token endpoint answered something else than an object")
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        code = body.get("error")
        name = body.get("error_name") or body.get("message") or "no access_token in the answer"
        raise OAuthRefused(
            f"Zalo refused the token request: {str(name)[:120]}", code if isinstance(code, int) else None
        )
    try:
        expires_in = int(body.get("expires_in", 90000))
    except (TypeError, ValueError):
        expires_in = 90000
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)
