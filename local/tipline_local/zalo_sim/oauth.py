"""Zalo's OAuth v4 rules: token pairs, single-use refresh tokens, PKCE code exchange."""

from __future__ import annotations

import base64
import hashlib
import secrets

from tipline_local.zalo_sim.platform import Platform
from tipline_local.zalo_sim.rules import (
    ACCESS_TOKEN_TTL,
    OAUTH_INVALID_CODE,
    OAUTH_INVALID_GRANT,
    REFRESH_TOKEN_TTL,
    OaState,
    Refused,
    TokenState,
)


class TokenAuthority(Platform):
    def _issue_pair(self, oa: OaState) -> dict[str, str]:
        now = self.clock()
        access, refresh = "sim-at-" + secrets.token_urlsafe(24), "sim-rt-" + secrets.token_urlsafe(24)
        self._tokens[access] = TokenState(oa.oa_id, oa.app_id, "access", now + ACCESS_TOKEN_TTL)
        self._tokens[refresh] = TokenState(oa.oa_id, oa.app_id, "refresh", now + REFRESH_TOKEN_TTL)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": str(ACCESS_TOKEN_TTL),
            "refresh_token_expires_in": str(REFRESH_TOKEN_TTL),
        }

    def _refresh(self, app_id: str, value: str) -> tuple[str | None, dict[str, str]]:
        token = self._tokens.get(value) if value else None
        if token is None or token.kind != "refresh" or token.app_id != app_id:
            raise Refused(OAUTH_INVALID_GRANT, "invalid refresh token")
        oa = self._oas[token.oa_id]
        if token.spent_at is not None:
            if not oa.locked:
                oa.locked = True
                self._revoke(oa.oa_id)
            raise Refused(
                OAUTH_INVALID_GRANT,
                "refresh token already used: the OA's tokens are revoked until it authorises the app again",
                "refresh_token_reuse",
            )
        if token.revoked or oa.locked:
            raise Refused(OAUTH_INVALID_GRANT, "refresh token revoked")
        if self.clock() >= token.expires_at:
            raise Refused(OAUTH_INVALID_GRANT, "refresh token expired")
        token.spent_at = self.clock()
        return oa.oa_id, self._issue_pair(oa)

    def _exchange(self, app_id: str, code: str, verifier: str) -> tuple[str | None, dict[str, str]]:
        grant = self._codes.get(code) if code else None
        if grant is None or grant.app_id != app_id or grant.used or self.clock() >= grant.expires_at:
            raise Refused(OAUTH_INVALID_CODE, "invalid authorization code")
        if grant.challenge is not None:
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                raise Refused(OAUTH_INVALID_CODE, "code_verifier does not match the code_challenge")
        grant.used = True
        oa = self._oas[grant.oa_id]
        self._revoke(oa.oa_id)
        oa.locked = False
        return oa.oa_id, self._issue_pair(oa)
