"""The Zalo platform's figures, error codes and the simulator's in-memory records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

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
BLOCKED_OA = -217
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
    BLOCKED_OA: "User has blocked invitations from the OA",
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
INTERACTION_PREFIXES = ("user_send_",)
INTERACTION_EVENTS = frozenset({"follow", "user_submit_info"})
STOP_KEY = "tipline.zalo_sim.stop"


def vietnam_day(at: float) -> int:
    """The Vietnam calendar day (days since 1970-01-01 in UTC+7) holding epoch second ``at``."""
    return int((at + VN_OFFSET) // DAY)


def vietnam_hour(at: float) -> int:
    return int(((at + VN_OFFSET) % DAY) // 3600)


def next_vietnam_midnight(at: float) -> float:
    return float((vietnam_day(at) + 1) * DAY - VN_OFFSET)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone(VIETNAM).isoformat()


class Refused(Exception):
    """A request the platform refuses with a Zalo error code (HTTP 200, like Zalo)."""

    def __init__(self, code: int, detail: str = "", rule: str | None = None) -> None:
        super().__init__(detail or MESSAGES.get(code, "error"))
        self.code = code
        self.detail = detail or MESSAGES.get(code, "error")
        self.rule = rule


class BadControl(Exception):
    """A malformed control request (400)."""


@dataclass
class OaState:
    oa_id: str
    app_id: str
    app_secret: str
    oa_secret_key: str
    locked: bool = False
    followers: int = 0
    promotions: dict[int, int] = field(default_factory=dict)  # Vietnam day -> promotions sent


@dataclass
class TokenState:
    oa_id: str
    app_id: str
    kind: str  # "access" or "refresh"
    expires_at: float
    revoked: bool = False
    spent_at: float | None = None


@dataclass
class ContactState:
    order: int
    last_interaction: float | None = None
    free_used: int = 0
    following: bool = False
    promotion_day: int | None = None
    blocked_oa: bool = False  # the citizen blocked the OA in their Zalo app: every message gets -217


@dataclass
class Fault:
    error: int | None
    status: int | None
    latency: float
    timeout: bool
    remaining: int
    path_prefix: str | None
    effective: bool
    retry_after: int | None = None  # seconds, in a Retry-After header on the faulty answer

    def matches(self, path: str) -> bool:
        return path.startswith(self.path_prefix) if self.path_prefix else True


@dataclass
class AuthCode:
    oa_id: str
    app_id: str
    challenge: str | None
    expires_at: float
    used: bool = False


def envelope(code: int, data: Any = None, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message or MESSAGES.get(code, "error")}
    if data is not None:
        body["data"] = data
    return body
