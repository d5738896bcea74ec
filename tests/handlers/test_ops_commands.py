"""tipline-ops commands against the local emulator: each works, and bad input exits 2 changing nothing."""

from __future__ import annotations

import csv
import http.server
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fixtures.webhook import deliver, demo_oa, items_with_prefix, text_event
from tipline import wiring
from tipline.adapters import secrets
from tipline.intake.pseudonym import pseudonym
from tipline_local.provision import Provisioned
from tipline_ops.cli import main

USER = "246845883529197922"
OTHER_USER = "8123450099887766"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def secrets_file(tmp_path: Path, **values: str) -> str:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(values), "utf-8")
    return str(path)


# ------------------------------------------------------------------------------ register-oa
def test_register_oa_stores_the_registry_entry_and_the_apps_secrets(
    stack: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = secrets_file(tmp_path, oa_secret_key="canary-oa-key-5521", app_secret="canary-app-secret-5521")
    argv = ["register-oa", "--oa", "700000000000000001", "--app-id", "700000000000000009"]
    code, out, _ = run(
        [*argv, "--unit-id", "pc-ba-dinh", "--unit-name", "Ba Đình", "--secrets-file", path], capsys
    )
    assert code == 0
    assert "registered" in out
    assert "canary" not in out
    account = wiring.table().get_oa("700000000000000001")
    assert account is not None
    assert (account.app_id, account.unit_id, account.unit_name) == (
        "700000000000000009",
        "pc-ba-dinh",
        "Ba Đình",
    )
    stored = secrets.secret_json(stack.env("WebhookFunction")["APP_SECRET_PREFIX"] + "700000000000000009", 0)
    assert stored == {"oa_secret_key": "canary-oa-key-5521", "app_secret": "canary-app-secret-5521"}


def test_app_secrets_are_encrypted_with_the_project_key_not_the_account_default(
    stack: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new secret is created under the project key; one an older version left under the default
    aws/secretsmanager key moves to the project key when its values are given again."""
    prefix = stack.env("WebhookFunction")["APP_SECRET_PREFIX"]
    project_key = stack.env("WebhookFunction")["KMS_KEY_ID"]
    client = boto3.client("secretsmanager")
    client.create_secret(Name=prefix + "700000000000000019", SecretString="{}")  # the default key
    path = secrets_file(tmp_path, oa_secret_key="k-1", app_secret="s-1")
    for oa, app in (
        ("700000000000000001", "700000000000000009"),
        ("700000000000000011", "700000000000000019"),
    ):
        argv = ["register-oa", "--oa", oa, "--app-id", app, "--unit-id", "pc-ba-dinh", "--secrets-file", path]
        assert run(argv, capsys)[0] == 0
        assert client.describe_secret(SecretId=prefix + app).get("KmsKeyId") == project_key, app
        assert secrets.secret_json(prefix + app, 0) == {"oa_secret_key": "k-1", "app_secret": "s-1"}


def test_register_oa_updates_an_existing_oa_without_touching_its_secrets(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    prefix = stack.env("WebhookFunction")["APP_SECRET_PREFIX"]
    before = secrets.secret_json(prefix + oa.app_id, 0)
    code, out, _ = run(
        ["register-oa", "--oa", oa.oa_id, "--app-id", oa.app_id, "--unit-id", "pc-moved"], capsys
    )
    assert code == 0
    assert "updated" in out
    account = wiring.table().get_oa(oa.oa_id)
    assert account is not None
    assert account.unit_id == "pc-moved"
    assert account.unit_name == oa.unit_name  # kept when not given
    assert secrets.secret_json(prefix + oa.app_id, 0) == before


@pytest.mark.parametrize(
    ("extra", "secrets_json", "message"),
    [
        (["--oa", "not-a-number", "--app-id", "1", "--unit-id", "u"], None, "numeric"),
        (["--oa", "7001", "--app-id", "1", "--unit-id", "bad unit!"], None, "--unit-id"),
        (["--oa", "7001", "--app-id", "7009", "--unit-id", "u"], None, "has no secrets yet"),
        (["--oa", "7001", "--app-id", "7009", "--unit-id", "u"], {"oa_secret_key": "k"}, "must be"),
        (
            ["--oa", "7001", "--app-id", "7009", "--unit-id", "u"],
            {"oa_secret_key": "k", "app_secret": " "},
            "empty",
        ),
    ],
)
def test_register_oa_refuses_bad_input_and_changes_nothing(
    stack: Provisioned,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    secrets_json: dict[str, str] | None,
    message: str,
) -> None:
    argv = ["register-oa", *extra]
    if secrets_json is not None:
        argv += ["--secrets-file", secrets_file(tmp_path, **secrets_json)]
    before = wiring.table().list_oas()
    code, out, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert out == ""
    assert wiring.table().list_oas() == before
    with pytest.raises(Exception, match="not found"):
        secrets.secret_json(stack.env("WebhookFunction")["APP_SECRET_PREFIX"] + "7009", 0)


# ------------------------------------------------------------------------------ dlq-inspect
def _dead_letter(stack: Provisioned, queue: str) -> str:
    return stack.queue_urls[queue]


def test_dlq_inspect_lists_ids_counts_ages_and_reasons_never_bodies(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs")
    dlq = _dead_letter(stack, "IntakeSpillDeadLetterQueue")
    body = json.dumps(
        {"v": 1, "sealed": "canary-sealed-bytes-8812", "reason": "store_failed", "spilled_ms": 1}
    )
    sent = {sqs.send_message(QueueUrl=dlq, MessageBody=body)["MessageId"] for _ in range(3)}
    sent.add(sqs.send_message(QueueUrl=dlq, MessageBody="not json canary-8812")["MessageId"])

    code, out, _ = run(["dlq-inspect", "--queue", "intake-spill", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert {row["message_id"] for row in report["messages"]} == sent
    assert sorted(row["reason"] for row in report["messages"]) == [
        "-",
        "store_failed",
        "store_failed",
        "store_failed",
    ]
    assert all(row["receives"] == 1 and row["first_seen_s_ago"] >= 0 for row in report["messages"])
    assert report["total"] == 4
    assert "canary" not in out
    # Inspecting leaves every message there, visible at once for a redrive.
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "4"

    code, out, _ = run(["dlq-inspect", "--queue", "intake-spill"], capsys)
    assert code == 0
    assert "4 of 4 message(s)" in out
    assert "canary" not in out


def test_dlq_inspect_reads_the_fifo_replies_dlq(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs")
    dlq = _dead_letter(stack, "RepliesDeadLetterQueue")
    sqs.send_message(
        QueueUrl=dlq, MessageBody='{"reply_id": "r1"}', MessageGroupId="g", MessageDeduplicationId="r1"
    )
    code, out, _ = run(["dlq-inspect", "--queue", "replies"], capsys)
    assert code == 0
    assert "1 message(s)" in out


def test_every_dead_letter_queue_of_the_template_is_inspectable_and_redrivable(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipline.config import get_settings
    from tipline_ops.commands import QUEUES
    from tipline_ops.dead_letters import dead_letter_queue_url

    queues = {n: r for n, r in stack.template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    targets = {
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for r in queues.values()
        if "RedrivePolicy" in r["Properties"]
    }
    monkeypatch.setenv("FANOUT_QUEUE_URL", stack.queue_urls["FanoutQueue"])  # as --stack loads it
    get_settings.cache_clear()
    reachable = {dead_letter_queue_url(name) for name in QUEUES}
    assert {stack.queue_urls[name] for name in targets} == reachable


def _fanout_dead_letters(stack: Provisioned, count: int) -> set[str]:
    sqs = boto3.client("sqs")
    os.environ["FANOUT_QUEUE_URL"] = stack.queue_urls["FanoutQueue"]
    from tipline.config import get_settings

    get_settings.cache_clear()
    bodies = [
        json.dumps(
            {"advisory_id": f"a{i}", "run_ms": 1, "oa_id": f"42900{i:02d}", "pseudonyms": ["canary-p-5531"]}
        )
        for i in range(count)
    ]
    dlq = stack.queue_urls["FanoutDeadLetterQueue"]
    return {sqs.send_message(QueueUrl=dlq, MessageBody=body)["MessageId"] for body in bodies}


def test_dlq_inspect_shows_every_fanout_dead_letter_with_its_total_and_oa(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_QUEUE_URL", "")
    sent = _fanout_dead_letters(stack, 15)
    code, out, _ = run(["dlq-inspect", "--queue", "fanout", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["total"] == 15
    assert {row["message_id"] for row in report["messages"]} == sent
    assert {row["oa_id"] for row in report["messages"]} == {f"42900{i:02d}" for i in range(15)}
    assert "canary" not in out
    code, out, _ = run(["dlq-inspect", "--queue", "fanout", "--limit", "5"], capsys)
    assert "5 of 15 message(s) shown" in out and "oldest first seen" in out and "canary" not in out


def _dlq_count(stack: Provisioned, logical: str) -> int:
    from tipline_ops.dead_letters import dead_letter_total

    return dead_letter_total(stack.queue_urls[logical])


def test_redrive_dry_runs_limits_and_parks_a_message_that_came_back(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_QUEUE_URL", "")
    _fanout_dead_letters(stack, 4)
    code, out, _ = run(["redrive", "--queue", "fanout", "--dry-run"], capsys)
    assert code == 0 and "4 message(s) would move back" in out
    assert _dlq_count(stack, "FanoutDeadLetterQueue") == 4 and _dlq_count(stack, "FanoutQueue") == 0

    code, out, _ = run(["redrive", "--queue", "fanout", "--limit", "1"], capsys)
    assert code == 0 and "1 message(s) moved back" in out
    assert _dlq_count(stack, "FanoutDeadLetterQueue") == 3 and _dlq_count(stack, "FanoutQueue") == 1

    # The consumer fails it again: SQS moves it to the DLQ after maxReceiveCount receives.
    sqs = boto3.client("sqs")
    for _ in range(100):
        if _dlq_count(stack, "FanoutQueue") == 0:
            break
        sqs.receive_message(QueueUrl=stack.queue_urls["FanoutQueue"], VisibilityTimeout=0)
    assert _dlq_count(stack, "FanoutDeadLetterQueue") == 4

    code, out, _ = run(["redrive", "--queue", "fanout"], capsys)
    assert code == 0 and "3 message(s) moved back" in out and "1 parked" in out
    assert _dlq_count(stack, "FanoutDeadLetterQueue") == 1  # parked, visible again at once
    code, out, _ = run(["dlq-inspect", "--queue", "fanout", "--json"], capsys)
    assert [row["redrives"] for row in json.loads(out)["messages"]] == [1]
    code, out, _ = run(["redrive", "--queue", "fanout", "--include-returned"], capsys)
    assert "1 message(s) moved back" in out and _dlq_count(stack, "FanoutDeadLetterQueue") == 0


def test_dlq_inspect_refuses_bad_input(stack: Provisioned, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["dlq-inspect", "--queue", "fetch", "--limit", "0"], capsys)
    assert code == 2
    assert "--limit" in err
    with pytest.raises(SystemExit) as exited:
        main(["dlq-inspect", "--queue", "nonsense"])
    assert exited.value.code == 2


# ------------------------------------------------------------------------------ purge-citizen
def _sealed_entries(stack: Provisioned) -> int:
    return sum("sealed" in item for item in items_with_prefix(stack, "TIP#", "MSG#"))


def test_purge_citizen_erases_their_data_and_never_prints_the_user_id(
    stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    for text in ("first canary-purge-1", "second canary-purge-2"):
        assert deliver(lambda_context, text_event(text, user_id=USER))["statusCode"] == 200
    assert deliver(lambda_context, text_event("someone else", user_id=OTHER_USER))["statusCode"] == 200
    handle = pseudonym(wiring.pepper(), oa.oa_id, USER)
    other = pseudonym(wiring.pepper(), oa.oa_id, OTHER_USER)
    tips = wiring.table().contact_tip_ids(handle)
    assert tips
    capsys.readouterr()

    code, out, err = run(["purge-citizen", "--oa", oa.oa_id, "--user-id", USER, "--yes"], capsys)
    assert code == 0, err
    assert USER not in out + err
    assert "sealed entries erased" in out
    assert wiring.table().get_contact(handle) is None
    for tip_id in tips:
        assert all(entry.sealed is None for entry in wiring.table().thread(f"TIP#{tip_id}"))
    # The other citizen keeps everything.
    assert wiring.table().get_contact(other) is not None
    other_tip = wiring.table().contact_tip_ids(other)[0]
    assert any(entry.sealed is not None for entry in wiring.table().thread(f"TIP#{other_tip}"))


def test_purge_citizen_reads_the_user_id_from_stdin(
    stack: Provisioned,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oa = demo_oa()
    assert deliver(lambda_context, text_event("hello", user_id=USER))["statusCode"] == 200
    monkeypatch.setattr("sys.stdin", io.StringIO(USER + "\n"))
    code, out, _ = run(["purge-citizen", "--oa", oa.oa_id, "--yes"], capsys)
    assert code == 0
    assert USER not in out
    assert wiring.table().get_contact(pseudonym(wiring.pepper(), oa.oa_id, USER)) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--oa", "oa-x", "--user-id", USER, "--yes"], "numeric OA id"),
        (["--oa", "{oa}", "--user-id", "abc", "--yes"], "numeric user id"),
        (["--oa", "9999", "--user-id", USER, "--yes"], "not registered"),
        (["--oa", "{oa}", "--user-id", "1111111111", "--yes"], "no citizen"),
        (["--oa", "{oa}", "--user-id", USER], "--yes"),
    ],
)
def test_purge_citizen_refuses_bad_input_and_changes_nothing(
    stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    oa = demo_oa()
    assert deliver(lambda_context, text_event("keep me", user_id=USER))["statusCode"] == 200
    sealed = _sealed_entries(stack)
    code, out, err = run(["purge-citizen", *[a.replace("{oa}", oa.oa_id) for a in argv]], capsys)
    assert code == 2
    assert message in err
    assert USER not in out + err
    assert _sealed_entries(stack) == sealed
    assert wiring.table().get_contact(pseudonym(wiring.pepper(), oa.oa_id, USER)) is not None


# ------------------------------------------------------------------------------ export-stats
def test_export_stats_counts_tips_per_unit_and_status(
    stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    province = demo_oa(0)
    district = demo_oa(1)
    assert (
        deliver(lambda_context, text_event("canary-stats-1", user_id=USER, oa=district), oa=district)[
            "statusCode"
        ]
        == 200
    )
    assert (
        deliver(lambda_context, text_event("canary-stats-2", user_id=OTHER_USER, oa=district), oa=district)[
            "statusCode"
        ]
        == 200
    )
    assert (
        deliver(lambda_context, text_event("canary-stats-3", user_id=USER, oa=province), oa=province)[
            "statusCode"
        ]
        == 200
    )
    capsys.readouterr()

    code, out, _ = run(["export-stats"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    counts = {(r["unit_id"], r["status"]): int(r["tips"]) for r in rows}
    assert counts == {(district.unit_id, "new"): 2, (province.unit_id, "new"): 1}
    assert "canary" not in out
    assert USER not in out

    code, out, _ = run(["export-stats", "--format", "json"], capsys)
    assert code == 0
    assert sum(row["tips"] for row in json.loads(out)["rows"]) == 3


def test_export_stats_refuses_an_unknown_format(stack: Provisioned) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export-stats", "--format", "xlsx"])
    assert exited.value.code == 2


# ------------------------------------------------------------------------------ watch-oa
TOPIC = "arn:aws:sns:ap-southeast-1:123456789012:tipline-local-alarms"


def test_watch_oa_creates_a_silence_alarm_on_the_oas_events(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    code, _, _ = run(["watch-oa", "--oa", oa.oa_id, "--hours", "12", "--topic-arn", TOPIC], capsys)
    assert code == 0
    (alarm,) = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix="tipline-local-oa-")["MetricAlarms"]
    assert alarm["MetricName"] == "OaEvents"
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"service": "tipline", "oa_id": oa.oa_id}
    assert alarm["EvaluationPeriods"] == 12
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [TOPIC]
    assert alarm["AlarmDescription"].endswith(
        'Runbook: docs/operations.md "The webhook is failing or silent"'
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--oa", "{oa}", "--hours", "0", "--topic-arn", TOPIC], "--hours"),
        (["--oa", "{oa}", "--hours", "500", "--topic-arn", TOPIC], "--hours"),
        (["--oa", "{oa}", "--topic-arn", "not-an-arn"], "--topic-arn"),
        (["--oa", "9999", "--topic-arn", TOPIC], "not registered"),
    ],
)
def test_watch_oa_refuses_bad_input_and_creates_no_alarm(
    stack: Provisioned, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(["watch-oa", *[a.replace("{oa}", demo_oa().oa_id) for a in argv]], capsys)
    assert code == 2
    assert message in err
    assert (
        boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix="tipline-local-oa-")["MetricAlarms"] == []
    )


# ------------------------------------------------------------------------------ AWS problems: one line each
class _RefusingAws(http.server.BaseHTTPRequestHandler):
    """An AWS query-protocol endpoint that answers every call with one error, as AWS words it."""

    answer: tuple[int, str] = (400, "ExpiredToken")

    def do_POST(self) -> None:
        status, code = self.answer
        body = (
            '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>refused</Message></Error>"
            "<RequestId>test</RequestId></ErrorResponse>"
        ).encode()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_RefusingAws]]:
    handler = type("Refusing", (_RefusingAws,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", f"http://127.0.0.1:{server.server_address[1]}")
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((400, "ExpiredToken"), "the AWS session has expired (DescribeStackResource): renew it"),
        ((403, "AccessDenied"), "access denied: your AWS identity may not call DescribeStackResource"),
        ((403, "InvalidClientTokenId"), "the AWS credentials are not valid (InvalidClientTokenId)"),
    ],
)
def test_aws_refusals_get_their_own_one_line_message(
    stack: Provisioned,
    refusing_aws: type[_RefusingAws],
    capsys: pytest.CaptureFixture[str],
    answer: tuple[int, str],
    message: str,
) -> None:
    refusing_aws.answer = answer
    code, out, err = run(["--stack", "tipline-prod", "export-stats"], capsys)
    assert code == 1 and out == ""
    assert err == f"tipline-ops export-stats: {message}" + err.split(message, 1)[1]
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "not found" not in err


def test_a_missing_stack_is_said_to_be_missing(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--stack", "tipline-nowhere", "export-stats"], capsys)
    assert code == 2 and "stack 'tipline-nowhere' not found" in err


def test_a_missing_region_or_missing_credentials_is_said_in_one_line(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    region = {name: os.environ.pop(name, None) for name in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    try:
        code, _, err = run(["--stack", "tipline-prod", "export-stats"], capsys)
        assert (code, err.strip()) == (
            1,
            "tipline-ops export-stats: no AWS region: export AWS_REGION=ap-southeast-1"
            " (or set region in ~/.aws/config)",
        )
    finally:
        for name, value in region.items():
            if value is not None:
                os.environ[name] = value
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, _, err = run(["--stack", "tipline-prod", "export-stats"], capsys)
    assert code == 1 and err.startswith("tipline-ops export-stats: no AWS credentials:")
    assert len(err.strip().splitlines()) == 1


def test_local_mode_without_a_running_stack_says_how_to_start_it(capsys: pytest.CaptureFixture[str]) -> None:
    from tipline_local.emulator import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(["--local", url, "export-stats"], capsys)
    assert (code, err.strip()) == (
        2,
        f"tipline-ops export-stats: no local stack answers at {url}: start it with `make dev` (TIPLINE_PORT)",
    )
    code, _, err = run(["--local", "http://203.0.113.9:3000", "export-stats"], capsys)
    assert code == 2 and "loopback" in err


def test_a_bare_local_before_the_command_means_the_default_address(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tipline-ops --local COMMAND`, as the runbooks write it: the command is not taken for a URL."""
    from tipline_local.emulator import free_port
    from tipline_ops import cli

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(cli, "LOCAL_STACK_URL", url)
    code, _, err = run(["--local", "export-stats"], capsys)
    assert (code, err.strip()) == (
        2,
        f"tipline-ops export-stats: no local stack answers at {url}: start it with `make dev` (TIPLINE_PORT)",
    )


# ------------------------------------------------------------------------------ status (the fleet)
def test_status_shows_every_oa_with_its_unit_last_event_token_secrets_and_alarms(
    stack: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from tipline import clock

    oas = [demo_oa(i) for i in range(3)]
    cloudwatch = boto3.client("cloudwatch")
    at = datetime.fromtimestamp(clock.now_s() - 7200, UTC).replace(minute=0, second=0, microsecond=0)
    cloudwatch.put_metric_data(
        Namespace="ZaloTipline",
        MetricData=[
            {
                "MetricName": "OaEvents",
                "Dimensions": [
                    {"Name": "service", "Value": "tipline"},
                    {"Name": "oa_id", "Value": oas[0].oa_id},
                ],
                "Timestamp": at,
                "Value": 3,
            }
        ],
    )
    assert run(["watch-oa", "--oa", oas[1].oa_id, "--topic-arn", TOPIC], capsys)[0] == 0
    silent = f"tipline-local-oa-{oas[1].oa_id}-silent"
    cloudwatch.set_alarm_state(AlarmName=silent, StateValue="ALARM", StateReason="test")

    code, out, _ = run(["status", "--format", "csv", "--sort", "oa_id"], capsys)
    assert code == 0, out
    table = list(csv.DictReader(io.StringIO(out)))
    assert [row["oa_id"] for row in table] == sorted(oa.oa_id for oa in oas)
    rows = {row["oa_id"]: row for row in table}
    assert rows[oas[0].oa_id]["last_event"] == at.strftime("%Y-%m-%d %H:%MZ")
    assert rows[oas[2].oa_id]["last_event"] == "-"
    assert {row["token"] for row in table} == {"ok"} and {row["secrets"] for row in table} == {"present"}
    assert rows[oas[1].oa_id]["alarms"] == f"oa-{oas[1].oa_id}-silent"
    assert rows[oas[0].oa_id]["unit_id"] == oas[0].unit_id
    for oa in oas:
        assert oa.access_token not in out and oa.refresh_token not in out

    secrets_prefix = stack.env("WebhookFunction")["APP_SECRET_PREFIX"]
    boto3.client("secretsmanager").delete_secret(
        SecretId=secrets_prefix + oas[2].app_id, ForceDeleteWithoutRecovery=True
    )
    code, out, _ = run(["status"], capsys)
    assert code == 1  # an OA needs attention
    (line,) = [line for line in out.splitlines() if line.startswith(oas[2].oa_id)]
    assert "MISSING" in line and "3 OA(s)" in out


# ------------------------------------------------------------------------------ register-oa --from-file
def _fleet_file(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "oas.csv"
    path.write_text(
        "oa_id,app_id,unit_id,unit_name,parent_unit_id\n" + "".join(f"{line}\n" for line in lines)
    )
    return str(path)


def test_register_oa_from_file_registers_many_oas_of_apps_with_secrets(
    stack: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    new = [f"7100000000000{i:05d},{oa.app_id},pc-{i},Đơn vị {i},province" for i in range(155)]
    path = _fleet_file(tmp_path, [*new, f"{oa.oa_id},{oa.app_id},pc-moved,,"])
    code, out, err = run(["register-oa", "--from-file", path], capsys)
    assert code == 0, err
    assert "156 OA(s)" in out and "155 registered, 1 updated" in out
    registered = {account.oa_id: account for account in wiring.table().list_oas()}
    assert registered["710000000000000154"].unit_id == "pc-154"
    assert registered["710000000000000154"].unit_name == "Đơn vị 154"
    assert registered[oa.oa_id].unit_id == "pc-moved" and registered[oa.oa_id].unit_name == oa.unit_name


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["710000000000000001,123,pc-1,,", "not-an-id,123,pc-2,,"], "line 3: --oa must be Zalo's numeric id"),
        (
            ["710000000000000001,123,pc-1,,", "710000000000000001,123,pc-2,,"],
            "line 3: OA 710000000000000001 is listed twice",
        ),
        (["710000000000000001,999999999,pc-1,,"], "apps without stored secrets"),
    ],
)
def test_register_oa_from_file_checks_every_line_before_writing_any(
    stack: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], message: str
) -> None:
    oa = demo_oa()
    lines = [line.replace(",123,", f",{oa.app_id},") for line in lines]
    before = sorted(account.oa_id for account in wiring.table().list_oas())
    code, _, err = run(["register-oa", "--from-file", _fleet_file(tmp_path, lines)], capsys)
    assert code == 2 and message in err
    assert sorted(account.oa_id for account in wiring.table().list_oas()) == before


# ------------------------------------------------------------------------------ rotate-oa-secret
def test_rotate_oa_secret_replaces_one_secret_keeps_the_other_and_says_when(
    stack: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oa = demo_oa()
    secret_id = stack.env("WebhookFunction")["APP_SECRET_PREFIX"] + oa.app_id
    before = secrets.secret_json(secret_id, 0)
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"oa_secret_key": "canary-new-key-7715"}))
    code, out, _ = run(["rotate-oa-secret", "--app-id", oa.app_id, "--secrets-file", str(path)], capsys)
    assert code == 0
    assert "oa_secret_key replaced (app_secret kept). Takes effect within 300 s" in out
    assert "canary" not in out
    assert secrets.secret_json(secret_id, 0) == {**before, "oa_secret_key": "canary-new-key-7715"}
    path.write_text(json.dumps({"oa_secret_key": "x", "pepper": "y"}))
    code, _, err = run(["rotate-oa-secret", "--app-id", oa.app_id, "--secrets-file", str(path)], capsys)
    assert code == 2 and "nothing else" in err
    assert secrets.secret_json(secret_id, 0)["oa_secret_key"] == "canary-new-key-7715"
