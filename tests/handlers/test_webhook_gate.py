"""The webhook's gate through the real handlers: hostile bodies, stale events, and verification when
the OA registry or the app's secret cannot be read (issue 14, items 6, 7 and 12)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from fixtures.webhook import (
    Fault,
    deliver,
    demo_oa,
    drain,
    encode,
    item_text,
    items_with_prefix,
    received_at,
    table_items,
    text_event,
)
from tipline import wiring
from tipline.adapters import aws, secrets
from tipline.config import get_settings
from tipline.domain import DEDUPE_MEMORY_SECONDS, QueuedReply
from tipline.handlers import intake_spill, webhook
from tipline.intake.gate import FUTURE_SKEW_MS, STALE_AFTER_MS
from tipline.intake.signature import header_value
from tipline_local.accounts import demo_accounts
from tipline_local.provision import Provisioned
from tipline_local.samples import api_event, sqs_event, zalo_body

pytestmark = pytest.mark.usefixtures("stack")

NOW_MS = 1_800_000_000_000  # every test here runs at this instant (2027-01-15), whatever today is
JUNE_2019_MS = 1_559_347_200_000
FORGED = "mac=" + "0" * 64


@pytest.fixture(autouse=True)
def _fixed_clock() -> Iterator[None]:
    with received_at(NOW_MS):
        yield


def _status(response: dict[str, Any]) -> int:
    return int(response["statusCode"])


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])  # type: ignore[no-any-return]


def _signed(body: bytes) -> str:
    oa = demo_oa()
    return header_value(oa.app_id, body, str(json.loads(body)["timestamp"]), oa.oa_secret_key)


def _metrics_printed(printed: str) -> Counter[str]:
    """Metric names in the EMF documents the functions printed."""
    names: Counter[str] = Counter()
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names.update(metric["Name"] for metric in directive["Metrics"])
    return names


def _spill_consumer(stack: Provisioned, context: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the spill consumer over every spilled message; its answer and the messages it got."""
    messages = drain(stack, "IntakeSpillQueue")
    arn = stack.resolver.attributes["IntakeSpillQueue.Arn"]
    return intake_spill.handler(sqs_event(messages, arn), context), messages


def _acks(stack: Provisioned) -> list[QueuedReply]:
    return [QueuedReply.model_validate_json(m["Body"]) for m in drain(stack, "RepliesQueue")]


def _cold_container() -> None:
    """A container that has read neither the registry nor a secret yet."""
    wiring.table.cache_clear()
    secrets.forget()


# -- item 6: bodies that fail before verification are a 4xx, whatever they hold ---------------------------
NESTED = {
    "60,000 nested [": b"[" * 60_000,
    "nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "nesting inside a Zalo-like body": b'{"app_id":"1","timestamp":"1","message":'
    + b"[" * 30_000
    + b"]" * 30_000
    + b"}",
}


@pytest.mark.parametrize("signature", [None, FORGED, "garbage"])
@pytest.mark.parametrize("case", list(NESTED))
def test_deeply_nested_bodies_answer_400_whatever_the_signature(
    case: str, signature: str | None, stack: Provisioned, lambda_context: Any
) -> None:
    before = len(table_items(stack))
    response = deliver(lambda_context, NESTED[case], signature=signature)
    assert _status(response) == 400, response["body"]
    assert _answer(response)["error"]
    assert len(table_items(stack)) == before
    assert drain(stack, "IntakeSpillQueue") == []


def test_a_body_flagged_base64_that_is_not_answers_400(lambda_context: Any) -> None:
    event = api_event(encode(text_event("x")), demo_oa(), base64_body=True)
    event["body"] = "%%% not base64 %%%"
    response = webhook.handler(event, lambda_context)
    assert _status(response) == 400
    assert "base64" in _answer(response)["error"]


