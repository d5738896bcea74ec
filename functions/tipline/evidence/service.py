"""Evidence logic: queue fetch jobs, fetch and store one attachment, hand officers a short link.

Confidentiality: the media URL exists in clear only in the fetcher's memory, after it opens the
sealed thread entry; it is never logged, queued or stored. The bytes go straight to S3 under
SSE-KMS with the tip's encryption context; the table holds only the chain-of-custody record.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from tipline.adapters import envelope, evidence_store, media
from tipline.adapters.table import Table
from tipline.audit import AuditRecord, write_audit
from tipline.config import Settings
from tipline.domain import FetchFailure, ThreadEntry, Tip, sealing_context
from tipline.errors import DecryptionFailed, NotFound
from tipline.evidence import policy
from tipline.evidence.jobs import queue_fetches
from tipline.evidence.model import (
    AttachmentRecord,
    AttachmentStatus,
    FetchJob,
    attachment_id,
    entry_of,
    s3_key,
)
from tipline.evidence.policy import decide, size_cap, sniff, type_matches
from tipline.keys import tip_pk
from tipline.observability import logger, metrics

if TYPE_CHECKING:
    import httpx

LINK_SECONDS = 300
# The evidence policy's network rules, handed to the downloader (the adapter owns no policy).
NETWORK_RULES = media.NetworkRules(
    host_allowed=policy.host_allowed,
    is_local_host=policy.is_local_host,
    address_refused=policy.address_refused,
    failure_for_status=policy.failure_for_status,
    sniff_bytes=policy.SNIFF_BYTES,
)


# -- fetcher side ---------------------------------------------------------------------------
class RetryLater(Exception):
    """A transient failure: try the job again after ``delay_seconds``."""

    def __init__(self, failure: FetchFailure, delay_seconds: int) -> None:
        super().__init__(failure.value)
        self.failure = failure
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class Fetcher:
    """What fetching needs; ``resolver``/``transport`` default to real DNS and network."""

    table: Table
    settings: Settings
    resolver: media.Resolver = media.resolve
    transport: httpx.BaseTransport | None = None


def get_record(table: Table, tip_id: str, attachment: str) -> AttachmentRecord | None:
    values = table.get_attachment(tip_id, attachment)
    return AttachmentRecord.model_validate(values) if values else None


def list_records(table: Table, tip_id: str) -> list[AttachmentRecord]:
    """Every attachment record of a tip, in thread order (for the officer's view of the thread)."""
    return [AttachmentRecord.model_validate(values) for values in table.attachments(tip_id)]


def _save(table: Table, record: AttachmentRecord) -> bool:
    retrieved = AttachmentStatus.RETRIEVED.value
    return table.put_attachment_unless(record.tip_id, record.attachment_id, record.model_dump(), retrieved)


def _media_url(fetcher: Fetcher, tip: Tip, entry: ThreadEntry, index: int) -> tuple[str, str]:
    """Open the sealed entry and return (attachment type, URL); raises FetchGone when there is none."""
    if entry.sealed is None:
        raise _Gone(FetchFailure.MESSAGE_GONE)
    context = sealing_context(entry.oa_id, tip.tip_id, entry.pseudonym)
    try:
        content: dict[str, Any] = json.loads(
            envelope.open_sealed(fetcher.settings.kms_key_id, entry.sealed, context)
        )
    except DecryptionFailed as exc:
        raise _Gone(FetchFailure.MESSAGE_GONE) from exc
    attachments = content.get("attachments") or []
    if index >= len(attachments):
        raise _Gone(FetchFailure.NO_LINK)
    attachment = attachments[index]
    url = (attachment.get("payload") or {}).get("url")
    if not isinstance(url, str) or not url:
        raise _Gone(FetchFailure.NO_LINK)
    return str(attachment.get("type", "file")), url


class _Gone(Exception):
    def __init__(self, failure: FetchFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


def _limits(settings: Settings, kind: str) -> media.MediaLimits:
    return media.MediaLimits(
        allowed_hosts=settings.media_allowed_hosts,
        local_hosts=settings.media_local_hosts,
        max_bytes=size_cap(kind, settings.media_size_caps),
        deadline_seconds=settings.media_deadline_seconds,
        connect_seconds=settings.media_connect_seconds,
        read_seconds=settings.media_read_seconds,
        max_redirects=settings.media_max_redirects,
        rules=NETWORK_RULES,
    )


def fetch_attachment(fetcher: Fetcher, job: FetchJob, attempt: int, now_ms: int) -> AttachmentRecord | None:
    """Fetch and store one attachment; returns its record (None when the tip no longer exists).

    Raises RetryLater for a transient failure with attempts left; a permanent failure, or the last
    attempt, is recorded as not retrieved with the reason. AWS faults propagate (retried by SQS,
    then the DLQ).
    """
    table, settings = fetcher.table, fetcher.settings
    attachment = job.attachment_id
    existing = get_record(table, job.tip_id, attachment)
    if existing is not None and existing.status is AttachmentStatus.RETRIEVED:
        return existing
    tip = table.get_tip(job.tip_id)
    if tip is None:  # expired or erased since: nothing to keep
        logger.info("attachment fetch skipped, tip gone", tip_id=job.tip_id, attachment_id=attachment)
        return None
    record = AttachmentRecord(
        tip_id=job.tip_id,
        attachment_id=attachment,
        oa_id=job.oa_id,
        entry_key=job.entry_key,
        index=job.index,
        kind=job.kind,
        status=AttachmentStatus.PENDING,
        attempts=attempt,
        updated_at_ms=now_ms,
        expires_at=tip.expires_at,
    )
    entry = table.get_entry(tip_pk(job.tip_id), job.entry_key)
    try:
        if entry is None:
            raise _Gone(FetchFailure.MESSAGE_GONE)
        kind, url = _media_url(fetcher, tip, entry, job.index)
    except _Gone as gone:
        return _give_up(table, record.model_copy(update={"reason": gone.failure.value}), gone.failure)
    record = record.model_copy(update={"kind": kind})

    try:
        downloaded = media.download(url, _limits(settings, kind), fetcher.resolver, fetcher.transport)
    except media.MediaFetchFailed as failed:
        decision = decide(failed.failure, attempt, settings.media_fetch_attempts)
        if not decision.retry:
            return _give_up(table, record.model_copy(update={"reason": failed.failure.value}), failed.failure)
        _save(table, record.model_copy(update={"reason": failed.failure.value}))
        logger.info(
            "attachment fetch will retry",
            tip_id=job.tip_id,
            attachment_id=attachment,
            attempt=attempt,
            reason=failed.failure.value,
            status=failed.status,
            delay_seconds=decision.delay_seconds,
        )
        raise RetryLater(failed.failure, decision.delay_seconds) from None
    del url
    try:
        content_type = sniff(downloaded.head)
        key = s3_key(job.tip_id, attachment)
        stored = evidence_store.put(
            bucket=settings.media_bucket,
            key=key,
            body=downloaded.body,
            size=downloaded.size,
            sha256_digest=downloaded.sha256_digest,
            content_type=content_type,
            kms_key_id=settings.kms_key_id,
            context=evidence_context(job.oa_id, job.tip_id),
            kept=tip.expires_at is None,
        )
    finally:
        downloaded.close()
    record = record.model_copy(
        update={
            "status": AttachmentStatus.RETRIEVED,
            "reason": None,
            "size": downloaded.size,
            "content_type": content_type,
            "type_matches": type_matches(kind, content_type),
            "sha256": downloaded.sha256_hex,
            "s3_key": stored.key,
            "s3_version_id": stored.version_id,
            "source_host": downloaded.host,
            "redirects": downloaded.redirects,
            "fetched_at_ms": now_ms,
        }
    )
    _save(table, record)
    metrics.add_metric(name="AttachmentsRetrieved", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="AttachmentBytes", unit=MetricUnit.Bytes, value=downloaded.size)
    logger.info(
        "attachment stored",
        tip_id=job.tip_id,
        attachment_id=attachment,
        kind=kind,
        size=downloaded.size,
        content_type=content_type,
        type_matches=record.type_matches,
        attempt=attempt,
    )
    return record


def _give_up(table: Table, record: AttachmentRecord, failure: FetchFailure) -> AttachmentRecord:
    record = record.model_copy(update={"status": AttachmentStatus.NOT_RETRIEVED})
    if not _save(table, record):  # a concurrent delivery stored it meanwhile
        return get_record(table, record.tip_id, record.attachment_id) or record
    metrics.add_metric(name="AttachmentsNotRetrieved", unit=MetricUnit.Count, value=1)
    logger.warning(
        "attachment not retrieved",
        tip_id=record.tip_id,
        attachment_id=record.attachment_id,
        reason=failure.value,
        attempts=record.attempts,
    )
    return record


def evidence_context(oa_id: str, tip_id: str) -> dict[str, str]:
    """The SSE-KMS encryption context of a tip's evidence objects (names the tip and the OA)."""
    return {"oa_id": oa_id, "tip_id": tip_id}


# -- officer side ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AttachmentLink:
    record: AttachmentRecord
    url: str | None
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "tip_id": r.tip_id,
            "attachment_id": r.attachment_id,
            "kind": r.kind,
            "status": r.status.value,
            "reason": r.reason,
            "size": r.size,
            "content_type": r.content_type,
            "type_matches": r.type_matches,
            "sha256": r.sha256,
            "fetched_at_ms": r.fetched_at_ms,
            "url": self.url,
            "expires_in": self.expires_in if self.url else None,
        }


def attachment_link(
    table: Table,
    settings: Settings,
    *,
    tip_id: str,
    attachment: str,
    officer: str,
    purpose: str,
    now_ms: int,
    allowed_units: Collection[str] | None = None,
    expires_in: int = LINK_SECONDS,
) -> AttachmentLink:
    """A short-lived (≤ 5 min) download link to one stored attachment, audited like any decrypting read.

    ``allowed_units`` is the officer's scope (None: province-wide). Raises NotFound for an unknown
    tip or attachment, or one outside the scope; a not (yet) retrieved attachment answers its
    status and reason with no link (and no audit record, since nothing was decrypted).
    """
    try:
        entry_of(attachment)
    except ValueError as exc:
        raise NotFound("no such attachment") from exc
    tip = table.get_tip(tip_id)
    if tip is None or (allowed_units is not None and tip.unit_id not in allowed_units):
        raise NotFound("no such tip")
    record = get_record(table, tip_id, attachment)
    if record is None:
        raise NotFound("no such attachment")
    if record.status is not AttachmentStatus.RETRIEVED or record.s3_key is None:
        return AttachmentLink(record=record, url=None, expires_in=0)
    seconds = max(1, min(expires_in, evidence_store.MAX_LINK_SECONDS))
    write_audit(
        table,
        AuditRecord(
            tip_id=tip_id,
            unit_id=tip.unit_id,
            actor=officer,
            action="attachment_link",
            reason=purpose,
            at_ms=now_ms,
            details={"attachment_id": attachment},
        ),
    )
    url = evidence_store.presigned_get(
        settings.media_bucket,
        record.s3_key,
        seconds,
        content_type=record.content_type or "application/octet-stream",
        version_id=record.s3_version_id,
    )
    logger.info("attachment link issued", tip_id=tip_id, attachment_id=attachment, officer=officer)
    return AttachmentLink(record=record, url=url, expires_in=seconds)


def evidence_retention(settings: Settings, tip: Tip, keep_until: int | None) -> int:
    """Follow the tip's retention decision on its evidence objects (call when it changes).

    ``keep_until`` None (open, reopened, legal hold): every version is held. Otherwise the versions
    stay locked until ``keep_until`` (epoch seconds, the end of the tip's retention), then the
    sweeper deletes them. Each version is marked in place: the version an officer's link names
    is never replaced by a copy.
    """
    if not settings.media_bucket:
        return 0
    count = evidence_store.mark_retention(settings.media_bucket, f"evidence/{tip.tip_id}/", keep_until)
    logger.info("tip evidence retention set", tip_id=tip.tip_id, versions=count, kept=keep_until is None)
    return count


def purge_tip_evidence(settings: Settings, tip_id: str) -> int:
    """Delete every stored version of a tip's evidence (retention sweep, citizen withdrawal)."""
    if not settings.media_bucket:
        return 0
    deleted = evidence_store.delete_prefix(settings.media_bucket, f"evidence/{tip_id}/")
    logger.info("tip evidence purged", tip_id=tip_id, versions=deleted)
    return deleted


__all__ = [
    "AttachmentLink",
    "Fetcher",
    "RetryLater",
    "attachment_id",
    "attachment_link",
    "evidence_retention",
    "fetch_attachment",
    "list_records",
    "purge_tip_evidence",
    "queue_fetches",
]
