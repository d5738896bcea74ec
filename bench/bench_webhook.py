"""Webhook benchmarks.

1. In-process cost per event of the real handler, with every AWS call answered in memory at the
   botocore boundary (so our code, botocore serialisation and parsing are measured, not a
   network), against a floor of what any verifier must do per event: signature check, JSON parse
   and one AES-256-GCM seal of the body.
2. Cold import of the handler module in a fresh interpreter, against `import boto3` plus one client.
3. AWS calls before the answer per event kind (issue 18), the real handler against the emulated
   stack (moto, in process), printed as `webhook calls: new_tip=N follow_up=N ...`; and their
   modelled latency: each call costs a draw from a lognormal per service (figures and sources in
   tipline_local/webhook_calls.py: DynamoDB p50 5 / p99 25 ms, KMS 8/30, SQS 10/40, a transaction
   two DynamoDB calls' worth), simulated, not slept, seeded, against the same model applied to the
   least each kind must do (webhook_calls.FLOORS).

Each prints `bench NAME: ours=... floor=... ratio=... better=lower`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local")]

EVENTS = 400
IMPORT_RUNS = 9
KIND_CITIZENS = 50  # each gives one new tip, one follow-up, two follow events, two receipts, one duplicate
DRAWS_PER_EVENT = 200  # latency draws per counted event (simulated time costs nothing)
SEED = 18


class _Raw(BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.read()


class _Refused(Exception):
    """A DynamoDB error answer (its code)."""


class InMemoryAws:
    """Answers DynamoDB, KMS, SQS, SNS and Secrets Manager calls without a network."""

    def __init__(self, accounts: list[Any]) -> None:
        self.oas = {a.oa_id: a for a in accounts}
        self.secrets = {a.app_id: a for a in accounts}
        self.calls = 0
        self.spilled = 0

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.calls += 1
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        body = json.loads(request.body or b"{}")
        try:
            answer, status = getattr(self, operation, lambda _body: {})(body), 200
        except _Refused as refused:
            answer, status = (
                {"__type": f"com.amazonaws.dynamodb.v20120810#{refused}", "message": str(refused)},
                400,
            )
        return AWSResponse(
            request.url,
            status,
            {"Content-Type": "application/x-amz-json-1.0"},
            _Raw(json.dumps(answer).encode()),
        )

    def GetItem(self, body: dict[str, Any]) -> dict[str, Any]:
        pk = body["Key"]["pk"]["S"]
        if pk.startswith("OA#") and pk[3:] in self.oas:
            oa = self.oas[pk[3:]]
            item = {"pk": pk, "sk": "META", "oa_id": oa.oa_id, "app_id": oa.app_id, "unit_id": oa.unit_id}
            return {"Item": {k: {"S": v} for k, v in item.items()}}
        return {}

    def GetSecretValue(self, body: dict[str, Any]) -> dict[str, Any]:
        secret_id = body["SecretId"]
        for app_id, account in self.secrets.items():
            if secret_id.endswith(app_id):
                return {"SecretString": json.dumps({"oa_secret_key": account.oa_secret_key})}
        return {"SecretString": "bench-pepper"}

    def GenerateDataKey(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "Plaintext": base64.b64encode(os.urandom(32)).decode(),
            "CiphertextBlob": base64.b64encode(os.urandom(184)).decode(),
            "KeyId": body["KeyId"],
        }

    def UpdateItem(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("ReturnValues") == "UPDATED_NEW":  # the burst counter: a citizen's first message
            return {"Attributes": {"burst_count": {"N": "1"}}}
        if body["Key"]["pk"]["S"].startswith("CONTACT#") and "attribute_exists(pk)" in body.get(
            "ConditionExpression", ""
        ):
            raise _Refused("ConditionalCheckFailedException")  # every event is a new citizen's
        return {}

    def SendMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["QueueUrl"].endswith("/spill"):
            self.spilled += 1
        md5 = hashlib.md5(body["MessageBody"].encode(), usedforsecurity=False).hexdigest()
        return {"MessageId": f"m{self.calls}", "MD5OfMessageBody": md5}

    def Publish(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"MessageId": f"p{self.calls}"}


def _environment() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "ap-southeast-1",
            "TABLE_NAME": "bench",
            "REPLIES_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/1/replies.fifo",
            "SPILL_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/1/spill",
            "KMS_KEY_ID": "bench-key",
            "PEPPER_SECRET_ID": "pepper",
            "APP_SECRET_PREFIX": "tipline/bench/apps/",
            "URGENT_TOPIC_ARN": "arn:aws:sns:ap-southeast-1:1:urgent",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )


STAMPED_MS = 1795000000000  # when the benchmark's events say they were sent


def bench_per_event() -> None:
    _environment()
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from tipline import clock
    from tipline.adapters import aws
    from tipline.handlers import webhook
    from tipline.intake.signature import signature_matches
    from tipline_local.accounts import demo_accounts
    from tipline_local.samples import api_event, zalo_body

    accounts = demo_accounts()
    oa = accounts[1]
    fake = InMemoryAws(accounts)
    for service in ("dynamodb", "kms", "sqs", "sns", "secretsmanager"):
        aws._client(service).meta.events.register("before-send", fake)

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "bench"
        invoked_function_arn = "arn:aws:lambda:ap-southeast-1:1:function:bench"

    bodies = [
        json.dumps(
            zalo_body(
                "user_send_text",
                oa,
                user_id=str(10**17 + i),
                ts=STAMPED_MS + i,
                text="Tôi muốn báo tin lừa đảo chuyển khoản " * 4,
                msg_id=f"bench{i}",
            ),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        for i in range(EVENTS)
    ]
    events = [api_event(body, oa) for body in bodies]
    # Received just after they were stamped (the webhook refuses stale events: not the path to measure).
    with contextlib.redirect_stdout(io.StringIO()), clock.use(lambda: STAMPED_MS / 1000 + 60):
        webhook.handler(events[0], Context())  # warm: caches, clients, spill key
        start = time.perf_counter()
        for event in events[1:]:
            response = webhook.handler(event, Context())
            assert json.loads(response["body"]).get("status") == "accepted", response
        ours = (time.perf_counter() - start) / (EVENTS - 1) * 1e6

    key = AESGCM(os.urandom(32))
    signatures = [e["headers"]["x-zevent-signature"] for e in events]
    start = time.perf_counter()
    for body, signature in zip(bodies[1:], signatures[1:], strict=True):
        payload = json.loads(body)
        assert signature_matches(signature, payload["app_id"], body, payload["timestamp"], oa.oa_secret_key)
        key.encrypt(os.urandom(12), payload["message"]["text"].encode(), b"context")
    floor = (time.perf_counter() - start) / (EVENTS - 1) * 1e6
    if fake.spilled:  # the intake failed on the fake and took its fallback: not the path to measure
        raise SystemExit(f"{fake.spilled} events were spilled: the in-memory AWS answers wrongly")
    calls = fake.calls / EVENTS
    print(f"  ({calls:.1f} AWS calls per event answered in memory)")
    print(
        f"bench webhook_event: ours={ours:.0f} us floor={floor:.1f} us ratio={ours / floor:.1f} better=lower"
    )


def _median_wall(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "PYTHONDONTWRITEBYTECODE": "0"}
    samples = []
    for _ in range(IMPORT_RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def bench_cold_import() -> None:
    _environment()
    handler_module = "import tipline.handlers.webhook"
    floor_code = "import boto3; boto3.client('dynamodb', region_name='ap-southeast-1')"
    banned = (
        "import sys, tipline.handlers.webhook; "
        "bad=[m for m in ('aws_xray_sdk','httpx','aws_encryption_sdk') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run(
        [sys.executable, "-c", banned], check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "functions")}
    )
    _median_wall("pass")  # warm the file cache
    interpreter = _median_wall("pass")
    ours = _median_wall(handler_module) - interpreter
    floor = _median_wall(floor_code) - interpreter
    print("  (handler module imports none of aws_xray_sdk, httpx, aws_encryption_sdk; target ratio <= 1.5)")
    ratio = ours / floor
    print(
        f"bench webhook_cold_import: ours={ours:.0f} ms floor={floor:.0f} ms ratio={ratio:.2f} better=lower"
    )


def bench_per_kind() -> None:
    """Calls per event kind against the emulated stack, and their modelled latency."""
    import logging
    import random
    import urllib.request

    from tipline_local import emulator, webhook_calls
    from tipline_local.accounts import demo_accounts, seed_accounts
    from tipline_local.provision import REGION, provision

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "bench"
        invoked_function_arn = "arn:aws:lambda:ap-southeast-1:1:function:bench"

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's access log
    with emulator.in_process() as endpoint:
        request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request).close()  # noqa: S310 - our own loopback emulator
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        provisioned = provision(endpoint)
        os.environ.update(provisioned.env("WebhookFunction"))
        from tipline import wiring
        from tipline.adapters import aws, secrets
        from tipline.config import get_settings
        from tipline.handlers import webhook
        from tipline.intake import spill

        get_settings.cache_clear()
        aws.reset_clients()
        secrets.forget()
        spill._sealer.cache_clear()
        wiring.table.cache_clear()
        seed_accounts(demo_accounts(), provisioned.env("WebhookFunction")["APP_SECRET_PREFIX"])
        with contextlib.redirect_stdout(io.StringIO()):
            per_kind = webhook_calls.run(
                webhook.handler, Context(), demo_accounts()[1], citizens=KIND_CITIZENS, start_ms=STAMPED_MS
            )
    means = webhook_calls.mean_calls(per_kind)
    targets = " ".join(f"{kind}<={webhook_calls.TARGETS[kind]:.0f}" for kind in webhook_calls.KINDS)
    print(f"  (AWS calls before the answer, mean per event of each kind, emulated stack; targets {targets})")
    print(webhook_calls.calls_line(per_kind))
    rng = random.Random(SEED)
    for kind in webhook_calls.KINDS:
        events = per_kind[kind]
        ours = [webhook_calls.simulated_ms(calls, rng) for calls in events for _ in range(DRAWS_PER_EVENT)]
        floor_calls = webhook_calls.FLOORS[kind]
        floor = [webhook_calls.simulated_ms(floor_calls, rng) for _ in range(len(ours))]
        for name, fraction in (("p50", 0.50), ("p99", 0.99)):
            o, f = webhook_calls.percentile(ours, fraction), webhook_calls.percentile(floor, fraction)
            print(
                f"bench webhook_{kind}_{name}: ours={o:.1f} ms floor={f:.1f} ms ratio={o / f:.2f}"
                f" better=lower (modelled; {means[kind]:.1f} calls vs {len(floor_calls)})"
            )


if __name__ == "__main__":
    bench_cold_import()
    bench_per_event()
    bench_per_kind()
