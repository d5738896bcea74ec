"""The evidence bucket: SSE-KMS objects bound to their tip, and short-lived read links.

Each object is encrypted with the project's key and an encryption context naming the tip and the
OA, so KMS (and CloudTrail) see which tip every decrypt is for, and a key policy or IAM condition
can scope it. The S3 Bucket Key is switched off per object for that reason: with a bucket key S3
derives object keys from a bucket-level key and KMS no longer sees the per-tip context; at tip-line
volume one KMS call per stored attachment is affordable.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable

MAX_LINK_SECONDS = 300


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
) -> Stored:
    """Store ``body`` encrypted; S3 verifies the SHA-256 we computed while downloading."""
    try:
        response = aws.s3().put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentLength=size,
            ContentType=content_type,
            ContentDisposition="attachment",
            ChecksumSHA256=base64.b64encode(sha256_digest).decode(),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_id,
            SSEKMSEncryptionContext=encryption_context_header(context),
            BucketKeyEnabled=False,
            Metadata={"sha256": sha256_digest.hex()},
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


def delete_prefix(bucket: str, prefix: str) -> int:
    """Delete every version of every object under ``prefix`` (retention, erasure). Returns versions."""
    client = aws.s3()
    deleted = 0
    try:
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            targets = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if targets:
                client.delete_objects(Bucket=bucket, Delete={"Objects": targets, "Quiet": True})  # type: ignore[typeddict-item]
                deleted += len(targets)
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 delete failed") from exc
    return deleted


def mark_retention(
    bucket: str, prefix: str, closed: bool, kms_key_id: str, context: Mapping[str, str]
) -> int:
    """Tag every current object under ``prefix`` retention=closed (or open) by copying it onto itself.

    The copy restarts the object's age, so the bucket's lifecycle rule on that tag expires it the
    retention period after the tip closed; the old version becomes noncurrent and goes soon after.
    Returns how many objects were re-tagged.
    """
    client = aws.s3()
    tag = "retention=closed" if closed else "retention=open"
    count = 0
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                client.copy_object(
                    Bucket=bucket,
                    Key=item["Key"],
                    CopySource={"Bucket": bucket, "Key": item["Key"]},
                    MetadataDirective="COPY",
                    TaggingDirective="REPLACE",
                    Tagging=tag,
                    ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=kms_key_id,
                    SSEKMSEncryptionContext=encryption_context_header(context),
                    BucketKeyEnabled=False,
                    ChecksumAlgorithm="SHA256",
                )
                count += 1
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 copy_object failed") from exc
    return count
