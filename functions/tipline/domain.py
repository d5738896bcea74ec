"""Domain records shared by every capability. Clear-text fields only; what a citizen wrote is sealed."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# How long the webhook remembers an event's dedupe key (the EVENT# claim's TTL). A copy of an event
# that arrives later would run again, so the gate refuses events this old (tipline.intake.gate).
DEDUPE_MEMORY_SECONDS = 3 * 24 * 3600


class TipStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    SPAM = "spam"


OPEN_STATUSES = frozenset({TipStatus.NEW, TipStatus.IN_PROGRESS})


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"
    INTERNAL = "internal"  # officers' notes: never sent


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    DELIVERED = "delivered"
    SEEN = "seen"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OaAccount(_Record):
    """One Zalo Official Account: which app delivers its events and which unit owns it."""

    oa_id: str
    app_id: str
    unit_id: str
    unit_name: str = ""
    parent_unit_id: str | None = None
    menu: dict[str, str] = Field(default_factory=dict)
    # `tipline-ops disable-oa`: its webhooks are refused (200, nothing stored) and its replies and
    # advisories are held with a reason, until `enable-oa`. The registry entry and data stay.
    disabled: bool = False


# Why a disabled OA's reply or advisory was not sent (parked reply, skipped advisory recipient).
OA_DISABLED = "oa_disabled"


class OfficerBlock(_Record):
    """An officer blocked the citizen: no acknowledgements or automatic answers, messages grouped.

    It belongs to the unit of the tip it was placed on (``tip_id``), whose officers may lift it."""

    by: str
    at_ms: int
    reason: str
    unit_id: str
    tip_id: str


class Contact(_Record):
    """A citizen as seen by one OA, keyed by pseudonym. ``user_id_sealed`` is the encrypted Zalo id.

    Two separate facts can stand between the OA and a citizen, and neither keeps a message from being
    stored or checked for urgency: ``zalo_blocked`` (Zalo answered -217, the citizen blocked the OA;
    their next message or follow clears it) and ``officer_block``.

    Advisories (tipline.intake.subscription): ``follower`` is Zalo's fact, set by follow/unfollow
    at ``follower_at_ms``; ``opted_in`` ("NHẬN TIN") / ``opted_out`` ("HỦY") are the citizen's
    choice, set by the latest of follow, unfollow, NHẬN TIN, HỦY at ``choice_at_ms`` (events arrive
    out of order: an older one never overrides a newer one).
    """

    pseudonym: str
    oa_id: str
    unit_id: str
    user_id_sealed: bytes | None = None
    last_interaction_ms: int = 0
    follower: bool = False
    follower_at_ms: int = 0
    anonymous: bool = False
    opted_in: bool = False
    opted_out: bool = False
    zalo_blocked: bool = False
    officer_block: OfficerBlock | None = None
    choice_at_ms: int = 0
    open_tip_id: str | None = None
    open_tip_at_ms: int = 0

    @model_validator(mode="before")
    @classmethod
    def _legacy_block(cls, values: Any) -> Any:
        """Contacts stored before the split have one ``blocked`` flag: read it as Zalo's block (see
        docs/intake.md, "Blocks"), which clears by itself when the citizen writes or follows."""
        if isinstance(values, dict) and "blocked" in values and "zalo_blocked" not in values:
            return {**values, "zalo_blocked": bool(values["blocked"])}
        return values


class Tip(_Record):
    tip_id: str
    code: str
    oa_id: str
    unit_id: str
    pseudonym: str
    status: TipStatus = TipStatus.NEW
    urgent: bool = False
    created_at_ms: int
    last_activity_ms: int
    message_count: int = 0
    reply_count: int = 0
    last_ack_ms: int = 0
    first_reply_ms: int | None = None
    closed_at_ms: int | None = None
    legal_hold: bool = False
    expires_at: int | None = None  # epoch seconds; DynamoDB TTL removes the tip and its thread
    assignee: str | None = None  # triage fields, set by officers (never citizen data)
    labels: list[str] = Field(default_factory=list)


class ThreadEntry(_Record):
    """One message of a thread, either way. ``sealed`` holds its JSON content, encrypted.

    Most entries belong to a tip. Answers that are not about a tip (menu, status by code) live in
    the contact's own thread, and then ``tip_id`` is None.
    """

    oa_id: str
    pseudonym: str
    tip_id: str | None = None
    entry_key: str
    direction: Direction
    kind: str
    at_ms: int
    sealed: bytes | None = None
    status: DeliveryStatus | None = None
    reason: str | None = None
    zalo_message_id: str | None = None
    author: str | None = None
    enqueued: bool = False
    grouped: bool = False  # past the citizen's burst limit, or from a blocked sender: kept, not answered


class QueuedReply(BaseModel):
    """The body of a ``replies.fifo`` message: ids only, never text or a Zalo id."""

    model_config = ConfigDict(frozen=True)

    reply_id: str
    oa_id: str
    pseudonym: str
    tip_id: str | None
    entry_key: str


def sealing_context(oa_id: str, tip_id: str | None, pseudonym: str) -> dict[str, str]:
    """The encryption context of a thread entry: it names the OA and the tip (or the contact)."""
    if tip_id is not None:
        return {"oa_id": oa_id, "tip_id": tip_id}
    return {"oa_id": oa_id, "contact": pseudonym}


class FetchFailure(StrEnum):
    """Why fetching an attachment did not produce stored evidence. Values are what officers see."""

    LINK_EXPIRED = "link expired"
    REFUSED_BY_CDN = "refused by the CDN"
    CDN_ERROR = "CDN error"
    HOST_NOT_ALLOWED = "host not allowed"
    PRIVATE_ADDRESS = "private address refused"
    TOO_MANY_REDIRECTS = "too many redirects"
    TOO_LARGE = "too large"
    TOO_SLOW = "too slow"
    NETWORK = "network error"
    BAD_LINK = "malformed link"
    INSECURE_LINK = "link is not https"
    MESSAGE_GONE = "message erased"
    NO_LINK = "no link in the message"
    EMPTY = "empty content"
