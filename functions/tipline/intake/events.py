"""Pydantic models of every Zalo OA webhook event this system understands (see shared/zalo/ZALO-OA.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

ZALO_ID_MAX = 64  # Zalo's ids (apps, OAs, citizens) are short digit strings; this bounds them generously


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class Party(_Model):
    id: str = Field(min_length=1, max_length=ZALO_ID_MAX)


class Coordinates(_Model):
    latitude: str = Field(max_length=32)
    longitude: str = Field(max_length=32)


class MediaPayload(_Model):
    url: str | None = Field(default=None, max_length=4096)
    thumbnail: str | None = Field(default=None, max_length=4096)
    description: str | None = Field(default=None, max_length=4096)


class StickerPayload(_Model):
    url: str | None = Field(default=None, max_length=4096)
    id: str | None = Field(default=None, max_length=256)


class LocationPayload(_Model):
    coordinates: Coordinates


class FilePayload(_Model):
    url: str = Field(max_length=4096)
    name: str | None = Field(default=None, max_length=1024)
    size: str | None = Field(default=None, max_length=32)
    checksum: str | None = Field(default=None, max_length=128)
    type: str | None = Field(default=None, max_length=64)


class MediaAttachment(_Model):
    type: Literal["image", "gif", "link", "audio", "video"]
    payload: MediaPayload


class StickerAttachment(_Model):
    type: Literal["sticker"]
    payload: StickerPayload


class LocationAttachment(_Model):
    type: Literal["location"]
    payload: LocationPayload


class FileAttachment(_Model):
    type: Literal["file"]
    payload: FilePayload


class OtherAttachment(_Model):
    """An attachment type Zalo did not document (a business card, say): kept whole, encrypted."""

    type: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)


KnownAttachment = Annotated[
    MediaAttachment | StickerAttachment | LocationAttachment | FileAttachment, Field(discriminator="type")
]
Attachment = KnownAttachment | OtherAttachment


class InboundMessage(_Model):
    msg_id: str = Field(min_length=1, max_length=128)
    text: str | None = Field(default=None, max_length=20_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    quote_msg_id: str | None = Field(default=None, max_length=128)
    conversation_id: str | None = Field(default=None, max_length=128)


USER_MESSAGE_EVENTS = (
    "user_send_text",
    "user_send_image",
    "user_send_gif",
    "user_send_link",
    "user_send_audio",
    "user_send_video",
    "user_send_sticker",
    "user_send_location",
    "user_send_file",
    "user_send_business_card",
)
ANONYMOUS_MESSAGE_EVENTS = tuple(name.replace("user_", "anonymous_", 1) for name in USER_MESSAGE_EVENTS)


class _Event(_Model):
    app_id: str = Field(min_length=1, max_length=ZALO_ID_MAX)
    timestamp: str = Field(pattern=r"^\d{1,16}$")

    @property
    def timestamp_ms(self) -> int:
        return int(self.timestamp)


class _MessageEvent(_Event):
    sender: Party
    recipient: Party
    message: InboundMessage


class UserMessageEvent(_MessageEvent):
    event_name: Literal[USER_MESSAGE_EVENTS]  # type: ignore[valid-type]


class AnonymousMessageEvent(_MessageEvent):
    """A person who does not follow the OA; replies cannot reach them through message/cs."""

    event_name: Literal[ANONYMOUS_MESSAGE_EVENTS]  # type: ignore[valid-type]


class FollowEvent(_Event):
    event_name: Literal["follow", "unfollow"]
    oa_id: str = Field(min_length=1, max_length=ZALO_ID_MAX)
    follower: Party
    source: str | None = Field(default=None, max_length=64)


class SubmittedInfo(_Model):
    name: str | None = Field(default=None, max_length=512)
    phone: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=1024)
    city: str | None = Field(default=None, max_length=256)
    district: str | None = Field(default=None, max_length=256)
    ward: str | None = Field(default=None, max_length=256)


class SubmitInfoEvent(_Event):
    event_name: Literal["user_submit_info"]
    sender: Party
    recipient: Party
    info: SubmittedInfo


class ReceivedRef(_Model):
    msg_id: str = Field(min_length=1, max_length=128)


class SeenRef(_Model):
    msg_ids: list[str] = Field(max_length=500)


class ReceivedEvent(_Event):
    event_name: Literal["user_received_message"]
    sender: Party
    recipient: Party
    message: ReceivedRef


class SeenEvent(_Event):
    event_name: Literal["user_seen_message"]
    sender: Party
    recipient: Party
    message: SeenRef


class ReactionRef(_Model):
    msg_id: str = Field(min_length=1, max_length=128)
    react_icon: str | None = Field(default=None, max_length=64)


class ReactionEvent(_Event):
    event_name: Literal["user_reacted_message", "oa_reacted_message"]
    sender: Party
    recipient: Party
    message: ReactionRef


class ChatNowEvent(_Event):
    event_name: Literal["user_click_chatnow"]
    sender: Party
    recipient: Party


class WithdrawEvent(_Event):
    event_name: Literal["user_withdraw"]
    sender: Party
    recipient: Party


ZaloEvent = Annotated[
    UserMessageEvent
    | AnonymousMessageEvent
    | FollowEvent
    | SubmitInfoEvent
    | ReceivedEvent
    | SeenEvent
    | ReactionEvent
    | ChatNowEvent
    | WithdrawEvent,
    Field(discriminator="event_name"),
]

KNOWN_EVENTS = frozenset(
    {
        *USER_MESSAGE_EVENTS,
        *ANONYMOUS_MESSAGE_EVENTS,
        "follow",
        "unfollow",
        "user_submit_info",
        "user_received_message",
        "user_seen_message",
        "user_reacted_message",
        "oa_reacted_message",
        "user_click_chatnow",
        "user_withdraw",
    }
)

_adapter: TypeAdapter[Any] = TypeAdapter(ZaloEvent)


def parse_event(payload: dict[str, Any]) -> ZaloEvent:
    """Validate a decoded body; raises pydantic.ValidationError when it breaks the schema."""
    return _adapter.validate_python(payload)  # type: ignore[no-any-return]


def oa_id_of(payload: dict[str, Any]) -> str | None:
    """The OA an (unverified) body is about: needed to pick the key that verifies it.

    None when the body names no OA or names it with something that cannot be an id (too long, not
    printable ASCII): such a value is never looked up, so a hostile body cannot make the registry
    read fail (a key too large) or fill a cache.
    """
    found: Any = payload.get("oa_id")
    if not isinstance(found, str):
        name = str(payload.get("event_name", ""))
        party = payload.get("sender") if name.startswith("oa_") else payload.get("recipient")
        found = party.get("id") if isinstance(party, dict) else None
    if not isinstance(found, str) or not 0 < len(found) <= ZALO_ID_MAX:
        return None
    return found if found.isascii() and found.isprintable() else None


def citizen_id_of(event: ZaloEvent) -> str:
    """The Zalo user id of the citizen an event is about (scoped to one OA)."""
    if isinstance(event, FollowEvent):
        return event.follower.id
    if isinstance(event, ReactionEvent) and event.event_name == "oa_reacted_message":
        return event.recipient.id
    return event.sender.id


def oa_of(event: ZaloEvent) -> str:
    if isinstance(event, FollowEvent):
        return event.oa_id
    if isinstance(event, ReactionEvent) and event.event_name == "oa_reacted_message":
        return event.sender.id
    return event.recipient.id
