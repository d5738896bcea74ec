"""The audit trail cannot be rewritten: its own table, and a write-once archive fed by its stream.

The officer API writes audit records to the audit table (no function role may update or delete
there); the table's stream reaches the archiver (the real handler, with the records moto's stream
holds), which copies every change into an S3 bucket under Object Lock in compliance mode. An
overwrite by put, the one write the officer API's role allows, keeps the original in the archive and
counts as AuditRecordAltered (alarmed).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from fixtures.officer import call, claims
from fixtures.webhook import deliver, drain, items_with_prefix, text_event
from tipline.config import get_settings
from tipline.handlers import audit_archive
from tipline_local.provision import Provisioned

OWN = "pc02-hoan-kiem"
DAY_S = 86_400


def _read_a_tip(stack: Provisioned, context: Any, reason: str = "xác minh nguồn tin") -> str:
    deliver(context, text_event("có người lừa đảo qua mạng"))
    drain(stack, "RepliesQueue")
    (tip,) = items_with_prefix(stack, "TIP#", "META")
    tip_id = str(tip["tip_id"]["S"])
    status, _ = call(context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": reason})
    assert status == 200
    return tip_id


class AuditStream:
    """The audit table's stream as Lambda's event source mapping reads it: records not yet handed out."""

    def __init__(self, stack: Provisioned) -> None:
        self.client = boto3.client("dynamodbstreams")
        self.arn = stack.resolver.attributes["AuditTable.StreamArn"]
        self.iterators: dict[str, str] = {}

    def event(self) -> dict[str, Any]:
        records = []
        for shard in self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            iterator = (
                self.iterators.get(shard["ShardId"])
                or self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            page = self.client.get_records(ShardIterator=iterator)
            self.iterators[shard["ShardId"]] = page["NextShardIterator"]
            records += page["Records"]
        return {"Records": [self._as_lambda_sees_it(r) for r in records]}

    def _as_lambda_sees_it(self, record: dict[str, Any]) -> dict[str, Any]:
        stream = dict(record["dynamodb"])
        created = stream.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            stream["ApproximateCreationDateTime"] = int(created.timestamp())
        return {**record, "dynamodb": stream, "eventSourceARN": self.arn}


def _archived(stack: Provisioned) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    bucket = stack.resolver.refs["AuditArchiveBucket"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="audit/").get("Versions", [])
    found = []
    for version in versions:
        body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        found.append({"key": version["Key"], "version": version["VersionId"], **json.loads(body)})
    return found


def test_audit_records_live_in_their_own_table_and_expire_after_their_own_retention(
    stack: Provisioned, lambda_context: Any
) -> None:
    tip_id = _read_a_tip(stack, lambda_context)
    assert items_with_prefix(stack, "AUDIT#") == [], "nothing of the trail in the domain table"
    (record,) = items_with_prefix(stack, f"AUDIT#{tip_id}", table="AuditTable")
    settings = get_settings()
    assert settings.audit_retention_days > settings.retention_days
    at_s = int(record["at_ms"]["N"]) // 1000
    assert int(record["expires_at"]["N"]) == at_s + settings.audit_retention_days * DAY_S
    trail = call(lambda_context, "GET", "/v1/audit", claims("province", "commander"), {"tip_id": tip_id})[1]
    assert [(entry["action"], entry["reason"]) for entry in trail] == [("read", "xác minh nguồn tin")]
    by_unit = call(lambda_context, "GET", "/v1/audit", claims("province", "commander"), {"unit": OWN})[1]
    assert [entry["tip_id"] for entry in by_unit] == [tip_id]


def test_every_audit_record_is_archived_write_once(stack: Provisioned, lambda_context: Any) -> None:
    tip_id = _read_a_tip(stack, lambda_context)
    answer = audit_archive.handler(AuditStream(stack).event(), lambda_context)
    assert answer == {"batchItemFailures": []}
    (archived,) = _archived(stack)
    assert archived["event"] == "INSERT"
    assert archived["new"]["tip_id"] == tip_id and archived["new"]["reason"] == "xác minh nguồn tin"
    s3 = boto3.client("s3")
    bucket = stack.resolver.refs["AuditArchiveBucket"]
    # moto has no GetObjectRetention; the object's lock headers say the same
    head = s3.head_object(Bucket=bucket, Key=archived["key"], VersionId=archived["version"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days_locked = (head["ObjectLockRetainUntilDate"].timestamp() - time.time()) / DAY_S
    assert abs(days_locked - get_settings().audit_retention_days) < 2
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=archived["key"], VersionId=archived["version"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert len(_archived(stack)) == 1


def test_an_overwritten_audit_record_keeps_its_original_and_is_counted_as_altered(
    stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tip_id = _read_a_tip(stack, lambda_context, reason="lý do thật")
    stream = AuditStream(stack)
    audit_archive.handler(stream.event(), lambda_context)
    (record,) = items_with_prefix(stack, f"AUDIT#{tip_id}", table="AuditTable")
    forged = {**record, "reason": {"S": "lý do bịa"}}  # what the officer API's role could still do
    boto3.client("dynamodb").put_item(TableName=stack.resolver.refs["AuditTable"], Item=forged)
    capsys.readouterr()
    assert audit_archive.handler(stream.event(), lambda_context) == {"batchItemFailures": []}
    printed = capsys.readouterr().out
    metrics = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    assert sum(sum(m.get("AuditRecordAltered", [])) for m in metrics) == 1
    events = {a["event"]: a for a in _archived(stack)}
    assert set(events) == {"INSERT", "MODIFY"}
    assert events["INSERT"]["new"]["reason"] == "lý do thật"
    assert events["MODIFY"]["old"]["reason"] == "lý do thật"


def test_a_record_removed_by_its_ttl_is_not_counted_as_altered(
    stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    expired = {
        "eventID": "1",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb": {
            "Keys": {"pk": {"S": "AUDIT#t1"}, "sk": {"S": "0000000000001#ab"}},
            "SequenceNumber": "100",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    capsys.readouterr()
    assert audit_archive.handler({"Records": [expired]}, lambda_context) == {"batchItemFailures": []}
    assert "AuditRecordAltered" not in capsys.readouterr().out
    assert _archived(stack) == []
