"""The audit archive bucket: write-once (S3 Object Lock, compliance mode) copies of audit records.

The bucket's default retention locks every version it receives; this module only ever puts.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DependencyUnavailable


def put_json(bucket: str, key: str, body: bytes, kms_key_id: str) -> None:
    """Store one archived change, encrypted with the project's key (Object Lock needs a checksum)."""
    try:
        aws.s3().put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_id,
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("s3 put_object (audit archive) failed") from exc
