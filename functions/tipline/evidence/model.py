"""Records of the evidence capability: the fetch job (a queue body) and the attachment record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tipline import keys

# Attachment types whose bytes are fetched from Zalo's CDN and kept as evidence.
FETCHABLE_TYPES = frozenset({"image", "gif", "audio", "video", "file"})


class FetchJob(BaseModel):
    """The body of a fetch-queue message: ids only. The URL stays sealed in the thread entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tip_id: str = Field(min_length=1, max_length=128)
    oa_id: str = Field(min_length=1, max_length=64)
    entry_key: str = Field(pattern=r"^MSG#\d{13}#[a-z0-9]{1,64}$")
    index: int = Field(ge=0, lt=50)
    kind: str = Field(max_length=16)

    @property
    def attachment_id(self) -> str:
        return attachment_id(self.entry_key, self.index)


class AttachmentStatus(StrEnum):
    PENDING = "pending"
    RETRIEVED = "retrieved"
    NOT_RETRIEVED = "not_retrieved"


class AttachmentRecord(BaseModel):
    """Chain of custody of one attachment (``TIP#<tip_id>`` / ``ATT#<attachment_id>``).

    Clear text only: ids, sizes, the sniffed type, the SHA-256 of the bytes as served. Never the
    URL, a file name or anything else the citizen wrote.
    """

    model_config = ConfigDict(extra="ignore")

    tip_id: str
    attachment_id: str
    oa_id: str
    entry_key: str
    index: int
    kind: str
    status: AttachmentStatus
    reason: str | None = None
    attempts: int = 0
    size: int | None = None
    content_type: str | None = None
    type_matches: bool | None = None
    sha256: str | None = None
    s3_key: str | None = None
    s3_version_id: str | None = None
    source_host: str | None = None
    redirects: int | None = None
    fetched_at_ms: int | None = None
    updated_at_ms: int = 0
    expires_at: int | None = None


def attachment_id(entry_key: str, index: int) -> str:
    """A URL-safe id: ``<at_ms>-<entry id>-<index>`` (sorts like the thread)."""
    at_ms, entry_id = keys.split_entry_key(entry_key)
    return f"{at_ms}-{entry_id}-{index}"


def entry_of(attachment: str) -> tuple[str, int]:
    """The thread entry key and attachment index an attachment id names; ValueError if malformed."""
    at_ms, entry_id, index = attachment.split("-")
    if not (len(at_ms) == 13 and at_ms.isdigit() and entry_id.isalnum() and index.isdigit()):
        raise ValueError("malformed attachment id")
    return keys.entry_key(int(at_ms), entry_id), int(index)


def s3_key(tip_id: str, attachment: str) -> str:
    return f"evidence/{tip_id}/{attachment}"
