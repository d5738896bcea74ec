"""The AWS calls the webhook makes before its answer, per event kind, and a model of their latency.

Shared by ``bench/bench_webhook.py`` (``make bench``: many events, modelled p50/p99) and
``tests/handlers/test_webhook_calls.py`` (a few events, the per-kind targets of issue 18). Both drive
the real handler against the emulated stack (moto), so conditional writes, transactions and caches
behave as they do on AWS; calls are counted at botocore's one entry point while the handler runs.

Kinds (each event of a kind comes from its own citizen, in a warm container):

- ``new_tip``: a citizen's first text (new contact, new tip, acknowledgement);
- ``follow_up``: the same citizen's next text a few seconds later (joins the open tip; inside the
  acknowledgement quiet period, so no acknowledgement);
- ``follow``: a follow by a citizen who never wrote (a new contact: most followers), then a follow
  and an unfollow by the citizen of the tip (a known contact);
- ``receipt``: ``user_received_message`` then ``user_seen_message`` of the acknowledgement sent to
  them (its receipt pointer stored as the sender would);
- ``duplicate``: Zalo delivering the first text again after it was processed.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tipline_local.accounts import AccountSeed
from tipline_local.samples import api_event, zalo_body

KINDS = ("new_tip", "follow_up", "follow", "receipt", "duplicate")
# Issue 18's targets: AWS calls before the answer, averaged over many events of the kind.
TARGETS = {"new_tip": 8.0, "follow_up": 5.0, "follow": 3.0, "receipt": 3.0, "duplicate": 2.0}

# The least any intake that keeps the promises of docs/intake.md must do for each kind, as calls
# (service, what): new tip as issue 18 states it; a follow-up stores the message and counts it on
# the tip it joins, found from the contact; a follow writes the contact; a receipt finds the sent
# message's pointer and marks it; a duplicate is recognised by its claim.
FLOORS: dict[str, list[tuple[str, str]]] = {
    "new_tip": [
        ("dynamodb", "claim event"),
        ("dynamodb", "create or update contact"),
        ("dynamodb", "create tip"),
        ("dynamodb", "store sealed message"),
        ("kms", "one data key"),
        ("sqs", "queue acknowledgement"),
    ],
    "follow_up": [
        ("dynamodb", "claim event"),
        ("dynamodb", "update contact (its open tip)"),
        ("dynamodb", "count the message on the tip"),
        ("dynamodb", "store sealed message"),
        ("kms", "one data key"),
    ],
    "follow": [("dynamodb", "claim event"), ("dynamodb", "update contact")],  # a known contact's
    "receipt": [("dynamodb", "claim event"), ("dynamodb", "find the sent message"), ("dynamodb", "mark it")],
    "duplicate": [("dynamodb", "claim event")],
}

# Latency per call, lognormal, as (p50 ms, p99 ms). AWS publishes no per-call latency: DynamoDB is
# "single-digit ms" (AWS; /work/shared/design/AWS-FACTS.md §3), KMS "publishes none, measure it"
# (AWS-FACTS §2), SQS only end to end (p50 16 / p99 105 ms producer to Lambda, AWS-FACTS §3). The
# figures are issue 18's: DynamoDB 5/25, KMS 8/30, SQS 10/40 ms; SNS and Secrets Manager as SQS.
# A TransactWriteItems is modelled as two DynamoDB calls' worth (10/50 ms): it prepares and commits
# every item (and costs two write units per item), so it is not priced as a single write.
LATENCY_MS: dict[str, tuple[float, float]] = {
    "dynamodb": (5.0, 25.0),
    "dynamodb.TransactWriteItems": (10.0, 50.0),
    "kms": (8.0, 30.0),
    "sqs": (10.0, 40.0),
    "sns": (10.0, 40.0),
    "secretsmanager": (10.0, 40.0),
}
_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def latency_model(service: str, operation: str = "") -> tuple[float, float]:
    """(mu, sigma) of the lognormal of one call's latency in ms."""
    p50, p99 = LATENCY_MS.get(f"{service}.{operation}", LATENCY_MS.get(service, LATENCY_MS["sqs"]))
    return math.log(p50), (math.log(p99) - math.log(p50)) / _Z99


def simulated_ms(calls: list[tuple[str, str]], rng: random.Random) -> float:
    """Modelled time of a sequence of calls made one after another (simulated, nothing sleeps)."""
    return sum(rng.lognormvariate(*latency_model(service, operation)) for service, operation in calls)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass
