"""Drive the reply sender like Lambda's SQS event source, against moto and the Zalo simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from tipline import clock as tipline_clock
from tipline import wiring
from tipline.adapters import aws, zalo
from tipline.adapters.table import thread_pk
from tipline.config import get_settings
from tipline.domain import ThreadEntry
from tipline.handlers import reply_sender as sender
from tipline_local.accounts import AccountSeed, demo_accounts
from tipline_local.provision import Provisioned
from tipline_local.zalo_sim import RunningSimulator, ZaloSimulator, serve
from webhook_support import delete, deliver, demo_oa, receive, sqs_event, text_event

QUEUE = "RepliesQueue"


class Clock:
    """The simulator's clock: real time plus an offset tests move."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds


@dataclass
class Zalo:
    sim: ZaloSimulator
    clock: Clock
    running: RunningSimulator

    def cs_sent(self, user_id: str | None = None) -> list[dict[str, Any]]:
        return [
            s for s in self.sim.sent if s["kind"] == "cs" and (user_id is None or s["user_id"] == user_id)
        ]

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        return [c for c in self.sim.calls if c["path"] == path]


def start_simulator(monkeypatch: pytest.MonkeyPatch, accounts: list[AccountSeed] | None = None) -> Zalo:
    clock = Clock()
    sim = ZaloSimulator(clock=clock, timeout_seconds=2.0)
    for account in accounts or demo_accounts():
        sim.add_oa(
            account.oa_id,
            account.app_id,
            account.app_secret,
            account.access_token,
            account.refresh_token,
            account.oa_secret_key,
        )
    running = serve(sim)
    # One clock for the whole flow: every function under test reads the simulator's time.
    monkeypatch.setattr(tipline_clock, "_source", clock)
    monkeypatch.setenv("ZALO_API_BASE_URL", running.url)
    monkeypatch.setenv("ZALO_OAUTH_BASE_URL", running.url)
    # Below the simulator's injected timeout (2 s), above what a loaded 2-core machine may take.
    monkeypatch.setenv("ZALO_READ_SECONDS", "1.5")
    get_settings.cache_clear()
    zalo.reset_client()
    wiring.token_store.cache_clear()
    return Zalo(sim=sim, clock=clock, running=running)


def simulated_zalo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    """The body of a test module's ``zalo_sim`` fixture (after ``stack``): a served simulator."""
    running = start_simulator(monkeypatch)
    yield running
    running.running.stop()
    zalo.reset_client()


def citizen_writes(
    zalo_sim: Zalo,
    context: Any,
    text: str,
    user_id: str,
    oa: AccountSeed | None = None,
    ts: int | None = None,
) -> None:
    """A citizen messages the OA: Zalo records the interaction, the real webhook stores the tip."""
    account = oa or demo_oa()
    zalo_sim.sim.interact(account.oa_id, user_id, at=ts / 1000 if ts else None)
    response = deliver(context, text_event(text, user_id=user_id, oa=account, ts=ts))
    assert response["statusCode"] == 200, response


def citizens_write(zalo_sim: Zalo, context: Any, text: str, first_id: int, count: int) -> list[str]:
    """``count`` citizens (Zalo ids from ``first_id`` up) each write ``text``; returns their ids."""
    users = [str(first_id + i) for i in range(count)]
    for user in users:
        citizen_writes(zalo_sim, context, text, user)
    return users


@dataclass
class Poller:
    """Lambda's SQS event source for the sender: receive, invoke, delete what succeeded.

    Records every visibility change the sender asks for (message id -> seconds), so a test can
    let virtual time pass instead of waiting.
    """

    stack: Provisioned
    context: Any
    visibility: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, str] = field(default_factory=dict)
    invocations: int = 0

    def __post_init__(self) -> None:
        aws.sqs().meta.events.register(
            "provide-client-params.sqs.ChangeMessageVisibility", self._observe, unique_id="sender-poller"
        )

    def _observe(self, params: dict[str, Any], **_: Any) -> None:
        for message_id, handle in self.receipts.items():
            if handle == params["ReceiptHandle"]:
                self.visibility[message_id] = int(params["VisibilityTimeout"])

    def once(self) -> tuple[list[dict[str, Any]], set[str]]:
        """One invocation with what is visible now; returns the messages and the failed ids."""
        messages = receive(self.stack, QUEUE)
        if not messages:
            return [], set()
        for message in messages:
            self.receipts[message["MessageId"]] = message["ReceiptHandle"]
        arn = self.stack.resolver.attributes[f"{QUEUE}.Arn"]
        response = sender.handler(sqs_event(messages, arn), self.context)
        self.invocations += 1
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        delete(self.stack, QUEUE, [m for m in messages if m["MessageId"] not in failed])
        return messages, failed

    def release(self, message_ids: set[str]) -> None:
        """Time passed: these messages' visibility timeouts are over."""
        client = boto3.client("sqs")
        for message_id in message_ids:
            client.change_message_visibility(
                QueueUrl=self.stack.queue_urls[QUEUE],
                ReceiptHandle=self.receipts[message_id],
                VisibilityTimeout=0,
            )

    def drain(self, rounds: int = 20) -> None:
        """Invoke until the queue is empty, releasing every postponed message at once."""
        for _ in range(rounds):
            messages, failed = self.once()
            if not messages:
                return
            self.release(failed)
        raise AssertionError("the replies queue did not drain")


def entries(stack: Provisioned, tip_or_contact: tuple[str | None, str]) -> list[ThreadEntry]:
    return wiring.table().thread(thread_pk(*tip_or_contact))


def outbound(stack: Provisioned) -> list[ThreadEntry]:
    """Every outbound thread entry in the table (tips' and contacts' threads)."""
    client = boto3.client("dynamodb")
    name = stack.resolver.refs["TiplineTable"]
    found: list[ThreadEntry] = []
    for page in client.get_paginator("scan").paginate(TableName=name):
        for item in page["Items"]:
            if item["sk"]["S"].startswith("MSG#") and item.get("direction", {}).get("S") == "out":
                pk = item["pk"]["S"]
                entry = wiring.table().get_entry(pk, item["sk"]["S"])
                assert entry is not None
                found.append(entry)
    return sorted(found, key=lambda e: e.entry_key)
