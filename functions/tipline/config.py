"""The one configuration model, read from the environment once per container."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DEFAULT_URGENT_KEYWORDS: tuple[str, ...] = (
    "cấp cứu",
    "cap cuu",
    "cháy",
    "hỏa hoạn",
    "tai nạn",
    "tai nan",
    "mắc kẹt",
    "mac ket",
    "cướp",
    "cuop",
    "đâm chém",
    "bắt cóc",
    "bat coc",
    "đuối nước",
    "nổ súng",
    "sos",
)


class Settings(BaseModel):
    """Everything a function needs to know about its deployment.

    Field names map to upper-case environment variables (``table_name`` → ``TABLE_NAME``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "local"
    table_name: str
    replies_queue_url: str
    spill_queue_url: str
    kms_key_id: str
    pepper_secret_id: str
    cursor_secret_id: str = Field(default="", description="signs officer listing cursors (not the pepper)")
    audit_table_name: str = Field(default="", description="the audit trail's own, append-only table")
    audit_archive_bucket: str = Field(default="", description="write-once copies of every audit change")
    app_secret_prefix: str = Field(description="Secrets Manager name prefix; the app id is appended")
    urgent_topic_arn: str
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    tip_join_hours: float = Field(default=24.0, ge=0, description="0 opens a new tip for every message")
    ack_quiet_minutes: float = Field(default=30.0, ge=0)
    urgent_keywords: tuple[str, ...] = DEFAULT_URGENT_KEYWORDS
    zalo_api_base_url: str = "https://openapi.zalo.me"
    zalo_oauth_base_url: str = "https://oauth.zaloapp.com"
    # Zalo OA API client (tipline.adapters.zalo) and token lifecycle (tipline.tokens).
    zalo_connect_seconds: float = Field(default=3.0, gt=0)
    zalo_read_seconds: float = Field(default=10.0, gt=0)
    zalo_calls_per_second: float = Field(
        default=0.0,
        ge=0,
        description="this container's cap on Zalo API calls (0: none); x the function's "
        "MaximumConcurrency it must stay under the app's rate limit (4,000 a minute)",
    )
    token_refresh_before_hours: float = Field(
        default=8.0, gt=0, description="the scheduled refresher renews access tokens this close to expiry"
    )
    fanout_queue_url: str = ""
    fetch_queue_url: str = ""
    # Dead-letter queues the reply sender and the fetcher park a message in themselves, with its
    # reason and OA as message attributes (tipline-ops dlq-inspect shows them).
    replies_dead_letter_url: str = ""
    fetch_dead_letter_url: str = ""
    media_bucket: str = ""
    # Evidence fetching (tipline.evidence). Host suffixes of Zalo's media CDN: chat media and files
    # are served from *.zdn.vn (photo-stal-*.zdn.vn, f*-zpcloud.zdn.vn), *.zadn.vn and *.zalo.me.
    media_allowed_hosts: tuple[str, ...] = ("zdn.vn", "zadn.vn", "zalo.me")
    # Exact "host:port" entries (the local Zalo simulator) that may be private/loopback addresses.
    # Empty by default; refused outright when the stage is prod.
    media_local_hosts: tuple[str, ...] = ()
    media_deadline_seconds: float = Field(default=90.0, gt=0, description="total time for one download")
    media_connect_seconds: float = Field(default=3.0, gt=0)
    media_read_seconds: float = Field(default=15.0, gt=0)
    media_max_redirects: int = Field(default=3, ge=0)
    media_fetch_attempts: int = Field(default=5, ge=1, description="then the attachment is not retrieved")
    media_size_caps: dict[str, int] = Field(default_factory=dict, description="bytes per attachment type")
    citizen_burst_limit: int = Field(default=20, ge=1, description="messages per burst window, then grouped")
    citizen_burst_minutes: float = Field(default=10.0, gt=0)
    retention_days: int = Field(default=180, ge=1, description="closed tips expire this long after closing")
    audit_retention_days: int = Field(
        default=1825, ge=1, description="audit records are kept this long, longer than the tips they cover"
    )
    registry_cache_seconds: float = Field(default=60.0, ge=0)
    secret_cache_seconds: float = Field(default=300.0, ge=0)

    @field_validator("urgent_keywords", mode="before")
    @classmethod
    def _keywords_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(json.loads(value))
        return value

    @field_validator("media_allowed_hosts", "media_local_hosts", "media_size_caps", mode="before")
    @classmethod
    def _media_from_json(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            empty: Any = {} if info.field_name == "media_size_caps" else ()
            return json.loads(value) if value.strip() else empty
        return value

    @model_validator(mode="after")
    def _no_local_media_hosts_in_prod(self) -> Settings:
        if self.stage == "prod" and self.media_local_hosts:
            raise ValueError("media_local_hosts is for the local stack and tests, never prod")
        return self

    @model_validator(mode="after")
    def _audit_outlives_tips(self) -> Settings:
        if self.audit_retention_days < self.retention_days:
            raise ValueError("audit_retention_days must be at least retention_days (the trail outlives tips)")
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@functools.cache
def get_settings() -> Settings:
    """The container's settings; read once, on first use (tests call ``get_settings.cache_clear()``)."""
    return Settings.from_env()
