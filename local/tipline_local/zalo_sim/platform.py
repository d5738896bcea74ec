"""The simulator's state and its control API (OAs, interactions, followers, faults, media)."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tipline_local.accounts import AccountSeed

from tipline_local.zalo_sim.rules import (
    ACCESS_TOKEN_TTL,
    AUTH_CODE_TTL,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    PROMOTION_QUOTA,
    PROMOTION_QUOTA_FOLLOWER_THRESHOLD,
    REFRESH_TOKEN_TTL,
    AuthCode,
    ContactState,
    Fault,
    OaState,
    TokenState,
)


class Platform:
    """All state, behind one lock; every time rule reads the injectable ``clock``."""

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
        self._oas: dict[str, OaState] = {}
        self._oa_seeds: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, TokenState] = {}
        self._codes: dict[str, AuthCode] = {}
        self._contacts: dict[tuple[str, str], ContactState] = {}
        self._order = itertools.count()
        self._faults: list[Fault] = []
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
            oa = OaState(oa_id, app_id, app_secret, oa_secret_key)
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
                self._tokens[access_token] = TokenState(oa_id, app_id, "access", expires)
            if refresh_token:
                self._tokens[refresh_token] = TokenState(oa_id, app_id, "refresh", now + REFRESH_TOKEN_TTL)

    def add_accounts(self, accounts: Iterable[AccountSeed]) -> None:
        """Register each account's OA with its token pair and OA secret key."""
        for account in accounts:
            self.add_oa(
                account.oa_id,
                account.app_id,
                account.app_secret,
                account.access_token,
                account.refresh_token,
                account.oa_secret_key,
            )

    def authorize(self, oa_id: str, code_challenge: str | None = None) -> str:
        """An OA admin grants the app access: an authorization code for ``grant_type=authorization_code``.

        ``code_challenge`` is the PKCE S256 challenge (base64url of the verifier's SHA-256, no padding).
        """
        with self._lock:
            oa = self._oa(oa_id)
            code = "sim-code-" + secrets.token_urlsafe(18)
            self._codes[code] = AuthCode(oa_id, oa.app_id, code_challenge, self.clock() + AUTH_CODE_TTL)
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

    def block(self, oa_id: str, user_id: str, blocked: bool = True) -> None:
        """The citizen blocks (or unblocks) the OA in their Zalo app: while blocked, every message to
        them is refused with -217. Zalo sends the OA no event for either."""
        with self._lock:
            self._oa(oa_id)
            self._contact(oa_id, user_id).blocked_oa = blocked

    def inject(
        self,
        error: int | None = None,
        status: int | None = None,
        latency: float = 0.0,
        timeout: bool = False,
        count: int = 1,
        path_prefix: str | None = None,
        effective: bool = False,
        retry_after: int | None = None,
    ) -> None:
        """A fault for the next ``count`` calls whose path starts with ``path_prefix`` (any non-control call).

        ``error``: answer that Zalo error code (HTTP ``status`` or 200); ``status`` alone: an HTML
        error page with that HTTP status; ``latency``: extra seconds before answering; ``timeout``:
        no answer (served: the connection stays silent for ``timeout_seconds`` then gets a 504;
        in-process: ``httpx.ReadTimeout`` is raised). ``effective``: the call takes effect (the
        message is sent) before the fault hides the answer, like a response lost on the way back.
        ``retry_after``: the faulty answer says, in a ``Retry-After`` header, when to try again.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if latency < 0:
            raise ValueError("latency must not be negative")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        with self._lock:
            self._faults.append(
                Fault(error, status, latency, timeout, count, path_prefix, effective, retry_after)
            )

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

    # ------------------------------------------------------------- helpers

    def _oa(self, oa_id: str) -> OaState:
        oa = self._oas.get(oa_id)
        if oa is None:
            raise KeyError(f"unknown OA {oa_id}: add_oa first")
        return oa

    def _contact(self, oa_id: str, user_id: str) -> ContactState:
        key = (oa_id, user_id)
        contact = self._contacts.get(key)
        if contact is None:
            contact = self._contacts[key] = ContactState(order=next(self._order))
        return contact

    def _revoke(self, oa_id: str) -> None:
        for token in self._tokens.values():
            if token.oa_id == oa_id:
                token.revoked = True

    def _violation(self, rule: str, detail: str, **extra: Any) -> None:
        self._violations.append({"rule": rule, "detail": detail, "at": self.clock(), **extra})

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
        return None
