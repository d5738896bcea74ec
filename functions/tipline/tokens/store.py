"""Each OA's access token, refresh token and expiry, sealed in the domain table (TOKEN#<oa_id>/META).

The pair is sealed with envelope encryption under the context ``{"oa_id", "purpose": "oa-token"}``;
the expiry, version, refresh history and failures stay in clear for token health. Every write is
conditional on the ``version`` it read.

A Zalo refresh token works once, and spending it twice locks the OA out. So a refresh first takes
a lease on the record (a conditional update). The holder re-reads the record under the lease, spends
the refresh token, and writes the new pair with ``version`` + 1, which also drops the lease. Anyone
who finds the lease taken spends nothing: it waits for the version to move and uses the winner's
token. A failure is recorded on the record (and as the ``TokenRefreshFailed`` metric) and frees the
lease; the waiting side then gives up rather than spend the same token again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from tipline.adapters import envelope, secrets, zalo
from tipline.adapters.table import Table
from tipline.clock import now_s
from tipline.config import Settings
from tipline.errors import DependencyUnavailable, TiplineError
from tipline.observability import logger, metrics

PURPOSE = "oa-token"
META = "META"
LEASE_MS = 30_000
# The failure recorded when Zalo's new pair could not be sealed or stored after its refresh token was spent.
PAIR_LOST = (
    "Zalo renewed the tokens but they could not be stored, and the old refresh token is spent: "
    "if the next refresh fails too, authorise the app again (tipline-ops exchange-code)"
)
EARLY_MS = 5 * 60_000  # a token with less left than this is renewed before use
WAIT_STEP_SECONDS = 0.1

Refresher = Callable[[str, str, str], zalo.TokenPair]


def token_context(oa_id: str) -> dict[str, str]:
    return {"oa_id": oa_id, "purpose": PURPOSE}


class TokenRecord(BaseModel):
    """The stored record as read: clear fields, and the sealed pair."""

    model_config = ConfigDict(extra="ignore")

    oa_id: str
    sealed: bytes | None = None
    version: int = 0
    expires_at_ms: int = 0
    refreshed_at_ms: int = 0
    refreshes: int = 0
    failures: int = 0  # consecutive, since the last success
    last_failure_ms: int = 0
    last_failure: str | None = None
    lease_owner: str | None = None
    lease_until_ms: int = 0


@dataclass(frozen=True)
class OaToken:
    """An access token ready to use. ``repr`` never shows it."""

    oa_id: str
    access_token: str
    expires_at_ms: int
    version: int

    def __repr__(self) -> str:
        return f"OaToken(oa_id={self.oa_id!r}, version={self.version}, expires_at_ms={self.expires_at_ms})"


class TokenUnavailable(DependencyUnavailable):
    """No usable token for the OA now: none stored, the refresh failed, or another refresher is busy."""


class TokenStore:
    """One per container: caches opened tokens in memory, keyed by OA and version."""

    def __init__(
        self,
        table: Table,
        settings: Settings,
        clock: Callable[[], float] = now_s,
        refresher: Refresher = zalo.refresh_tokens,
    ) -> None:
        self.table = table
        self.settings = settings
        self.clock = clock
        self.refresher = refresher
        self._cache: dict[str, OaToken] = {}
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- reading ------------------------------------------------------------------------------
    def record(self, oa_id: str) -> TokenRecord | None:
        values = self.table.get_token(oa_id)
        return TokenRecord.model_validate(values) if values else None

    def _open(self, record: TokenRecord) -> dict[str, str]:
        if record.sealed is None:
            raise TokenUnavailable(f"no token stored for OA {record.oa_id}")
        plain = envelope.open_sealed(self.settings.kms_key_id, record.sealed, token_context(record.oa_id))
        pair: dict[str, str] = json.loads(plain)
        return pair

    def _remember(self, record: TokenRecord) -> OaToken:
        with self._lock:
            cached = self._cache.get(record.oa_id)
        if cached is not None and cached.version == record.version:
            return cached
        token = OaToken(
            oa_id=record.oa_id,
            access_token=self._open(record)["access_token"],
            expires_at_ms=record.expires_at_ms,
            version=record.version,
        )
        with self._lock:
            self._cache[record.oa_id] = token
        return token

    def access_token(self, oa_id: str) -> OaToken:
        """A token to call Zalo with now, renewed first if it is about to expire."""
        with self._lock:
            cached = self._cache.get(oa_id)
        if cached is not None and cached.expires_at_ms - self._now_ms() > EARLY_MS:
            return cached
        record = self.record(oa_id)
        if record is None or record.sealed is None:
            raise TokenUnavailable(f"no token stored for OA {oa_id}: register it and exchange a code")
        if record.expires_at_ms - self._now_ms() <= EARLY_MS:
            return self.refresh(oa_id, seen_version=record.version)
        return self._remember(record)

    # -- writing ------------------------------------------------------------------------------
    def _values(self, oa_id: str, pair: zalo.TokenPair, before: TokenRecord | None) -> dict[str, Any]:
        now = self._now_ms()
        secret = json.dumps({"access_token": pair.access_token, "refresh_token": pair.refresh_token})
        return {
            "oa_id": oa_id,
            "sealed": envelope.seal(self.settings.kms_key_id, secret.encode(), token_context(oa_id)),
            "expires_at_ms": now + pair.expires_in * 1000,
            "refreshed_at_ms": now,
            "refreshes": (before.refreshes if before else 0) + 1,
            "failures": 0,
            "last_failure_ms": before.last_failure_ms if before else 0,
            "last_failure": before.last_failure if before else None,
        }

    def save(self, oa_id: str, pair: zalo.TokenPair) -> OaToken:
        """Store a pair obtained outside a refresh (registration, an authorization code exchange)."""
        for _ in range(5):
            before = self.record(oa_id)
            values = self._values(oa_id, pair, before)
            version = before.version if before else 0
            if self.table.put_token(oa_id, values, before.version if before else None):
                logger.info("oa tokens stored", oa_id=oa_id, version=version + 1)
                token = OaToken(oa_id, pair.access_token, values["expires_at_ms"], version + 1)
                with self._lock:
                    self._cache[oa_id] = token
                return token
        raise TokenUnavailable(f"the token record of OA {oa_id} kept changing; try again")

    def refresh(self, oa_id: str, seen_version: int | None = None) -> OaToken:
        """Renew the OA's tokens, unless someone did since ``seen_version`` (then use theirs).

        Exactly one caller at a time spends the refresh token (the lease); the others wait for its
        result. Raises TokenUnavailable when there is no new token to use.
        """
        record = self.record(oa_id)
        if record is None or record.sealed is None:
            raise TokenUnavailable(f"no token stored for OA {oa_id}: register it and exchange a code")
        if seen_version is not None and record.version > seen_version:
            return self._remember(record)
        owner = uuid.uuid4().hex
        now = self._now_ms()
        if not self.table.take_token_lease(oa_id, owner, now, now + LEASE_MS):
            return self._await_winner(oa_id, record.version)
        current = self.record(oa_id)
        if current is None or current.version != record.version:
            self.table.release_token_lease(oa_id, owner, {}, {})
            if current is None:
                raise TokenUnavailable(f"the token record of OA {oa_id} vanished")
            return self._remember(current)
        try:
            pair = self._spend(current)
        except TiplineError as exc:
            self._failed(oa_id, owner, getattr(exc, "reason", None) or str(exc) or type(exc).__name__)
            raise TokenUnavailable(f"the token of OA {oa_id} could not be refreshed") from exc
        try:
            stored_now = self.table.put_token(oa_id, self._values(oa_id, pair, current), current.version)
        except DependencyUnavailable as exc:
            # Zalo's refresh token is single-use and now spent; the new pair lived only in memory.
            self._failed(oa_id, owner, PAIR_LOST)
            raise TokenUnavailable(f"the refreshed tokens of OA {oa_id} could not be stored") from exc
        if not stored_now:
            # Only possible if our lease ran out and another refresher wrote meanwhile.
            self._failed(oa_id, owner, "the refreshed tokens could not be stored (lease lost)")
            raise TokenUnavailable(f"the refresh of OA {oa_id} lost its lease")
        logger.info("oa token refreshed", oa_id=oa_id, version=current.version + 1)
        stored = self.record(oa_id)
        if stored is None:
            raise TokenUnavailable(f"the token record of OA {oa_id} vanished")
        return self._remember(stored)

    def _spend(self, record: TokenRecord) -> zalo.TokenPair:
        account = self.table.get_oa(record.oa_id, self.settings.registry_cache_seconds)
        if account is None:
            raise TiplineError(f"OA {record.oa_id} is not registered")
        app = secrets.secret_json(
            self.settings.app_secret_prefix + account.app_id, self.settings.secret_cache_seconds
        )
        app_secret = app.get("app_secret")
        if not isinstance(app_secret, str) or not app_secret:
            raise TiplineError(f"app {account.app_id} has no app_secret")
        return self.refresher(account.app_id, app_secret, self._open(record)["refresh_token"])

    def _failed(self, oa_id: str, owner: str, reason: str) -> None:
        """Record the failure on the token record and free the lease; alarmed first, in case the
        table is what is failing."""
        metrics.add_metric(name="TokenRefreshFailed", unit=MetricUnit.Count, value=1)
        logger.error("oa token refresh failed", oa_id=oa_id, reason=reason[:200])
        sets = {"last_failure_ms": self._now_ms(), "last_failure": reason[:200]}
        self.table.release_token_lease(oa_id, owner, sets, {"failures": 1})

    def _await_winner(self, oa_id: str, version: int) -> OaToken:
        """Another refresher holds the lease: use its new token as soon as it is stored."""
        deadline = time.monotonic() + LEASE_MS / 1000 + 2
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP_SECONDS)
            record = self.record(oa_id)
            if record is None:
                break
            if record.version > version:
                logger.info("oa token refreshed by another caller", oa_id=oa_id, version=record.version)
                return self._remember(record)
            if record.lease_owner is None:
                raise TokenUnavailable(f"another refresh of OA {oa_id} failed: {record.last_failure}")
        raise TokenUnavailable(f"another refresh of OA {oa_id} did not finish")

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def health(store: TokenStore, oa_ids: list[str]) -> list[dict[str, Any]]:
    """Per OA: expiry, last refresh, failures. Never a token value."""
    now = store._now_ms()
    rows: list[dict[str, Any]] = []
    for oa_id in oa_ids:
        record = store.record(oa_id)
        if record is None or record.sealed is None:
            rows.append({"oa_id": oa_id, "state": "missing"})
            continue
        left = (record.expires_at_ms - now) // 1000
        if left <= 0:
            state = "expired"
        elif record.failures:
            state = "failing"
        elif left * 1000 <= store.settings.token_refresh_before_hours * 3_600_000:
            state = "due"
        else:
            state = "ok"
        rows.append(
            {
                "oa_id": oa_id,
                "state": state,
                "expires_at_ms": record.expires_at_ms,
                "seconds_left": left,
                "refreshed_at_ms": record.refreshed_at_ms,
                "refreshes": record.refreshes,
                "failures": record.failures,
                "last_failure_ms": record.last_failure_ms or None,
                "last_failure": record.last_failure,
                "version": record.version,
            }
        )
    return rows


@dataclass
class RefreshSummary:
    refreshed: int = 0
    fresh: int = 0
    failed: int = 0
    missing: int = 0


def refresh_due(store: TokenStore, oa_ids: list[str]) -> RefreshSummary:
    """The scheduled pass: renew every token within ``token_refresh_before_hours`` of expiry.

    Emits ``TokenSecondsToExpiry`` per OA (after any refresh) for the near-expiry alarm, and
    ``OasWithoutValidToken`` once per pass (OAs with no stored token or an expired one; 0 when all
    are valid) for the no-valid-token alarm: those OAs can neither reply nor send advisories.
    """
    summary = RefreshSummary()
    expired = 0
    before_ms = int(store.settings.token_refresh_before_hours * 3_600_000)
    for oa_id in oa_ids:
        record = store.record(oa_id)
        if record is None or record.sealed is None:
            summary.missing += 1
            logger.warning("oa has no stored token", oa_id=oa_id)
            continue
        expires_at_ms = record.expires_at_ms
        if expires_at_ms - store._now_ms() > before_ms:
            summary.fresh += 1
        else:
            try:
                expires_at_ms = store.refresh(oa_id, seen_version=record.version).expires_at_ms
                summary.refreshed += 1
            except DependencyUnavailable as exc:  # TokenUnavailable, or AWS failing for this OA
                summary.failed += 1
                if not isinstance(exc, TokenUnavailable):
                    logger.error("oa token refresh interrupted", oa_id=oa_id, error=type(exc).__name__)
        left = max(0, (expires_at_ms - store._now_ms()) // 1000)
        expired += int(left == 0)
        metrics.add_metric(name="TokenSecondsToExpiry", unit=MetricUnit.Seconds, value=left)
    metrics.add_metric(name="OasWithoutValidToken", unit=MetricUnit.Count, value=summary.missing + expired)
    return summary
