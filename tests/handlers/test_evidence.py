"""Evidence attachments: queued by the webhook, fetched under policy, stored encrypted, read audited.

The CDN is a tiny WSGI app on 127.0.0.1 (media, redirects, slow and oversized bodies, error codes),
declared to the fetcher explicitly through MEDIA_LOCAL_HOSTS, as the local stack does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from fixtures.events import load_event
from fixtures.officer import call, claims
from fixtures.waiting import until
from fixtures.webhook import deliver, demo_oa, item_text, now_ms, sqs_event, table_items
from tipline import clock
from tipline.adapters import aws, media
from tipline.config import get_settings
from tipline.domain import FetchFailure as Failure
from tipline.evidence import policy
from tipline.evidence.model import AttachmentStatus, FetchJob
from tipline.evidence.service import NETWORK_RULES, list_records
from tipline.handlers import fetcher, retention_sweeper
from tipline.lifecycle.retention import DAY_SECONDS
from tipline.wiring import table
from tipline_local.provision import Provisioned
from tipline_local.samples import zalo_body
from werkzeug.serving import make_server

# -- a CDN on loopback ----------------------------------------------------------------------------
SAMPLES: dict[str, tuple[bytes, str]] = {
    "image": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + secrets.token_bytes(2000), "image/jpeg"),
    "gif": (b"GIF89a\x01\x00\x01\x00" + secrets.token_bytes(500), "image/gif"),
    "video": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00" + secrets.token_bytes(40_000), "video/mp4"),
    "audio": (b"#!AMR\n" + secrets.token_bytes(3000), "audio/amr"),
    "file": (b"%PDF-1.7\n" + secrets.token_bytes(5000), "application/pdf"),
}


TRICKLE_CHUNKS = 100  # 5 s of body, past the 3 s deadline the tests configure


class Cdn:
    """Serves /media/<name>, /redirect?to=<url>, /slow/<name>, /status/<code>, /big; counts hits."""

    def __init__(self) -> None:
        self.media: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.trickled: list[int] = []  # chunks of /slow sent before the client hung up
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        self.hits.append(path)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if path.startswith("/media/") and path[7:] in self.media:
            body = self.media[path[7:]]
            start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/redirect":
            start_response("302 Found", [("Location", query["to"][0])])
            return [b""]
        if path.startswith("/status/"):
            start_response(f"{path[8:]} Status", [("Content-Type", "text/plain")])
            return [b"no"]
        if path == "/big":  # no Content-Length: the cap must hold while streaming
            start_response("200 OK", [("Content-Type", "image/jpeg")])
            return (b"\xff\xd8\xff" + bytes(64 * 1024) for _ in range(64))
        if path == "/slow":

            def trickle() -> Iterator[bytes]:
                sent = 0
                try:
                    yield b"\xff\xd8\xff"
                    for sent in range(1, TRICKLE_CHUNKS + 1):  # noqa: B007 - read in finally
                        time.sleep(0.05)
                        yield b"x" * 16
                finally:
                    self.trickled.append(sent)

            start_response("200 OK", [("Content-Type", "image/jpeg")])
            return trickle()
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"gone"]

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def cdn() -> Iterator[Cdn]:
    server = Cdn()
    yield server
    server.stop()


@pytest.fixture
def evidence(stack: Provisioned, cdn: Cdn, monkeypatch: pytest.MonkeyPatch) -> Provisioned:
    """The stack with the loopback CDN declared as the one local media host (as the local stack does)."""
    monkeypatch.setenv("MEDIA_LOCAL_HOSTS", json.dumps([cdn.host]))
    monkeypatch.setenv("MEDIA_DEADLINE_SECONDS", "3.0")  # room for a loaded machine, under the trickle
    monkeypatch.setenv("MEDIA_READ_SECONDS", "3.0")
    monkeypatch.setenv("MEDIA_SIZE_CAPS", json.dumps({"image": 1024 * 1024}))
    get_settings.cache_clear()
    cdn.hits.clear()
    return stack


# -- helpers --------------------------------------------------------------------------------------
def _send(context: Any, kind: str, url: str, text: str = "ảnh biển số") -> None:
    body = zalo_body(f"user_send_{kind}", demo_oa(), ts=now_ms(), text=text)
    body["message"]["attachments"][0]["payload"]["url"] = url
    assert deliver(context, body)["statusCode"] == 200


def _receive(stack: Provisioned) -> list[dict[str, Any]]:
    client = boto3.client("sqs")
    page = client.receive_message(
        QueueUrl=stack.queue_urls["FetchQueue"], MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    return list(page.get("Messages", []))


def _release(stack: Provisioned, messages: list[dict[str, Any]]) -> None:
    """Make received jobs visible again at once (what the end of a visibility timeout does)."""
    client = boto3.client("sqs")
    for message in messages:
        client.change_message_visibility(
            QueueUrl=stack.queue_urls["FetchQueue"],
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )


def _peek(stack: Provisioned) -> list[dict[str, Any]]:
    messages = _receive(stack)
    _release(stack, messages)
    return messages


LAST_BATCH: list[dict[str, Any]] = []


def _run_fetcher(stack: Provisioned, context: Any, receive_count: int | None = None) -> dict[str, Any]:
    """Deliver the fetch queue to the real handler like Lambda's SQS poller (delete what succeeded)."""
    messages = _receive(stack)
    assert messages, "expected fetch jobs"
    if receive_count is not None:
        for message in messages:
            message["Attributes"]["ApproximateReceiveCount"] = str(receive_count)
    result: dict[str, Any] = fetcher.handler(
        sqs_event(messages, stack.resolver.attributes["FetchQueue.Arn"]), context
    )
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    client = boto3.client("sqs")
    for message in messages:
        if message["MessageId"] not in failed:
            client.delete_message(
                QueueUrl=stack.queue_urls["FetchQueue"], ReceiptHandle=message["ReceiptHandle"]
            )
    LAST_BATCH[:] = [m for m in messages if m["MessageId"] in failed]
    return result


