"""The evidence bucket: SSE-KMS objects bound to their tip, and short-lived read links.

Each object is encrypted with the project's key and an encryption context naming the tip and the
OA, so KMS (and CloudTrail) see which tip every decrypt is for, and a key policy or IAM condition
can scope it. The S3 Bucket Key is switched off per object for that reason: with a bucket key S3
derives object keys from a bucket-level key and KMS no longer sees the per-tip context; at tip-line
volume one KMS call per stored attachment is affordable.

The bucket has Object Lock in governance mode (docs/data-model.md says why): every version is
locked from its write, on legal hold while its tip is open or held, and retained until its tip's
retention ends once closed. Retention changes mark each version in place and never copy it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable

MAX_LINK_SECONDS = 300
LOCK_MODE: Literal["GOVERNANCE"] = "GOVERNANCE"
RETENTION_TAG = "retention"  # the bucket's lifecycle backstop expires versions tagged retention=closed


def encryption_context_header(context: Mapping[str, str]) -> str:
    return base64.b64encode(
        json.dumps(dict(sorted(context.items())), separators=(",", ":")).encode()
    ).decode()


@dataclass(frozen=True)
class Stored:
    key: str
    version_id: str | None


def put(
    bucket: str,
    key: str,
    body: IO[bytes],
    size: int,
    sha256_digest: bytes,
    content_type: str,
    kms_key_id: str,
    context: Mapping[str, str],
    kept: bool,
) -> Stored:
    """Store ``body`` encrypted; S3 verifies the SHA-256 we computed while downloading.

    ``kept`` (the tip is open or on legal hold): the new version is put on legal hold at once;
    otherwise the bucket's default retention locks it. Either way it is tagged like its tip.
    """
    try:
        response = aws.s3().put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentLength=size,
            ContentType=content_type,
            ContentDisposition="attachment",
            ChecksumAlgorithm="SHA256",  # S3 wants it named when Object Lock applies to the upload
            ChecksumSHA256=base64.b64encode(sha256_digest).decode(),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_id,
            SSEKMSEncryptionContext=encryption_context_header(context),
            BucketKeyEnabled=False,
            Metadata={"sha256": sha256_digest.hex()},
            Tagging=f"{RETENTION_TAG}={_retention_value(kept)}",
            ObjectLockLegalHoldStatus="ON" if kept else "OFF",
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 put_object failed") from exc
    return Stored(key=key, version_id=response.get("VersionId"))


def presigned_get(
    bucket: str, key: str, expires_in: int, content_type: str, version_id: str | None = None
) -> str:
    """A GET link valid for at most five minutes, always served as a download."""
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "ResponseContentType": content_type,
        "ResponseContentDisposition": "attachment",
        "ResponseCacheControl": "no-store",
    }
    if version_id:
        params["VersionId"] = version_id
    try:
        return aws.s3().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=min(expires_in, MAX_LINK_SECONDS)
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 presign failed") from exc


class _Version(NamedTuple):
    key: str
    version_id: str


def _versions(bucket: str, prefix: str) -> Iterator[tuple[list[_Version], list[_Version]]]:
    """Each page of ``prefix``: (object versions, delete markers)."""
    paginator = aws.s3().get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        yield (
            [_Version(v["Key"], v["VersionId"]) for v in page.get("Versions", [])],
            [_Version(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])],
        )


def _legal_hold(bucket: str, version: _Version, on: bool) -> None:
    status: Literal["ON", "OFF"] = "ON" if on else "OFF"
    aws.s3().put_object_legal_hold(
        Bucket=bucket, Key=version.key, VersionId=version.version_id, LegalHold={"Status": status}
    )


def delete_prefix(bucket: str, prefix: str) -> int:
    """Delete every version of every object under ``prefix`` (retention, erasure). Returns versions.

    Only the retention sweeper calls this, once the tip's own decision says its evidence goes: it
    lifts any legal hold and bypasses the governance-mode lock, which stops everyone else.
    """
    client = aws.s3()
    deleted = 0
    try:
        for versions, markers in _versions(bucket, prefix):
            for version in versions:
                head = client.head_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
                if head.get("ObjectLockLegalHoldStatus") == "ON":
                    _legal_hold(bucket, version, on=False)
            targets = [{"Key": v.key, "VersionId": v.version_id} for v in [*versions, *markers]]
            if not targets:
                continue
            answer = client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": targets, "Quiet": True},  # type: ignore[typeddict-item]
                BypassGovernanceRetention=True,
            )
            if answer.get("Errors"):
                raise DependencyUnavailable(f"s3 refused to delete {len(answer['Errors'])} evidence versions")
            deleted += len(targets)
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 delete failed") from exc
    return deleted


def mark_retention(bucket: str, prefix: str, keep_until: int | None) -> int:
    """Apply a tip's retention decision to every stored version under ``prefix``, in place.

    Nothing here writes a new version (a link names the version it was issued for, and the bucket
    forgets noncurrent versions): the tag is set on each version, and so is its Object Lock.
    ``keep_until`` None (open tip, legal hold): the version is tagged ``retention=open`` and put on
    legal hold. Otherwise it is tagged ``retention=closed``, its governance-mode retention is
    extended to ``keep_until`` (epoch seconds; never shortened), and only then is the hold lifted.
    Returns how many versions were marked.
    """
    client = aws.s3()
    kept = keep_until is None
    count = 0
    try:
        for versions, _ in _versions(bucket, prefix):
            for version in versions:
                client.put_object_tagging(
                    Bucket=bucket,
                    Key=version.key,
                    VersionId=version.version_id,
                    Tagging={"TagSet": [{"Key": RETENTION_TAG, "Value": _retention_value(kept)}]},
                )
                if keep_until is not None:
                    _extend_retention(bucket, version, keep_until)
                _legal_hold(bucket, version, on=kept)
                count += 1
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 retention update failed") from exc
    return count


def _extend_retention(bucket: str, version: _Version, keep_until: int) -> None:
    client = aws.s3()
    until = datetime.fromtimestamp(keep_until, UTC)
    head = client.head_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
    current = head.get("ObjectLockRetainUntilDate")
    if current is not None and current >= until:
        return  # already locked at least that long (the default retention of a late fetch)
    client.put_object_retention(
        Bucket=bucket,
        Key=version.key,
        VersionId=version.version_id,
        Retention={"Mode": LOCK_MODE, "RetainUntilDate": until},
    )


def _retention_value(kept: bool) -> str:
    return "open" if kept else "closed"