class CallLog:
    """Every AWS call made while recording, as (service, operation)."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    recording: bool = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[CallLog]:
        from botocore.client import BaseClient

        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - botocore's one entry point
        log = self

        def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if log.recording:
                log.calls.append((client.meta.service_model.service_name, operation))
            return original(client, operation, params)

        setattr(BaseClient, "_make_api_call", counted)  # noqa: B010
        try:
            yield self
        finally:
            setattr(BaseClient, "_make_api_call", original)  # noqa: B010

    def during(self, action: Callable[[], Any]) -> list[tuple[str, str]]:
        start = len(self.calls)
        self.recording = True
        try:
            action()
        finally:
            self.recording = False
        return self.calls[start:]


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def run(
    handler: Handler,
    context: Any,
    oa: AccountSeed,
    citizens: int,
    start_ms: int,
) -> dict[str, list[list[tuple[str, str]]]]:
    """Deliver ``citizens`` rounds of every kind; the calls of each event, per kind. The container is
    warmed first (pepper, registry, app secret, spill key)."""
    from tipline import clock

    def sent_ack(user_id: str, zalo_id: str) -> None:
        """Store the receipt pointer of the citizen's acknowledgement, as the sender would."""
        from tipline import wiring
        from tipline.domain import Direction
        from tipline.intake.pseudonym import pseudonym
        from tipline.keys import tip_pk

        intake = wiring.intake()
        contact = intake.table.get_contact(pseudonym(intake.pepper, oa.oa_id, user_id))
        if contact is None or contact.open_tip_id is None:
            raise AssertionError("the first text opened no tip")
        thread = tip_pk(contact.open_tip_id)
        ack = next(e for e in intake.table.thread(thread) if e.direction == Direction.OUTBOUND)
        intake.table.remember_sent([(oa.oa_id, zalo_id, thread, ack.entry_key)])

    per_kind: dict[str, list[list[tuple[str, str]]]] = {kind: [] for kind in KINDS}
    log = CallLog()

    def deliver(body: dict[str, Any], at_ms: int) -> Callable[[], Any]:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        event = api_event(raw, oa)

        def send() -> None:
            with clock.use(lambda: at_ms / 1000):
                answer = handler(event, context)
            status = json.loads(answer["body"]).get("status")
            if answer["statusCode"] != 200 or status != "accepted":
                raise AssertionError(f"event not accepted: {answer}")

        return send

    text = "Tôi muốn báo tin lừa đảo chuyển khoản qua Zalo"
    with log.installed():
        deliver(zalo_body("user_send_text", oa, user_id="9" * 18, ts=start_ms, text=text), start_ms)()  # warm
        for index in range(citizens):
            user = str(10**17 + index)
            at = start_ms + 1000 + index * 60_000
            first = zalo_body("user_send_text", oa, user_id=user, ts=at, text=text, msg_id=f"first-{index}")
            per_kind["new_tip"].append(log.during(deliver(first, at)))
            second = zalo_body(
                "user_send_text", oa, user_id=user, ts=at + 5000, text=text, msg_id=f"next-{index}"
            )
            per_kind["follow_up"].append(log.during(deliver(second, at + 5000)))
            follower = str(2 * 10**17 + index)
            for who, offset, name in (
                (follower, 5500, "follow"),
                (user, 6000, "follow"),
                (user, 7000, "unfollow"),
            ):
                body = zalo_body(name, oa, user_id=who, ts=at + offset)
                per_kind["follow"].append(log.during(deliver(body, at + offset)))
            sent_ack(user, f"zalo-ack-{index}")
            received = zalo_body("user_received_message", oa, user_id=user, ts=at + 8000)
            received["message"] = {"msg_id": f"zalo-ack-{index}"}
            per_kind["receipt"].append(log.during(deliver(received, at + 8000)))
            seen = zalo_body("user_seen_message", oa, user_id=user, ts=at + 9000)
            seen["message"] = {"msg_ids": [f"zalo-ack-{index}"]}
            per_kind["receipt"].append(log.during(deliver(seen, at + 9000)))
            per_kind["duplicate"].append(log.during(deliver(first, at + 10_000)))
    return per_kind


def mean_calls(per_kind: dict[str, list[list[tuple[str, str]]]]) -> dict[str, float]:
    return {kind: sum(map(len, events)) / len(events) for kind, events in per_kind.items() if events}


def calls_line(per_kind: dict[str, list[list[tuple[str, str]]]]) -> str:
    means = mean_calls(per_kind)
    return "webhook calls: " + " ".join(f"{kind}={means[kind]:.1f}" for kind in KINDS)
