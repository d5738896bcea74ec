"""Who is calling, and what they may see. Outside the caller's scope everything is "not found"."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tipline.domain import Tip
from tipline.errors import NotFound, TiplineError

ID_TOKEN_USE = "id"  # token_use of a Cognito ID token, not a secret  # noqa: S105  # nosec B105


class Unauthenticated(TiplineError):
    """No verified identity reached the function (API Gateway's JWT authorizer passes claims)."""


@dataclass(frozen=True)
class Caller:
    subject: str
    unit_id: str
    commander: bool

    @property
    def units(self) -> frozenset[str] | None:
        """The units the caller may see; None for the whole province."""
        return None if self.commander else frozenset({self.unit_id})

    def may_see(self, unit_id: str) -> bool:
        return self.commander or unit_id == self.unit_id


def _groups(raw: Any) -> set[str]:
    """API Gateway renders array claims as "[officer commander]"; a JSON list is accepted too."""
    if isinstance(raw, list):
        return {str(group) for group in raw}
    text = str(raw or "").strip()
    if text.startswith("[") and '"' in text:
        try:
            return {str(group) for group in json.loads(text)}
        except ValueError:
            pass
    return set(text.strip("[]").replace(",", " ").split())


def caller_from_claims(claims: Mapping[str, Any] | None) -> Caller:
    if not claims or not claims.get("sub"):
        raise Unauthenticated("no verified claims")
    if claims.get("token_use") != ID_TOKEN_USE:  # API Gateway's authorizer also passes access tokens
        raise Unauthenticated("only Cognito ID tokens are accepted")
    groups = _groups(claims.get("cognito:groups"))
    unit_id = str(claims.get("custom:unit_id") or "")
    if "commander" in groups:
        return Caller(subject=str(claims["sub"]), unit_id=unit_id, commander=True)
    if "officer" in groups and unit_id:
        return Caller(subject=str(claims["sub"]), unit_id=unit_id, commander=False)
    raise Unauthenticated("the token names no officer unit or commander group")


def visible(caller: Caller, tip: Tip | None) -> Tip:
    """The tip if the caller may see it; otherwise the same NotFound as for a tip that does not exist."""
    if tip is None or not caller.may_see(tip.unit_id):
        raise NotFound("no such tip")
    return tip
