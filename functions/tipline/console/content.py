"""What an officer sees of one stored thread entry: its sealed content opened and shown by allowlist.

The content is what the citizen sent through Zalo. Intake validates the attachment types Zalo
documents; one of another type or shape is kept whole, sealed, so nothing is lost. The reader never
hands a stored payload on: each attachment type shows the fields an officer needs and nothing else,
never a Zalo CDN address (media and files open only through the audited evidence link), and anything
it cannot show is "unsupported" with its type. No error message leaves this module: pydantic's would
quote the decrypted input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tipline.adapters import envelope
from tipline.config import Settings
from tipline.domain import ThreadEntry, sealing_context
from tipline.errors import DecryptionFailed
from tipline.evidence.model import AttachmentStatus, attachment_id
from tipline.evidence.policy import host_allowed
from tipline.intake.events import (
    FileAttachment,
    KnownAttachment,
    LocationAttachment,
    MediaAttachment,
    StickerAttachment,
    SubmittedInfo,
)
from tipline.observability import logger

EVIDENCE_LINK = "GET /v1/tips/{tip_id}/attachments/{attachment_id} opens it (audited)"
_PLAIN_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_WEB_SCHEMES = frozenset({"http", "https"})


class _View(BaseModel):
    # A generated client sees ``kind`` (the discriminator) and ``type`` as always present.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    index: int = Field(description="position of the attachment in the citizen's message")


class MediaView(_View):
    """A photo, GIF, voice message or video: its bytes open only through the audited evidence link."""

    kind: Literal["media"] = "media"
    type: Literal["image", "gif", "audio", "video"]
    attachment_id: str = Field(description=EVIDENCE_LINK)
    evidence_status: AttachmentStatus | None = Field(description="null until the fetcher has kept it")
    description: str | None = Field(default=None, description="the caption Zalo sent with it, if any")


class FileView(_View):
    """A file: what Zalo said of it; its bytes open only through the audited evidence link."""

    kind: Literal["file"] = "file"
    type: Literal["file"] = "file"
    attachment_id: str = Field(description=EVIDENCE_LINK)
    evidence_status: AttachmentStatus | None = Field(description="null until the fetcher has kept it")
    name: str | None = None
    size: int | None = Field(default=None, description="bytes, as Zalo reported")
    file_type: str | None = Field(default=None, description="the extension Zalo reported")


class LocationView(_View):
    kind: Literal["location"] = "location"
    type: Literal["location"] = "location"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class LinkView(_View):
    """A link the citizen shared."""

    kind: Literal["link"] = "link"
    type: Literal["link"] = "link"
    description: str | None = Field(default=None, description="the preview text Zalo sent")
    url: str | None = Field(
        default=None,
        description="the shared web address; null when it is not http(s), carries credentials or is "
        "on Zalo's CDN (those are the citizen's media, never shown raw)",
    )


class StickerView(_View):
    kind: Literal["sticker"] = "sticker"
    type: Literal["sticker"] = "sticker"


class UnsupportedView(_View):
    """Content this reader cannot show: an undocumented type, or a payload of another shape."""

    kind: Literal["unsupported"] = "unsupported"
    type: str = Field(description="the attachment type Zalo named ('unknown' when not a plain name)")


AttachmentView = Annotated[
    MediaView | FileView | LocationView | LinkView | StickerView | UnsupportedView,
    Field(discriminator="kind"),
]


class _StoredContent(BaseModel):
    """The sealed JSON of a thread entry, as intake, replies and notes write it."""

    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    attachments: list[Any] = []
    info: SubmittedInfo | None = None


@dataclass(frozen=True)
class EntryContent:
    text: str | None = None
    attachments: list[AttachmentView] = field(default_factory=list)
    info: SubmittedInfo | None = None
    unreadable: bool = False


_known: TypeAdapter[Any] = TypeAdapter(KnownAttachment)


def open_entry(
    settings: Settings, entry: ThreadEntry, evidence: Mapping[str, AttachmentStatus]
) -> EntryContent:
    """Open one entry. ``evidence`` maps attachment ids to their evidence status.

    An entry whose seal does not open (tampered with, or moved from another record) or whose content
    has another shape is shown as unreadable, so the rest of the thread still reads."""
    if entry.sealed is None:  # erased at the citizen's request
        return EntryContent()
    context = sealing_context(entry.oa_id, entry.tip_id, entry.pseudonym)
    try:
        content = _StoredContent.model_validate_json(
            envelope.open_sealed(settings.kms_key_id, entry.sealed, context)
        )
    except (DecryptionFailed, ValidationError) as exc:
        logger.warning(
            "thread entry unreadable", tip_id=entry.tip_id, entry=entry.entry_key, error=type(exc).__name__
        )
        return EntryContent(unreadable=True)
    views = [
        _attachment(settings, raw, index, entry.entry_key, evidence)
        for index, raw in enumerate(content.attachments)
    ]
    return EntryContent(text=content.text, attachments=views, info=content.info)


def _attachment(
    settings: Settings, raw: Any, index: int, entry_key: str, evidence: Mapping[str, AttachmentStatus]
) -> AttachmentView:
    try:
        known = _known.validate_python(raw)
        if isinstance(known, MediaAttachment) and known.type == "link":
            return LinkView(
                index=index,
                description=known.payload.description,
                url=_shared_url(settings, known.payload.url),
            )
        if isinstance(known, MediaAttachment):
            media_id = attachment_id(entry_key, index)
            return MediaView(
                index=index,
                type=known.type,
                attachment_id=media_id,
                evidence_status=evidence.get(media_id),
                description=known.payload.description,
            )
        if isinstance(known, FileAttachment):
            file_id = attachment_id(entry_key, index)
            size = known.payload.size
            return FileView(
                index=index,
                attachment_id=file_id,
                evidence_status=evidence.get(file_id),
                name=known.payload.name,
                size=int(size) if size is not None and size.isdigit() else None,
                file_type=known.payload.type,
            )
        if isinstance(known, LocationAttachment):
            latitude = float(known.payload.coordinates.latitude)
            longitude = float(known.payload.coordinates.longitude)
            if math.isfinite(latitude) and math.isfinite(longitude):
                return LocationView(index=index, latitude=latitude, longitude=longitude)
        if isinstance(known, StickerAttachment):
            return StickerView(index=index)
    except ValueError:  # pydantic's ValidationError too: another shape, shown as unsupported, unread
        pass
    return UnsupportedView(index=index, type=_type_name(raw))


def _type_name(raw: Any) -> str:
    name = raw.get("type") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and _PLAIN_TYPE.fullmatch(name) else "unknown"


def _shared_url(settings: Settings, url: str | None) -> str | None:
    """The address of a shared link, unless it is not a plain web address or points at Zalo's CDN."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme.lower() not in _WEB_SCHEMES or not host or parts.username or parts.password:
        return None
    if host_allowed(host, port, settings.media_allowed_hosts, settings.media_local_hosts):
        return None
    return url
