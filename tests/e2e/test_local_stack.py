"""The local stack: its pieces in-process (HTTP front, queue pump, scheduler, tokens), then the whole
stack end to end as a subprocess started with the console command `make dev` runs, over HTTP only."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fixtures.local_stack import CODE, OA, StackProcess, stack_command, wait_for
from tipline import clock as tipline_clock
from tipline.intake.signature import header_value
from tipline_local import auth
from tipline_local.accounts import demo_accounts
from tipline_local.emulator import free_port, spawn_emulator
from tipline_local.http_front import HttpFront, Route, as_api_gateway_claims
from tipline_local.provision import Provisioned, emulator_client
from tipline_local.pump import QueuePump, QueueSource
from tipline_local.samples import zalo_body
from tipline_local.scheduler import Schedule, cron_due, scheduled_event
from tipline_local.stack import read_event_sources, shared_environment
from tipline_local.template import load_template
from werkzeug.test import Client

ROOT = Path(__file__).resolve().parents[2]
_PUBLIC = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- HTTP front, in-process -------------------------------------------------------------------------------
@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "dev-signing-key.pem"


class Recorder:
    def __init__(self, answer: Any = None, fail: bool = False) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.answer = answer if answer is not None else {"statusCode": 200, "body": "{}"}
        self.fail = fail

    def __call__(self, route: Route, event: dict[str, Any]) -> Any:
        self.events.append((route.template, event))
        if self.fail:
            raise RuntimeError("the function failed")
        return self.answer


def _front(recorder: Recorder, key_path: Path) -> Client:
    routes = [
        Route("GET", "/v1/tips/{tip_id}", "Officer", "h", authorizer="OfficerJwt"),
        Route("GET", "/v1/tips/export", "Officer", "h", authorizer="OfficerJwt"),
        Route("GET", "/v1/tips", "Officer", "h", authorizer="OfficerJwt"),
        Route("ANY", "/files/{path+}", "Files", "h"),
        Route("POST", "/webhooks/zalo", "Webhook", "h"),
    ]
    return Client(HttpFront(routes, recorder, lambda token: auth.verify(token, key_path)))


def test_a_request_becomes_the_payload_2_0_event_sam_generates(key_path: Path) -> None:
    recorder = Recorder()
    client = _front(recorder, key_path)
    client.set_cookie("session", "abc", domain="localhost")
    client.post(
        "/webhooks/zalo?a=1&a=2&b=x%20y",
        data='{"text":"Xin chào"}'.encode(),
        headers=[("Content-Type", "application/json"), ("X-Multi", "one"), ("X-Multi", "two")],
    )
    ((template, event),) = recorder.events
    assert template == "/webhooks/zalo"
    # The keys of `sam local generate-event apigateway http-api-proxy` (less mTLS and stage variables).
    assert set(event) == {
        "version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
        "queryStringParameters", "requestContext", "body", "isBase64Encoded",
    }  # fmt: skip
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/zalo"
    assert event["rawPath"] == "/webhooks/zalo"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["cookies"] == ["session=abc"]
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"].replace(" ", "") == "one,two"  # joined, as API Gateway joins
    assert event["body"] == '{"text":"Xin chào"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert set(context) == {
        "accountId", "apiId", "domainName", "domainPrefix", "http", "requestId", "routeKey", "stage",
        "time", "timeEpoch",
    }  # fmt: skip
    assert set(context["http"]) == {"method", "path", "protocol", "sourceIp", "userAgent"}
    assert context["http"]["method"] == "POST"
    assert context["routeKey"] == "POST /webhooks/zalo"
    assert context["stage"] == "$default"
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 3600
    assert re.fullmatch(r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])

    client.post("/webhooks/zalo", data=b"\x89PNG\x00\xff", headers=[("Content-Type", "image/png")])
    binary = recorder.events[-1][1]
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x89PNG\x00\xff"
    assert recorder.events[-1][1]["requestContext"]["requestId"] != context["requestId"]


def test_the_most_specific_route_wins_and_others_are_404(key_path: Path) -> None:
    recorder = Recorder()
    client = _front(recorder, key_path)
    token = {"Authorization": "Bearer " + auth.issue_token("u1", "officer", key=auth.signing_key(key_path))}
    client.get("/v1/tips/export", headers=token)
    client.get("/v1/tips/T123", headers=token)
    client.delete("/files/a/b/c.txt")
    assert [(t, e.get("pathParameters")) for t, e in recorder.events] == [
        ("/v1/tips/export", None),
        ("/v1/tips/{tip_id}", {"tip_id": "T123"}),
        ("/files/{path+}", {"path": "a/b/c.txt"}),
    ]
    for method, path in (("GET", "/webhooks/zalo"), ("GET", "/nowhere"), ("PUT", "/v1/tips")):
        answer = client.open(path, method=method)
        assert answer.status_code == 404
        assert answer.get_json() == {"message": "Not Found"}
    assert len(recorder.events) == 3


def test_jwt_routes_refuse_bad_tokens_before_the_function_and_pass_claims_as_strings(
    key_path: Path,
) -> None:
    recorder = Recorder()
    client = _front(recorder, key_path)
    key = auth.signing_key(key_path)
    good = auth.issue_token("pc02-hoan-kiem", "commander", subject="chief", key=key)
    expired = auth.issue_token("pc02-hoan-kiem", "officer", expires_in=-60, key=key)
    foreign = auth.issue_token("pc02-hoan-kiem", "officer", key=auth.new_key())
    wrong_audience = jwt.encode(
        {**jwt.decode(good, options={"verify_signature": False}), "aud": "someone-else"}, key, "RS256"
    )
    for header in (None, "Bearer", "Bearer garbage", f"Bearer {expired}", f"Bearer {foreign}",
                   f"Bearer {wrong_audience}", "Basic dXNlcjpwYXNz"):  # fmt: skip
        answer = client.get("/v1/tips", headers={"Authorization": header} if header else {})
        assert answer.status_code == 401, header
        assert answer.get_json() == {"message": "Unauthorized"}
    assert recorder.events == []

    client.get("/v1/tips", headers={"Authorization": f"Bearer {good}"})
    client.get("/v1/tips", headers={"Authorization": good})  # API Gateway takes it without "Bearer" too
    (_, event), _ = recorder.events
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert claims["cognito:groups"] == "[commander]"
    assert claims["custom:unit_id"] == "pc02-hoan-kiem"
    assert claims["token_use"] == "id"
    assert claims["sub"] == claims["cognito:username"] == "chief"
    assert all(isinstance(value, str) for value in claims.values())
    assert jwt_context["scopes"] is None  # an ID token carries no scopes


def test_answers_go_back_as_api_gateway_sends_them(key_path: Path) -> None:
    answers = {
        "cookies": {"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["a=1", "b=2"], "body": "ok"},
        "binary": {
            "statusCode": 200,
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        },
        "bare": {"items": []},
        "malformed": {"statusCode": "two hundred", "body": "x"},
    }
    for name, answer in answers.items():
        response = _front(Recorder(answer), key_path).post("/webhooks/zalo", data=b"{}")
        if name == "cookies":
            assert (response.status_code, response.data) == (201, b"ok")
            assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
            assert response.headers["x-a"] == "1"
        elif name == "binary":
            assert response.data == b"\x00\x01"
        elif name == "bare":  # no statusCode: the whole answer is a 200 JSON body
            assert (response.status_code, response.get_json()) == (200, {"items": []})
        else:
            assert (response.status_code, response.get_json()) == (500, {"message": "Internal Server Error"})
    failing = _front(Recorder(fail=True), key_path).post("/webhooks/zalo", data=b"{}")
    assert (failing.status_code, failing.get_json()) == (500, {"message": "Internal Server Error"})


def test_a_function_failure_is_logged_with_the_request_id_it_answered_with(
    key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder(fail=True)
    failing = _front(recorder, key_path).post("/webhooks/zalo", data=b'{"text": "canary-front-3391"}')
    request_id = failing.headers["apigw-requestid"]
    assert request_id == recorder.events[-1][1]["requestContext"]["requestId"], "the id the function saw"
    printed = capsys.readouterr().out
    assert f"request {request_id}" in printed
    assert "RuntimeError at " in printed and "test_local_stack.py:" in printed
    assert "the function failed" not in printed and "canary" not in printed, "type and place, never text"


def test_claims_render_arrays_as_api_gateway_does() -> None:
    assert as_api_gateway_claims({"cognito:groups": ["officer", "commander"], "exp": 17}) == {
        "cognito:groups": "[officer commander]",
        "exp": "17",
    }


# -- tokens -----------------------------------------------------------------------------------------------
def test_local_tokens_verify_and_bad_ones_do_not(key_path: Path) -> None:
    key = auth.signing_key(key_path)
    claims = auth.verify(auth.issue_token("pc02-hoan-kiem", "officer", key=key), key_path)
    assert claims["cognito:groups"] == ["officer"]
    assert claims["exp"] - claims["iat"] == 3600
    with pytest.raises(auth.InvalidToken):
        auth.verify(auth.issue_token("u", "officer", expires_in=-1, key=key), key_path)
    with pytest.raises(auth.InvalidToken):
        auth.verify(auth.issue_token("u", "officer", key=auth.new_key()), key_path)
    with pytest.raises(ValueError, match="role"):
        auth.issue_token("u", "janitor")


def test_processes_creating_the_key_at_once_agree_on_one(key_path: Path) -> None:
    keys: list[bytes] = []

    def create() -> None:
        keys.append(auth.signing_key(key_path).public_key().public_bytes(*_PUBLIC))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in key_path.parent.iterdir()] == [key_path.name]


def test_the_token_command_prints_a_token_the_front_accepts() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tipline_local.cli", "token", "--unit", "pc08-traffic", "--role", "commander"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}"},
    )
    claims = auth.verify(run.stdout.strip())
    assert (claims["custom:unit_id"], claims["cognito:groups"]) == ("pc08-traffic", ["commander"])


# -- queue pump, in-process against moto ------------------------------------------------------------------
def _queue(
    endpoint: str, fifo: bool = False, max_receives: int | None = None, visibility: int = 1
) -> tuple[str, str, str]:
    sqs = emulator_client(endpoint, "sqs")
    name = f"pump-{uuid.uuid4().hex[:10]}"
    attributes = {"VisibilityTimeout": str(visibility)}
    dlq_url = ""
    if max_receives:
        dlq_url = sqs.create_queue(QueueName=name + "-dlq" + (".fifo" if fifo else ""),
                                   Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]  # fmt: skip
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": max_receives}
        )
    if fifo:
        attributes["FifoQueue"] = "true"
    url = sqs.create_queue(QueueName=name + (".fifo" if fifo else ""), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq_url


def _send(endpoint: str, url: str, bodies: list[str], group: str | None = None) -> None:
    sqs = emulator_client(endpoint, "sqs")
    for body in bodies:
        extra = {"MessageGroupId": group, "MessageDeduplicationId": body} if group else {}
        sqs.send_message(QueueUrl=url, MessageBody=body, **extra)


def _pump(endpoint: str, url: str, arn: str, consumer: Any, batch: int = 10, pollers: int = 1) -> QueuePump:
    source = QueueSource("Consumer", "h", "Q", batch_size=batch, report_failures=True)
    return QueuePump(emulator_client(endpoint, "sqs"), url, arn, source, consumer, threading.Event(), pollers)


def _until_empty(endpoint: str, *urls: str) -> bool:
    sqs = emulator_client(endpoint, "sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    return all(
        sum(int(v) for v in sqs.get_queue_attributes(QueueUrl=u, AttributeNames=names)["Attributes"].values())
        == 0
        for u in urls
    )


def _run(pump: QueuePump, done: Any, seconds: float = 30) -> None:
    threads = pump.threads()
    for thread in threads:
        thread.start()
    try:
        wait_for(done, seconds, "the pump")
    finally:
        pump._stopping.set()
        for thread in threads:
            thread.join(10)
    assert not any(t.is_alive() for t in threads)


def test_pump_deletes_only_successes_and_failures_come_back(moto_endpoint: str) -> None:
    url, arn, _ = _queue(moto_endpoint)
    _send(moto_endpoint, url, [f"m{i}" for i in range(5)])
    seen: list[str] = []
    batch_sizes: list[int] = []

    def consumer(event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        batch_sizes.append(len(records))
        seen.extend(r["body"] for r in records)
        failed = [r for r in records if r["body"] == "m2" and seen.count("m2") == 1]
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed]}

    pump = _pump(moto_endpoint, url, arn, consumer, batch=3)
    _run(pump, lambda: seen.count("m2") == 2 and _until_empty(moto_endpoint, url))
    assert sorted(seen) == ["m0", "m1", "m2", "m2", "m3", "m4"]  # only m2 came back, once
    assert max(batch_sizes) <= 3


def test_pump_returns_the_whole_batch_when_the_function_fails_or_answers_nonsense(
    moto_endpoint: str,
) -> None:
    url, arn, _ = _queue(moto_endpoint)
    _send(moto_endpoint, url, ["a", "b"])
    calls: list[list[str]] = []

    def consumer(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(sorted(r["body"] for r in event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("function error")
        if len(calls) == 2:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return {"batchItemFailures": []}

    _run(
        _pump(moto_endpoint, url, arn, consumer), lambda: len(calls) >= 3 and _until_empty(moto_endpoint, url)
    )
    assert sum(c.count("a") for c in calls) == sum(c.count("b") for c in calls) == 3


def test_pump_leaves_poison_to_the_queue_s_dlq_after_max_receive_count(moto_endpoint: str) -> None:
    url, arn, dlq = _queue(moto_endpoint, max_receives=2)
    _send(moto_endpoint, url, ["poison", "fine"])
    seen: list[str] = []

    def consumer(event: dict[str, Any]) -> dict[str, Any]:
        seen.extend(r["body"] for r in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "poison"]}  # fmt: skip

    sqs = emulator_client(moto_endpoint, "sqs")
    dead: list[dict[str, Any]] = []

    def in_dlq() -> bool:
        dead.extend(sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []))
        return bool(dead)

    _run(_pump(moto_endpoint, url, arn, consumer), lambda: seen.count("poison") >= 2 and in_dlq())
    assert [m["Body"] for m in dead] == ["poison"]
    assert seen.count("poison") == 2  # received maxReceiveCount times, then moved on the next receive
    assert seen.count("fine") == 1


def test_pump_keeps_each_fifo_group_in_order_with_several_pollers(moto_endpoint: str) -> None:
    # Nothing fails here, so nothing should come back: a visibility timeout no stall on a loaded
    # machine outlasts (with 1 s, a batch slower than that was handed out twice).
    url, arn, _ = _queue(moto_endpoint, fifo=True, visibility=60)
    for group in ("g1", "g2", "g3"):
        _send(moto_endpoint, url, [f"{group}-{i:02d}" for i in range(8)], group=group)
    order: list[str] = []
    in_flight: set[str] = set()
    overlaps: list[str] = []
    running = [0]
    most_at_once = [0]
    changed = threading.Condition()

    def consumer(event: dict[str, Any]) -> dict[str, Any]:
        groups = {r["attributes"]["MessageGroupId"] for r in event["Records"]}
        with changed:
            overlaps.extend(groups & in_flight)
            in_flight.update(groups)
            running[0] += 1
            most_at_once[0] = max(most_at_once[0], running[0])
            changed.notify_all()
            # Hold the batch until another poller runs one too (the overlap the claim is about);
            # bounded, for the last batches, when no other group is left to hand out.
            changed.wait_for(lambda: running[0] > 1, timeout=2)
            order.extend(r["body"] for r in event["Records"])
            in_flight.difference_update(groups)
            running[0] -= 1
        return {"batchItemFailures": []}

    pump = _pump(moto_endpoint, url, arn, consumer, batch=3, pollers=3)
    _run(pump, lambda: len(order) == 24 and _until_empty(moto_endpoint, url))
    for group in ("g1", "g2", "g3"):
        assert [b for b in order if b.startswith(group)] == [f"{group}-{i:02d}" for i in range(8)]
    assert most_at_once[0] > 1  # batches really ran at the same time ...
    assert overlaps == []  # ... and never two batches of one group at once


# -- wiring and schedules ---------------------------------------------------------------------------------
def test_routes_queues_and_schedules_come_from_the_template() -> None:
    wiring = read_event_sources(load_template())
    assert ("POST", "/webhooks/zalo") in {(r.method, r.template) for r in wiring.routes}
    assert all(r.authorizer == "OfficerJwt" for r in wiring.routes if r.template.startswith("/v1"))
    assert not any(r.authorizer for r in wiring.routes if r.template.startswith("/webhooks"))
    replies = next(q for q in wiring.queues if q.queue == "RepliesQueue")
    assert replies.report_failures
    assert {q.queue for q in wiring.queues} >= {"RepliesQueue", "IntakeSpillQueue", "FetchQueue"}
    assert {s.function for s in wiring.schedules} >= {"RetentionSweeperFunction"}


def test_functions_share_one_environment_unless_they_disagree(stack: Provisioned) -> None:
    shared = shared_environment(stack.environments)
    for variables in stack.environments.values():
        assert variables.items() <= shared.items()
    with pytest.raises(ValueError, match="TABLE_NAME differs between A and B"):
        shared_environment({"A": {"TABLE_NAME": "t1"}, "B": {"TABLE_NAME": "t2"}})


@pytest.mark.parametrize(
    ("expression", "moment", "due"),
    [
        ("cron(30 2 * * ? *)", "2026-11-28T02:30", True),
        ("cron(30 2 * * ? *)", "2026-11-28T02:31", False),
        ("cron(0/15 * * * ? *)", "2026-11-28T10:45", True),
        ("cron(0 6 ? * MON-FRI *)", "2026-11-30T06:00", True),  # a Monday
        ("cron(0 6 ? * MON-FRI *)", "2026-11-29T06:00", False),  # a Sunday
        ("cron(0 6 ? * 2-6 *)", "2026-11-30T06:00", True),
        ("cron(0 8 1 JAN,JUL ? *)", "2026-07-01T08:00", True),
        ("cron(0 8 1 JAN,JUL ? 2027)", "2026-07-01T08:00", False),
        ("cron(*/20 9-17 ? * * *)", "2026-11-28T17:40", True),
    ],
)
def test_cron_expressions_match_eventbridge_fields(expression: str, moment: str, due: bool) -> None:
    assert cron_due(expression, datetime.fromisoformat(moment)) is due


def test_schedules_run_in_their_time_zone_with_their_input() -> None:
    # 02:30 in Vietnam is 19:30 UTC the day before.
    vietnam = datetime.fromisoformat("2026-11-27T19:30+00:00").astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert cron_due("cron(30 2 * * ? *)", vietnam)
    assert Schedule("F", "h", "rate(5 minutes)").period == 300
    assert Schedule("F", "h", "rate(1 hour)").period == 3600
    assert Schedule("F", "h", "cron(0 1 * * ? *)").period is None
    event = scheduled_event(Schedule("F", "h", "rate(1 hour)"), "ap-southeast-1")
    assert (event["source"], event["detail-type"]) == ("aws.scheduler", "Scheduled Event")
    assert scheduled_event(Schedule("F", "h", "rate(1 hour)", input='{"k": 1}'), "x") == {"k": 1}


# -- the whole stack as a subprocess, over HTTP only ------------------------------------------------------


def _assert_gone(stack: StackProcess, output: str) -> None:
    assert stack.process.returncode == 0, output[-3000:]
    assert output.rstrip().endswith("stopped"), output[-3000:]  # no thread was left running
    with pytest.raises(ProcessLookupError):
        os.killpg(stack.process.pid, 0)  # nothing of its process group is left
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{stack.url}/healthz")


@pytest.mark.e2e
def test_a_signed_webhook_becomes_a_reply_the_simulator_records(running: StackProcess) -> None:
    canary = f"canary-{uuid.uuid4().hex[:12]}"
    user = f"7{uuid.uuid4().int % 10**15:015d}"
    running.citizen_says(user, f"Có người giả danh công an gọi điện lừa chuyển tiền {canary}")
    (ack,) = wait_for(lambda: running.sent_to(user), 60, "the acknowledgement")
    assert CODE.search(ack["text"]) and "113" in ack["text"]
    assert (ack["path"], ack["kind"], ack["oa_id"]) == ("/v3.0/oa/message/cs", "cs", OA)
    output = running.output()
    assert canary not in output and user not in output  # the stack's log holds neither


@pytest.mark.e2e
def test_a_signed_event_stamped_long_ago_is_refused_and_opens_nothing(running: StackProcess) -> None:
    oa = next(account for account in demo_accounts() if account.oa_id == OA)
    user = f"6{uuid.uuid4().int % 10**15:015d}"
    stamped = 1_559_347_200_000  # June 2019: a captured body, replayed
    httpx.post(f"{running.info['zalo']}/_sim/interactions", json={"oa_id": OA, "user_id": user})
    body = json.dumps(
        zalo_body(
            "user_send_text", oa, user_id=user, ts=stamped, text="tin cũ phát lại", msg_id=uuid.uuid4().hex
        ),
        ensure_ascii=False,
    ).encode()
    answer = httpx.post(
        running.info["webhook"],
        content=body,
        headers={
            "content-type": "application/json",
            "x-zevent-signature": header_value(oa.app_id, body, str(stamped), oa.oa_secret_key),
        },
    )
    assert (answer.status_code, answer.json()["status"]) == (200, "refused")
    items = _scan(running.info["aws"], running.info["table"])
    assert not [i for i in items if {"N": str(stamped)} in i.values()], "no contact, tip or message of it"
    # The same citizen writes now: once that answer arrives, an acknowledgement of the stale event
    # (same citizen, same FIFO group, queued first) would have arrived before it.
    running.citizen_says(user, "Xe máy bị trộm ở chợ")
    (ack,) = wait_for(lambda: running.sent_to(user), 60, "the acknowledgement of the fresh message")
    assert CODE.search(ack["text"])
    assert '"WebhookStale"' in running.output(), "counted in a metric"


def _scan(endpoint: str, table: str) -> list[dict[str, Any]]:
    client = emulator_client(endpoint, "dynamodb")
    pages = client.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"]]


@pytest.mark.e2e
def test_officers_work_tips_through_the_front_with_local_tokens(running: StackProcess) -> None:
    user = f"8{uuid.uuid4().int % 10**15:015d}"
    running.citizen_says(user, "Xe máy bị trộm ở chợ")
    (ack,) = wait_for(lambda: running.sent_to(user), 60, "the acknowledgement")
    code = CODE.search(ack["text"]).group(1)  # type: ignore[union-attr]
    api = f"{running.url}/v1"
    own = {"Authorization": "Bearer " + auth.issue_token("pc02-hoan-kiem", "officer")}
    other = {"Authorization": "Bearer " + auth.issue_token("pc08-traffic", "officer")}
    tip = next(t for t in httpx.get(f"{api}/tips", headers=own).json()["items"] if t["code"] == code)
    opened = httpx.get(f"{api}/tips/{tip['tip_id']}", params={"reason": "xác minh"}, headers=own)
    thread = opened.json()
    assert thread["messages"][0]["text"] == "Xe máy bị trộm ở chợ"
    assert (opened.headers["cache-control"], opened.headers["x-content-type-options"]) == (
        "no-store",
        "nosniff",
    )
    assert (
        httpx.get(f"{api}/tips/{tip['tip_id']}", params={"reason": "x y z"}, headers=other).status_code == 404
    )
    reply = httpx.post(
        f"{api}/tips/{tip['tip_id']}/replies", json={"text": "Chúng tôi đang xác minh."}, headers=own
    )
    assert reply.status_code == 202
    wait_for(
        lambda: [m for m in running.sent_to(user) if m["text"] == "Chúng tôi đang xác minh."], 60, "the reply"
    )
    assert (
        httpx.post(f"{api}/tips/{tip['tip_id']}/replies", json={"text": "x"}, headers=other).status_code
        == 404
    )

    expired = auth.issue_token("pc02-hoan-kiem", "officer", expires_in=-60)
    foreign = auth.issue_token("pc02-hoan-kiem", "officer", key=auth.new_key())
    protected = [r for r in read_event_sources(load_template()).routes if r.authorizer]
    assert len(protected) >= 10
    for bad in (None, "Bearer garbage", f"Bearer {expired}", f"Bearer {foreign}"):
        headers = {"Authorization": bad} if bad else {}
        for route in protected:  # every officer route, as API Gateway's JWT authorizer guards them
            path = re.sub(r"\{\w+\}", tip["tip_id"], route.template)
            response = httpx.request(route.method, f"{running.url}{path}", headers=headers, json={})
            assert response.status_code == 401, (bad and bad[:16], route.method, route.template)


@pytest.mark.e2e
def test_tipline_ops_local_practises_runbooks_on_the_running_stack(running: StackProcess) -> None:
    """`tipline-ops --local URL` (docs/operations.md) reads `make dev`'s configuration and acts on it."""
    ops = Path(sys.executable).with_name("tipline-ops")
    command = [str(ops)] if ops.exists() else [sys.executable, "-m", "tipline_ops.cli"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_", "ZALO_"))}
    health = subprocess.run(
        [*command, "--local", running.url, "token-health", "--json"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert health.returncode == 0, health.stderr
    oas = json.loads(health.stdout)["oas"]
    assert OA in {row["oa_id"] for row in oas}
    assert all(row["state"] == "ok" for row in oas)
    assert "Traceback" not in health.stderr


@pytest.mark.e2e
def test_a_schedule_runs_on_demand(running: StackProcess) -> None:
    answer = httpx.post(f"{running.url}/_local/schedules/RetentionSweeperFunction", timeout=60)
    assert answer.status_code == 200
    assert answer.json()["function"] == "RetentionSweeperFunction"
    assert "error" not in answer.json()["result"]
    assert httpx.post(f"{running.url}/_local/schedules/NoSuchFunction").status_code == 404
    assert httpx.get(f"{running.url}/_local/schedules/RetentionSweeperFunction").status_code == 405


@pytest.mark.e2e
def test_an_advisory_reaches_only_those_who_asked_for_it(running: StackProcess) -> None:
    """Followers and those who wrote "NHẬN TIN" get it; who unfollowed, wrote "HỦY" or only sent a
    tip does not, though all wrote within 7 days; the report counts each reason. Only signed
    webhooks from the simulator, the officer API and the stack's own scheduler and pump."""
    oa, unit = "515234109980236671", "pc08-traffic"  # an OA no other test of this stack writes to
    run = uuid.uuid4().int % 10**12
    acts = {
        "follower": [("follow", "")],
        "opted_in": [("user_send_text", "Có người lừa đảo"), ("user_send_text", "NHẬN TIN")],
        "back_by_nhan_tin": [("follow", ""), ("unfollow", ""), ("user_send_text", "nhận tin")],
        "tip_only": [("user_send_text", "Xe máy bị trộm ở chợ")],
        "unfollowed": [("follow", ""), ("user_send_text", "Có trộm"), ("unfollow", "")],
        "wrote_huy": [("follow", ""), ("user_send_text", "HỦY")],
    }
    users = {name: f"6{index}{run:012d}" for index, name in enumerate(acts)}
    for name, events in acts.items():
        for event_name, text in events:
            answer = httpx.post(
                f"{running.info['zalo']}/_sim/citizen",
                json={
                    "oa_id": oa,
                    "user_id": users[name],
                    "text": text,
                    "event_name": event_name,
                    "webhook_url": running.info["webhook"],
                },
                timeout=30,
            ).json()
            assert answer["status"] == 200, (name, event_name, answer)
    api = f"{running.url}/v1"
    officer = {"Authorization": "Bearer " + auth.issue_token(unit, "officer")}
    title = f"Cảnh báo {run}"
    body = {
        "title": title,
        "text": "Không chuyển tiền cho người lạ.",
        "category": "scam",
        "target": {"unit_ids": [unit]},
        "schedule": {"at_ms": tipline_clock.now_ms()},
    }
    created = httpx.post(f"{api}/advisories", json=body, headers=officer)
    assert created.status_code == 201, created.text
    advisory_id = created.json()["advisory_id"]
    ran = httpx.post(f"{running.url}/_local/schedules/AdvisoriesFunction", timeout=60).json()
    assert "error" not in ran["result"], ran

    def settled() -> dict[str, Any] | None:
        shown = httpx.get(f"{api}/advisories/{advisory_id}", headers=officer).json()
        reports = [oa_report for occurrence in shown["report"] for oa_report in occurrence["oas"]]
        return reports[0] if len(reports) == 1 and reports[0]["pending"] == 0 else None

    report = wait_for(settled, 90, "every recipient of the advisory to be accounted for")
    received = {name for name, user in users.items() for m in running.sent_to(user) if title in m["text"]}
    assert received == {"follower", "opted_in", "back_by_nhan_tin"}
    assert report["sent"] == 3 and report["targeted"] == len(users)
    assert {reason: count for reason, count in report["skipped"].items() if count} == {
        "not_subscribed": 1,
        "unfollowed": 1,
        "opted_out": 1,
    }
    assert report["failed"] == {} and report["deferred"] == 0


@pytest.fixture
def external_aws_and_zalo() -> Iterator[dict[str, str]]:
    moto_port, zalo_port = free_port(), free_port()
    moto = spawn_emulator(moto_port)
    simulator = subprocess.Popen(
        [sys.executable, "-m", "tipline_local.zalo_sim", "--port", str(zalo_port)],
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}"},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    aws, zalo = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{zalo_port}"
    try:
        wait_for(lambda: httpx.get(f"{zalo}/_sim/sent").status_code == 200, 60, "the simulator")
        wait_for(lambda: httpx.get(f"{aws}/moto-api/data.json").status_code == 200, 60, "moto")
        yield {"AWS_ENDPOINT_URL": aws, "ZALO_API_BASE_URL": zalo, "ZALO_OAUTH_BASE_URL": zalo}
    finally:
        for process in (simulator, moto):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@pytest.mark.e2e
def test_the_stack_uses_an_external_aws_endpoint_and_zalo_simulator(
    external_aws_and_zalo: dict[str, str],
) -> None:
    stack = StackProcess(external_aws_and_zalo)
    try:
        assert stack.info["aws"] == external_aws_and_zalo["AWS_ENDPOINT_URL"]
        assert stack.info["zalo"] == external_aws_and_zalo["ZALO_API_BASE_URL"]
        tables = emulator_client(stack.info["aws"], "dynamodb").list_tables()["TableNames"]
        assert stack.info["table"] in tables  # provisioned in the external emulator
        stack.citizen_says("7003", "Có cháy ở khu tập thể")
        (ack,) = wait_for(lambda: stack.sent_to("7003"), 60, "the acknowledgement")
        assert "113" in ack["text"]
    finally:
        output = stack.stop(signal.SIGTERM)
    _assert_gone(stack, output)
    # The stack stopped only itself: the external emulator and simulator still answer.
    assert httpx.get(f"{external_aws_and_zalo['ZALO_API_BASE_URL']}/_sim/sent").status_code == 200
    assert emulator_client(external_aws_and_zalo["AWS_ENDPOINT_URL"], "dynamodb").list_tables()["TableNames"]


@pytest.mark.e2e
def test_ctrl_c_leaves_no_process_behind() -> None:
    stack = StackProcess()
    output = stack.stop(signal.SIGINT)
    assert "ready in" in output
    _assert_gone(stack, output)


@pytest.mark.e2e
def test_ctrl_c_during_start_up_stops_the_stack_once_it_is_up() -> None:
    """Signals are caught from the first moment: one that lands before the stack is ready is not lost
    (nor a KeyboardInterrupt in the middle of starting): the stack finishes starting, then stops."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            stack_command(),
            cwd=ROOT,
            env={**os.environ, "TIPLINE_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def starting() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the stack exited with {process.returncode}")
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 503

        wait_for(starting, 120, "the front to answer 503 while starting")
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
        log.seek(0)
        output = log.read().decode(errors="replace")
    assert process.returncode == 0, output[-3000:]
    assert "ready in" in output, output[-3000:]
    assert output.rstrip().endswith("stopped"), output[-3000:]
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