IMPOSSIBLE_OA_IDS = {
    "5,000 characters": '"' + "4" * 5_000 + '"',
    "a lone surrogate": '"\\ud800"',
    "a control character": '"42\\u0000"',
    "empty": '""',
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE_OA_IDS))
def test_an_oa_id_that_cannot_be_an_id_answers_400_without_a_registry_read(
    case: str, lambda_context: Any
) -> None:
    body = encode(text_event("x")).replace(
        f'"recipient":{{"id":"{demo_oa().oa_id}"}}'.encode(),
        f'"recipient":{{"id":{IMPOSSIBLE_OA_IDS[case]}}}'.encode(),
    )
    assert IMPOSSIBLE_OA_IDS[case].encode() in body
    with Fault(aws.dynamodb(), "GetItem", "InternalServerError") as lookups:
        response = deliver(lambda_context, body, signature=FORGED)
    assert _status(response) == 400, response["body"]
    assert lookups.hits == 0


def test_unknown_oa_ids_do_not_grow_the_registry_cache(lambda_context: Any) -> None:
    _cold_container()
    for index in range(40):
        body = {**text_event("x"), "recipient": {"id": f"9{index:017d}"}}
        assert _status(deliver(lambda_context, body, signature=FORGED)) == 401
    assert _status(deliver(lambda_context, text_event("một tin báo thật"))) == 200
    assert len(wiring.table()._oa_cache) <= len(demo_accounts())


@pytest.mark.parametrize("secret", ["not json", '["a list"]', '{"app_secret": "no oa_secret_key"}'])
def test_an_app_secret_that_is_not_json_answers_401_not_500(lambda_context: Any, secret: str) -> None:
    oa = demo_oa()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=get_settings().app_secret_prefix + oa.app_id, SecretString=secret
    )
    response = deliver(lambda_context, text_event("x"))
    assert (_status(response), _answer(response)) == (401, {"error": "missing or invalid signature"})


def test_concurrent_invocations_never_turn_the_metrics_flush_into_a_500(lambda_context: Any) -> None:
    """The local stack runs invocations as threads of one process, which share Powertools' metric
    set; a flush racing another invocation used to escape @log_metrics as a 500 (here forced by
    switching threads as often as the interpreter can)."""
    oversized = b"x" * (64 * 1024 + 1)  # answered without any AWS call: only the metric and its flush
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = Counter(
                pool.map(lambda _: _outcome(lambda_context, oversized), range(3_000)),
            )
    finally:
        sys.setswitchinterval(previous)
    assert answers == Counter({413: 3_000})


def _outcome(context: Any, body: bytes) -> int | str:
    try:
        return _status(deliver(context, body, signature=None))
    except Exception as exc:  # what the local HTTP front turns into a 500
        return type(exc).__name__


# -- item 7: stale and future events are refused, counted, and change nothing -------------------------------
AGES = {
    "stamped June 2019": (NOW_MS - JUNE_2019_MS, False),
    "as old as the dedupe memory allows": (STALE_AFTER_MS, False),
    "just younger than that": (STALE_AFTER_MS - 1_000, True),
    "a few minutes ahead of our clock": (-FUTURE_SKEW_MS, True),
    "further ahead": (-FUTURE_SKEW_MS - 60_000, False),
}