def _bucket(stack: Provisioned) -> str:
    return str(stack.resolver.refs["EvidenceBucket"])


def _objects(stack: Provisioned) -> list[dict[str, Any]]:
    page = boto3.client("s3").list_object_versions(Bucket=_bucket(stack))
    return list(page.get("Versions", []))


def _only_tip_id() -> str:
    tips = {r["pk"]["S"][4:] for r in table_items_now() if r["pk"]["S"].startswith("TIP#")}
    assert len(tips) == 1
    return tips.pop()


def table_items_now() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return list(client.scan(TableName=get_settings().table_name)["Items"])


def _records(tip_id: str) -> list[Any]:
    return list_records(table(), tip_id)


class Capture:
    """Records the parameters of one operation of a boto3 client (the request we actually send)."""

    def __init__(self, client: Any, operation: str) -> None:
        self.client, self.calls = client, []  # type: ignore[var-annotated]
        self.event = f"provide-client-params.{client.meta.service_model.service_name}.{operation}"

    def _grab(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))

    def __enter__(self) -> Capture:
        self.client.meta.events.register(self.event, self._grab, unique_id=f"cap-{id(self)}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, unique_id=f"cap-{id(self)}")


# -- the whole path ----------------------------------------------------------------------------------
def _fetch_every_kind(stack: Provisioned, cdn: Cdn, context: Any) -> dict[str, Any]:
    """Send one message per fetchable type, run the fetcher; the records by kind."""
    for kind, (content, _) in SAMPLES.items():
        cdn.media[f"{kind}-ok"] = content
        _send(context, kind, f"{cdn.url}/media/{kind}-ok")
    jobs = _peek(stack)
    assert len(jobs) == 5
    for job in jobs:  # ids only: no link on the queue
        assert set(json.loads(job["Body"])) == {"tip_id", "oa_id", "entry_key", "index", "kind"}
        assert cdn.host not in job["Body"]
    assert _run_fetcher(stack, context)["batchItemFailures"] == []
    return {r.kind: r for r in _records(_only_tip_id())}


def test_each_attachment_type_is_fetched_and_stored_encrypted_for_its_tip(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    with Capture(aws.s3(), "PutObject") as puts:
        records = _fetch_every_kind(evidence, cdn, lambda_context)
    tip_id = _only_tip_id()
    assert set(records) == set(SAMPLES)
    s3 = boto3.client("s3")
    kms_key = get_settings().kms_key_id
    for kind, (content, sniffed) in SAMPLES.items():
        record = records[kind]
        assert record.status is AttachmentStatus.RETRIEVED
        assert record.sha256 == hashlib.sha256(content).hexdigest()
        assert record.size == len(content)
        assert record.content_type == sniffed  # sniffed: the CDN said text/html
        assert record.type_matches is True
        assert record.s3_key is not None
        head = s3.head_object(Bucket=_bucket(evidence), Key=record.s3_key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert kms_key in head["SSEKMSKeyId"]
        stored = s3.get_object(Bucket=_bucket(evidence), Key=record.s3_key)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == record.sha256
    assert len(puts.calls) == 5
    for put in puts.calls:
        context = json.loads(base64.b64decode(put["SSEKMSEncryptionContext"]))
        assert context == {"oa_id": demo_oa().oa_id, "tip_id": tip_id}
        assert put["ServerSideEncryption"] == "aws:kms"
        assert put["SSEKMSKeyId"] == kms_key
        assert base64.b64decode(put["ChecksumSHA256"]).hex() in {r.sha256 for r in records.values()}

    # A redelivered job is a no-op: nothing fetched twice.
    hits = len(cdn.hits)
    record = records["video"]
    job = FetchJob(tip_id=tip_id, oa_id=record.oa_id, entry_key=record.entry_key, index=0, kind="video")
    boto3.client("sqs").send_message(
        QueueUrl=evidence.queue_urls["FetchQueue"], MessageBody=job.model_dump_json()
    )
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    assert len(cdn.hits) == hits
    assert len(_objects(evidence)) == 5


def _audits(stack: Provisioned, tip_id: str) -> list[dict[str, Any]]:
    return [i for i in table_items(stack, "AuditTable") if i["pk"]["S"] == f"AUDIT#{tip_id}"]


def test_an_officer_reads_an_attachment_through_a_short_audited_link(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    records = _fetch_every_kind(evidence, cdn, lambda_context)
    tip_id = _only_tip_id()
    officer = claims(demo_oa().unit_id, subject="officer-7")
    status, thread = call(lambda_context, "GET", f"/v1/tips/{tip_id}", officer, {"reason": "xem chứng cứ"})
    assert status == 200
    shown = {item["attachment_id"]: item for m in thread["messages"] for item in m["evidence"]}
    assert {a: shown[a]["status"] for a in shown} == {r.attachment_id: "retrieved" for r in records.values()}
    assert {shown[r.attachment_id]["sha256"] for r in records.values()} == {
        r.sha256 for r in records.values()
    }
    for kind, record in records.items():
        path = f"/v1/tips/{tip_id}/attachments/{record.attachment_id}"
        status, link = call(lambda_context, "GET", path, officer, {"reason": "investigation"})
        assert status == 200, link
        assert link["url"] is not None
        query = parse_qs(urlsplit(link["url"]).query)
        assert int(query["X-Amz-Expires"][0]) <= 300
        assert query["response-content-disposition"] == ["attachment"]
        assert httpx.get(link["url"]).content == SAMPLES[kind][0]
    audits = [a for a in _audits(evidence, tip_id) if a["action"]["S"] == "attachment_link"]
    assert len(audits) == 5
    assert {a["actor"]["S"] for a in audits} == {"officer-7"}
    assert {a["details"]["M"]["attachment_id"]["S"] for a in audits} == {
        r.attachment_id for r in records.values()
    }
    # Another unit's officer, a made-up id, a missing reason: nothing, and no audit record.
    other = claims("pc08-traffic", subject="officer-9")
    image = f"/v1/tips/{tip_id}/attachments/{records['image'].attachment_id}"
    assert call(lambda_context, "GET", image, other, {"reason": "curiosity"})[0] == 404
    assert (
        call(lambda_context, "GET", f"/v1/tips/{tip_id}/attachments/not-an-id", officer, {"reason": "abc"})[0]
        == 404
    )
    assert call(lambda_context, "GET", image, officer)[0] == 422
    assert len(_audits(evidence, tip_id)) == 6  # the thread read and five links


REFUSALS = {
    "redirect to a non-Zalo host": ("/redirect?to=https://evil.example.net/x.jpg", Failure.HOST_NOT_ALLOWED),
    "redirect to an IP literal": (
        "/redirect?to=https://169.254.169.254/latest/meta-data",
        Failure.HOST_NOT_ALLOWED,
    ),
    "redirect to plain http": ("/redirect?to=http://photo-stal-1.zdn.vn/x.jpg", Failure.INSECURE_LINK),
    "an oversized body": ("/big", Failure.TOO_LARGE),
    "a redirect loop": (
        "/redirect?to=/redirect?to=/redirect?to=/redirect?to=/media/x",
        Failure.TOO_MANY_REDIRECTS,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_downloads_store_nothing(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any, case: str
) -> None:
    path, failure = REFUSALS[case]
    _send(lambda_context, "image", cdn.url + path)
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []  # permanent: not retried
    [record] = _records(_only_tip_id())
    assert record.status is AttachmentStatus.NOT_RETRIEVED
    assert record.reason == failure.value
    assert record.sha256 is None
    assert record.s3_key is None
    assert _objects(evidence) == []


def test_a_zalo_name_resolving_to_a_private_address_is_refused(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "localhost" plays a CDN name whose DNS answer is private; it is allowed by name, not by address.
    monkeypatch.setenv("MEDIA_ALLOWED_HOSTS", json.dumps(["zdn.vn", "localhost"]))
    get_settings.cache_clear()
    _send(lambda_context, "image", f"{cdn.url}/redirect?to=https://localhost/media/x")
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    [record] = _records(_only_tip_id())
    assert (record.status, record.reason) == (AttachmentStatus.NOT_RETRIEVED, Failure.PRIVATE_ADDRESS.value)
    assert cdn.hits == ["/redirect"]  # nothing was requested from the private address
    assert _objects(evidence) == []


def test_a_slow_body_is_refused_retried_then_reported(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    _send(lambda_context, "image", f"{cdn.url}/slow")
    sqs = aws.sqs()
    with Capture(sqs, "ChangeMessageVisibility") as backoff:
        result = _run_fetcher(evidence, lambda_context)
    assert len(result["batchItemFailures"]) == 1
    assert 15 <= backoff.calls[0]["VisibilityTimeout"] <= 30  # first backoff step, with jitter
    [record] = _records(_only_tip_id())
    assert (record.status, record.reason) == (AttachmentStatus.PENDING, Failure.TOO_SLOW.value)
    assert _objects(evidence) == []
    until(lambda: cdn.trickled, what="the CDN to note how much it trickled")
    assert cdn.trickled[0] < TRICKLE_CHUNKS  # the fetcher hung up at its deadline, not at the end

    _release(evidence, LAST_BATCH)
    last = get_settings().media_fetch_attempts
    assert _run_fetcher(evidence, lambda_context, receive_count=last)["batchItemFailures"] == []
    [record] = _records(_only_tip_id())
    assert (record.status, record.reason, record.attempts) == (
        AttachmentStatus.NOT_RETRIEVED,
        Failure.TOO_SLOW.value,
        last,
    )
    assert _objects(evidence) == []


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_link_is_reported_at_once(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any, status: int
) -> None:
    _send(lambda_context, "video", f"{cdn.url}/status/{status}")
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    [record] = _records(_only_tip_id())
    assert (record.status, record.reason, record.attempts) == (
        AttachmentStatus.NOT_RETRIEVED,
        Failure.LINK_EXPIRED.value,
        1,
    )


def test_a_cdn_error_is_retried_and_then_not_retrieved(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    _send(lambda_context, "audio", f"{cdn.url}/status/503")
    assert len(_run_fetcher(evidence, lambda_context, receive_count=1)["batchItemFailures"]) == 1
    [record] = _records(_only_tip_id())
    assert (record.status, record.reason) == (AttachmentStatus.PENDING, Failure.CDN_ERROR.value)


def test_an_aws_fault_on_the_last_receive_parks_the_job_in_the_dlq_with_its_reason_and_oa(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    from fixtures.webhook import Fault

    cdn.media["image-ok"] = SAMPLES["image"][0]
    _send(lambda_context, "image", f"{cdn.url}/media/image-ok")
    [job] = _peek(evidence)
    with Fault(aws.s3(), "PutObject", "InternalError"):
        result = _run_fetcher(evidence, lambda_context, receive_count=fetcher.MAX_RECEIVES)
    assert result["batchItemFailures"] == []  # parked, so the poller deletes it from the fetch queue
    dead = boto3.client("sqs").receive_message(
        QueueUrl=evidence.queue_urls["FetchDeadLetterQueue"], MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in dead] == [job["Body"]]
    attributes = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert attributes == {
        "reason": "DependencyUnavailable: s3 put_object failed (see the fetcher's log)",
        "oa_id": demo_oa().oa_id,
    }
    assert _receive(evidence) == []


# -- confidentiality ------------------------------------------------------------------------------
def test_no_media_bytes_or_links_in_logs_table_or_queue(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    marker = f"CANARY{secrets.token_hex(6).upper()}"
    content = b"\xff\xd8\xff\xe0" + marker.encode() + secrets.token_bytes(256) + marker.encode()
    cdn.media[f"{marker}.jpg"] = content
    _send(lambda_context, "image", f"{cdn.url}/media/{marker}.jpg?sig={marker}", text=f"xem {marker}")
    _send(lambda_context, "file", f"{cdn.url}/status/410?{marker}", text=f"tệp {marker}")
    bodies = [m["Body"] for m in _peek(evidence)]
    assert len(bodies) == 2
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    tip_id = _only_tip_id()
    statuses = sorted(r.status.value for r in _records(tip_id))
    assert statuses == ["not_retrieved", "retrieved"]

    logs = captured_logs.getvalue()
    assert "attachment stored" in logs  # the logs were captured
    everything = [logs, *bodies, *(item_text(item) for item in table_items(evidence))]
    for text in everything:
        assert marker not in text
        assert cdn.host not in text
        assert "/media/" not in text
    # The bytes themselves: nowhere but the encrypted object.
    sample = content[4:40].decode("latin-1")
    assert all(sample not in text for text in everything)


# -- policy and adapter units ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n0000", "image/png"),
        (b"GIF87a..", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00", "video/quicktime"),
        (b"\x1aE\xdf\xa3\x01", "video/webm"),
        (b"#!AMR\n\x3c", "audio/amr"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        (b"%PDF-1.4", "application/pdf"),
        (b"PK\x03\x04\x14\x00", "application/zip"),
        (b"MZ\x90\x00", "application/x-msdownload"),
        (b"<html><script>", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_content_is_sniffed_from_its_first_bytes(head: bytes, expected: str) -> None:
    assert policy.sniff(head) == expected


def test_allowed_hosts_are_zalo_suffixes_and_explicit_local_entries() -> None:
    allowed = ("zdn.vn", "zadn.vn", "zalo.me")
    assert policy.host_allowed("photo-stal-1.zdn.vn", None, allowed, ())
    assert policy.host_allowed("dl.zalo.me", 443, allowed, ())
    assert not policy.host_allowed("zdn.vn.evil.com", None, allowed, ())
    assert not policy.host_allowed("evilzdn.vn", None, allowed, ())
    assert not policy.host_allowed("127.0.0.1", 8901, allowed, ())
    assert policy.host_allowed("127.0.0.1", 8901, allowed, ("127.0.0.1:8901",))
    assert not policy.host_allowed("127.0.0.1", 8902, allowed, ("127.0.0.1:8901",))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert policy.address_refused(address) is not None


def test_public_addresses_pass() -> None:
    assert policy.address_refused("203.162.4.190") is None
    assert policy.address_refused("2001:4860:4860::8888") is None


def test_local_hosts_are_never_configured_by_default_and_refused_in_prod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tipline.config import Settings

    base = {
        "TABLE_NAME": "t",
        "REPLIES_QUEUE_URL": "q",
        "SPILL_QUEUE_URL": "s",
        "KMS_KEY_ID": "k",
        "PEPPER_SECRET_ID": "p",
        "APP_SECRET_PREFIX": "a/",
        "URGENT_TOPIC_ARN": "u",
    }
    assert Settings.from_env(base).media_local_hosts == ()
    with pytest.raises(ValueError, match="never prod"):
        Settings.from_env({**base, "STAGE": "prod", "MEDIA_LOCAL_HOSTS": '["127.0.0.1:8901"]'})


class _NoNetwork(httpx.BaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise AssertionError("no request may be made")


@pytest.mark.parametrize(
    ("url", "failure"),
    [
        ("http://photo-stal-1.zdn.vn/a.jpg", Failure.INSECURE_LINK),
        ("https://photo-stal-1.zdn.vn:8443/a.jpg", Failure.HOST_NOT_ALLOWED),
        ("https://user:pw@photo-stal-1.zdn.vn/a.jpg", Failure.BAD_LINK),
        ("https://example.com/a.jpg", Failure.HOST_NOT_ALLOWED),
        ("file:///etc/passwd", Failure.BAD_LINK),
        ("https://metadata.zdn.vn/latest", Failure.PRIVATE_ADDRESS),
    ],
)
def test_links_are_checked_before_any_request(url: str, failure: Failure) -> None:
    transport = _NoNetwork()
    limits = media.MediaLimits(("zdn.vn",), (), 1024, 1.0, 1.0, 1.0, 3, NETWORK_RULES)

    def dns(host: str, port: int) -> list[str]:  # a fake DNS answer: a Zalo name pointing inside
        return ["169.254.169.254"] if host == "metadata.zdn.vn" else ["203.162.4.190"]

    with pytest.raises(media.MediaFetchFailed) as refused:
        media.download(url, limits, resolver=dns, transport=transport)
    assert refused.value.failure is failure
    assert transport.requests == []


def test_backoff_grows_and_stops() -> None:
    import random

    rng = random.Random(7)
    delays = [policy.decide(Failure.CDN_ERROR, n, 5, rng).delay_seconds for n in range(1, 5)]
    assert delays == sorted(delays)
    assert delays[0] <= 30 < delays[-1] <= 900
    assert not policy.decide(Failure.CDN_ERROR, 5, 5).retry
    assert not policy.decide(Failure.LINK_EXPIRED, 1, 5).retry


# -- retention and erasure -------------------------------------------------------------------------
def test_evidence_follows_the_tip_retention_and_is_purged_with_it(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    from tipline.evidence.service import evidence_retention, purge_tip_evidence

    records = _fetch_every_kind(evidence, cdn, lambda_context)
    tip = table().get_tip(_only_tip_id())
    assert tip is not None
    s3 = boto3.client("s3")
    bucket, record = _bucket(evidence), records["image"]
    pinned = {"Bucket": bucket, "Key": record.s3_key, "VersionId": record.s3_version_id}
    assert s3.head_object(**pinned)["ObjectLockLegalHoldStatus"] == "ON", "an open tip's evidence is held"

    keep_until = int(clock.now_s()) + 86_400
    assert evidence_retention(get_settings(), tip, keep_until=keep_until) == 5
    assert s3.get_object_tagging(**pinned)["TagSet"] == [{"Key": "retention", "Value": "closed"}]
    head = s3.head_object(**pinned)
    assert head["ObjectLockLegalHoldStatus"] == "OFF"
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"].timestamp() >= keep_until

    assert evidence_retention(get_settings(), tip, keep_until=None) == 5  # legal hold / reopened
    assert s3.get_object_tagging(**pinned)["TagSet"] == [{"Key": "retention", "Value": "open"}]
    assert s3.head_object(**pinned)["ObjectLockLegalHoldStatus"] == "ON"
    assert len(_objects(evidence)) == 5, "marked in place: no version was added"
    assert purge_tip_evidence(get_settings(), tip.tip_id) == 5
    assert _objects(evidence) == []


def _expire_noncurrent_versions(bucket: str) -> int:
    """What the bucket's ForgetDeletedVersions lifecycle rule does once 7 days have passed: delete
    every noncurrent version it may (it has no governance bypass, so a locked version stays)."""
    s3 = boto3.client("s3")
    listing = s3.list_object_versions(Bucket=bucket, Prefix="evidence/")
    versions = listing.get("Versions", [])
    noncurrent = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions if not v["IsLatest"]]
    if not noncurrent:
        return 0
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": noncurrent, "Quiet": True})
    return len(noncurrent) - len(answer.get("Errors", []))


def test_an_evidence_link_still_opens_weeks_after_the_tip_was_closed_held_and_released(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    """Issue 14.4: retention must not make the pinned version noncurrent (the lifecycle then deletes it)."""
    content = SAMPLES["image"][0]
    cdn.media["kept"] = content
    _send(lambda_context, "image", f"{cdn.url}/media/kept")
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    tip_id = _only_tip_id()
    [record] = _records(tip_id)
    unit = demo_oa().unit_id
    officer = claims(unit, subject="officer-7")
    commander = claims(unit, role="commander", subject="commander-1")
    tip_path = f"/v1/tips/{tip_id}"
    daily = load_event("schedule/daily.json")
    start = clock.now_s()

    for who, change in (
        (officer, {"status": "in_progress"}),
        (officer, {"status": "resolved"}),  # closed: its retention starts
        (commander, {"legal_hold": True}),
        (commander, {"legal_hold": False}),
    ):
        status, answer = call(lambda_context, "PATCH", tip_path, who, body=change)
        assert status == 200, answer
    assert retention_sweeper.handler(daily, lambda_context)["deleted"] == 0

    with clock.use(lambda: start + 8 * DAY_SECONDS):  # a week and a day on, well inside retention
        assert retention_sweeper.handler(daily, lambda_context)["deleted"] == 0
        _expire_noncurrent_versions(_bucket(evidence))
        path = f"{tip_path}/attachments/{record.attachment_id}"
        status, link = call(lambda_context, "GET", path, officer, {"reason": "court file"})
    assert status == 200, link
    assert link["url"] is not None
    opened = httpx.get(link["url"])
    assert opened.status_code == 200, opened.text
    assert opened.content == content


def test_evidence_cannot_be_replaced_or_removed_before_its_retention_ends(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    from botocore.exceptions import ClientError

    content = SAMPLES["image"][0]
    cdn.media["locked"] = content
    _send(lambda_context, "image", f"{cdn.url}/media/locked")
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    tip_id = _only_tip_id()
    [record] = _records(tip_id)
    s3, bucket = boto3.client("s3"), _bucket(evidence)
    pinned = {"Bucket": bucket, "Key": record.s3_key, "VersionId": record.s3_version_id}
    officer = claims(demo_oa().unit_id, subject="officer-7")
    link_path = f"/v1/tips/{tip_id}/attachments/{record.attachment_id}"

    def opened() -> bytes:
        status, link = call(lambda_context, "GET", link_path, officer, {"reason": "court file"})
        assert status == 200, link
        return httpx.get(link["url"]).content

    def refused_delete() -> bool:
        try:
            s3.delete_object(**pinned)  # anyone without the sweeper's governance bypass
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "AccessDenied"
        return False

    assert refused_delete(), "open tip: the version is on legal hold"
    s3.put_object(Bucket=bucket, Key=record.s3_key, Body=b"replaced")  # an overwrite is a new version
    assert opened() == content

    for change in ({"status": "in_progress"}, {"status": "resolved"}):
        assert call(lambda_context, "PATCH", f"/v1/tips/{tip_id}", officer, body=change)[0] == 200
    closed = table().get_tip(tip_id)
    assert closed is not None and closed.closed_at_ms is not None
    head = s3.head_object(**pinned)
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "OFF")
    retention_ends = closed.closed_at_ms // 1000 + get_settings().retention_days * DAY_SECONDS
    assert head["ObjectLockRetainUntilDate"].timestamp() >= retention_ends
    assert refused_delete(), "closed tip: locked until its retention ends"
    assert _expire_noncurrent_versions(bucket) == 0, "the lifecycle cannot remove a locked version"
    assert opened() == content

    with clock.use(lambda: retention_ends + DAY_SECONDS):
        assert retention_sweeper.handler(load_event("schedule/daily.json"), lambda_context)["deleted"] == 1
    assert _objects(evidence) == [], "at the end of retention the sweeper removes every version"


def test_a_message_erased_before_the_fetch_is_not_fetched(
    evidence: Provisioned, cdn: Cdn, lambda_context: Any
) -> None:
    cdn.media["erased"] = SAMPLES["image"][0]
    _send(lambda_context, "image", f"{cdn.url}/media/erased")
    tip_id = _only_tip_id()
    [entry] = [e for e in table().thread(f"TIP#{tip_id}") if e.direction.value == "in"]
    table().erase_sealed(f"TIP#{tip_id}", entry.entry_key)
    assert _run_fetcher(evidence, lambda_context)["batchItemFailures"] == []
    [record] = _records(tip_id)
    assert (record.status, record.reason) == (AttachmentStatus.NOT_RETRIEVED, Failure.MESSAGE_GONE.value)
    assert cdn.hits == []
    assert _objects(evidence) == []