@pytest.mark.parametrize("case", list(AGES))
def test_events_outside_the_dedupe_memory_are_refused_and_change_nothing(
    case: str, stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    age, accepted = AGES[case]
    assert STALE_AFTER_MS < DEDUPE_MEMORY_SECONDS * 1000, "refused before the dedupe key can be gone"
    before = len(table_items(stack))
    capsys.readouterr()
    response = deliver(lambda_context, text_event("có trộm", user_id="7001", ts=NOW_MS - age))
    metrics = _metrics_printed(capsys.readouterr().out)
    assert _status(response) == 200, "Zalo must not retry a refused event"
    if accepted:
        assert _answer(response)["status"] == "accepted"
        assert len(items_with_prefix(stack, "TIP#", "META")) == 1
        assert len(_acks(stack)) == 1
        assert metrics["WebhookStale"] == 0
    else:
        assert _answer(response)["status"] == "refused"
        assert len(table_items(stack)) == before, "nothing stored"
        assert drain(stack, "RepliesQueue") == [], "nothing sent"
        assert drain(stack, "IntakeSpillQueue") == []
        assert metrics["WebhookStale"] == 1


def test_a_captured_event_replayed_after_the_dedupe_memory_does_not_bring_a_withdrawn_citizen_back(
    stack: Provisioned, lambda_context: Any
) -> None:
    oa = demo_oa()
    captured = text_event("tin báo bị bắt giữ lại", user_id="7002", ts=NOW_MS, msg_id="captured-1")
    assert _status(deliver(lambda_context, captured)) == 200
    withdraw = zalo_body("user_withdraw", oa, user_id="7002", ts=NOW_MS + 1_000)
    assert _status(deliver(lambda_context, withdraw)) == 200
    assert not items_with_prefix(stack, "CONTACT#", "META")
    drain(stack, "RepliesQueue")

    replayed_ms = NOW_MS + DEDUPE_MEMORY_SECONDS * 1000
    _expire_dedupe_keys(stack, replayed_ms)  # what DynamoDB's TTL does by then (moto has no TTL)
    before = len(table_items(stack))
    response = deliver(lambda_context, captured, at_ms=replayed_ms)
    assert _status(response) == 200
    assert _answer(response)["status"] == "refused"
    assert not items_with_prefix(stack, "CONTACT#", "META"), "the sealed Zalo id is not recreated"
    assert len(table_items(stack)) == before
    assert drain(stack, "RepliesQueue") == []


def _expire_dedupe_keys(stack: Provisioned, now_ms: int) -> None:
    client = boto3.client("dynamodb")
    expired = [
        item for item in items_with_prefix(stack, "EVENT#") if int(item["expires_at"]["N"]) <= now_ms // 1000
    ]
    assert expired, "the dedupe keys of the first deliveries have expired by then"
    for item in expired:
        client.delete_item(
            TableName=stack.resolver.refs["TiplineTable"], Key={"pk": item["pk"], "sk": item["sk"]}
        )


def test_a_spilled_event_is_judged_by_when_the_webhook_received_it(
    stack: Provisioned, lambda_context: Any
) -> None:
    body = text_event("báo tin khi DynamoDB lỗi", user_id="7003", ts=NOW_MS, msg_id="spilled-late")
    with Fault(
        aws.dynamodb(),
        "PutItem",
        "ProvisionedThroughputExceededException",
        when=lambda params: params["Item"]["pk"]["S"].startswith(("TIP#", "CONTACT#")),
    ):
        assert _status(deliver(lambda_context, body)) == 200
    assert not items_with_prefix(stack, "TIP#")
    # The spill consumer gets to it after the stale bound has passed (a DLQ redrive days later).
    with received_at(NOW_MS + STALE_AFTER_MS + 3_600_000):
        result, messages = _spill_consumer(stack, lambda_context)
    assert len(messages) == 1
    assert result["batchItemFailures"] == []
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    assert len(_acks(stack)) == 1


# -- item 12: a dependency failure while verifying spills the event unverified ------------------------------
VERIFICATION_FAULTS = {
    "OA registry read": lambda: Fault(
        aws.dynamodb(), "GetItem", "InternalServerError", when=lambda p: p["Key"]["pk"]["S"].startswith("OA#")
    ),
    "app secret read": lambda: Fault(
        aws.secretsmanager(),
        "GetSecretValue",
        "InternalServiceError",
        when=lambda p: "/apps/" in p["SecretId"],
    ),
}


@pytest.mark.parametrize("fault", list(VERIFICATION_FAULTS))
def test_a_valid_event_unverifiable_now_is_spilled_then_verified_and_stored(
    fault: str, stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _cold_container()
    canary = "canary-unverified-5170"
    body = encode(text_event(f"báo tin {canary}", user_id="7004", msg_id="unverified-1"))
    signature = _signed(body)
    with VERIFICATION_FAULTS[fault]() as failing:
        response = deliver(lambda_context, body, signature=signature)
    assert failing.hits >= 1
    assert _status(response) == 200, response["body"]
    assert not items_with_prefix(stack, "TIP#") and not items_with_prefix(stack, "CONTACT#")

    capsys.readouterr()
    result, messages = _spill_consumer(stack, lambda_context)
    assert len(messages) == 1
    spilled = messages[0]["Body"]
    assert canary not in spilled and signature[4:] not in spilled, "body and signature are sealed"
    assert result["batchItemFailures"] == []
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    assert len(_acks(stack)) == 1
    assert not any(canary in item_text(item) for item in table_items(stack))


@pytest.mark.parametrize("fault", list(VERIFICATION_FAULTS))
def test_a_forged_event_spilled_unverified_is_rejected_by_the_consumer_and_stored_nowhere(
    fault: str, stack: Provisioned, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _cold_container()
    before = len(table_items(stack))
    with VERIFICATION_FAULTS[fault]():
        response = deliver(lambda_context, text_event("giả mạo", user_id="7005"), signature=FORGED)
    assert _status(response) == 200

    capsys.readouterr()
    result, messages = _spill_consumer(stack, lambda_context)
    assert len(messages) == 1
    assert result["batchItemFailures"] == [], "dropped, not retried into the DLQ"
    assert _metrics_printed(capsys.readouterr().out)["SpillRejected"] == 1
    assert len(table_items(stack)) == before
    assert drain(stack, "RepliesQueue") == []
    assert drain(stack, "IntakeSpillQueue") == []


def test_a_spilled_event_is_retried_while_the_registry_still_fails(
    stack: Provisioned, lambda_context: Any
) -> None:
    _cold_container()
    registry = VERIFICATION_FAULTS["OA registry read"]
    with registry():
        assert _status(deliver(lambda_context, text_event("báo tin", user_id="7006"))) == 200
        _cold_container()
        with pytest.raises(BatchProcessingError):  # the whole batch failed: SQS delivers it again
            _spill_consumer(stack, lambda_context)
    assert not items_with_prefix(stack, "TIP#")


def test_503_only_when_nothing_at_all_can_keep_the_event(stack: Provisioned, lambda_context: Any) -> None:
    _cold_container()
    kms = Fault(aws.kms(), "GenerateDataKey", "ThrottlingException")
    with VERIFICATION_FAULTS["OA registry read"](), kms:
        response = deliver(lambda_context, text_event("báo tin", user_id="7007"))
    assert _status(response) == 503
    assert drain(stack, "IntakeSpillQueue") == []
    assert not items_with_prefix(stack, "TIP#")


def test_a_gate_defect_keeps_the_signed_event_for_the_spill_consumer(
    stack: Provisioned, lambda_context: Any
) -> None:
    """A registry record that no longer parses used to escape as a 500, losing a signed event."""
    _cold_container()
    dynamodb = boto3.client("dynamodb")
    record = {
        "TableName": stack.resolver.refs["TiplineTable"],
        "Key": {"pk": {"S": f"OA#{demo_oa().oa_id}"}, "sk": {"S": "META"}},
    }
    unit = dynamodb.get_item(**record)["Item"]["unit_id"]
    dynamodb.update_item(**record, UpdateExpression="REMOVE unit_id")
    response = deliver(lambda_context, text_event("báo tin", user_id="7008"))
    assert _status(response) == 200
    messages = drain(stack, "IntakeSpillQueue")
    assert len(messages) == 1
    arn = stack.resolver.attributes["IntakeSpillQueue.Arn"]
    with pytest.raises(BatchProcessingError):  # retried by SQS, then parked in the DLQ for ops
        intake_spill.handler(sqs_event(messages, arn), lambda_context)

    dynamodb.update_item(
        **record, UpdateExpression="SET unit_id = :u", ExpressionAttributeValues={":u": unit}
    )
    _cold_container()
    assert intake_spill.handler(sqs_event(messages, arn), lambda_context)["batchItemFailures"] == []
    assert len(items_with_prefix(stack, "TIP#", "META")) == 1
    assert len(_acks(stack)) == 1
