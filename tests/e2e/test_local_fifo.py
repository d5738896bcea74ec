"""moto's FIFO queues as the local stack needs them: a group's messages in order after a visibility
timeout, and the dead-letter queue after maxReceiveCount (what the local queue pump relies on)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tipline_local.emulator import fix_fifo_order_after_visibility_timeout, free_port
from tipline_local.provision import emulator_client

ROOT = Path(__file__).resolve().parents[2]


def _fifo_queues(endpoint: str) -> tuple[Any, str, str]:
    sqs = emulator_client(endpoint, "sqs")
    name = f"order-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    queue = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "30", "RedrivePolicy": redrive},
    )["QueueUrl"]
    for body in ("A0", "A1", "A2", "B0"):
        sqs.send_message(
            QueueUrl=queue, MessageBody=body, MessageGroupId=body[0], MessageDeduplicationId=body
        )
    return sqs, queue, dlq


@pytest.fixture
def fifo(moto_endpoint: str) -> tuple[Any, str, str]:
    fix_fifo_order_after_visibility_timeout()
    return _fifo_queues(moto_endpoint)


@pytest.fixture
def corrected_moto_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m tipline_local.emulator`: the corrected emulator in a process of its own."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tipline_local.emulator", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=2)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.2)
    yield endpoint, process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _receive(sqs: Any, queue: str, count: int = 10, visibility: int | None = None) -> list[dict[str, Any]]:
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    answer = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=count, AttributeNames=["ApproximateReceiveCount"], **extra
    )
    return list(answer.get("Messages", []))


def test_a_group_in_flight_hands_out_nothing_more_of_that_group(fifo: tuple[Any, str, str]) -> None:
    sqs, queue, _ = fifo
    assert [m["Body"] for m in _receive(sqs, queue, count=2)] == ["A0", "A1"]
    assert [m["Body"] for m in _receive(sqs, queue)] == ["B0"]  # A2 waits for A0 and A1


def test_failed_messages_of_a_group_come_back_in_order(fifo: tuple[Any, str, str]) -> None:
    sqs, queue, _ = fifo
    # A consumer fails A0 and A1 (the rest of the group after an error); their visibility lapses.
    assert [m["Body"] for m in _receive(sqs, queue, count=2, visibility=0)] == ["A0", "A1"]
    again = [m["Body"] for m in _receive(sqs, queue)]
    assert [body for body in again if body.startswith("A")] == ["A0", "A1", "A2"]


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(
    fifo: tuple[Any, str, str],
) -> None:
    sqs, queue, dlq = fifo
    counts = [
        [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in _receive(sqs, queue, 1, 0)]
        for _ in range(3)
    ]
    assert counts == [[("A0", "1")], [("A0", "2")], [("A0", "3")]]
    assert [m["Body"] for m in _receive(sqs, queue, 1, 0)] == ["A1"]  # A0 went on at the 4th receive
    assert [m["Body"] for m in _receive(sqs, dlq, visibility=0)] == ["A0"]


def test_a_deduplication_id_is_remembered_after_its_message_was_deleted(fifo: tuple[Any, str, str]) -> None:
    """Within SQS's five minutes a second copy is dropped, even once the first was handled: the
    webhook and the spill consumer can both queue one acknowledgement."""
    sqs, queue, _ = fifo
    sqs.send_message(QueueUrl=queue, MessageBody="ack", MessageGroupId="C", MessageDeduplicationId="r1")
    (first,) = [m for m in _receive(sqs, queue) if m["Body"] == "ack"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"])
    sqs.send_message(QueueUrl=queue, MessageBody="ack", MessageGroupId="C", MessageDeduplicationId="r1")
    assert [m for m in _receive(sqs, queue, visibility=0) if m["Body"] == "ack"] == []


def test_two_waiting_pollers_never_hold_one_fifo_group_at_once(moto_endpoint: str) -> None:
    """Two pollers long-poll an empty queue (as the local pump's do); two messages of one group
    arrive. Only one poller may get one: the group is in flight until it is deleted."""
    from moto.sqs.models import sqs_backends

    sqs = emulator_client(moto_endpoint, "sqs")
    name = f"pollers-{uuid.uuid4().hex[:8]}.fifo"
    queue = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    waiting = sqs_backends["123456789012"]["ap-southeast-1"].queues[name]._messages_lock
    got: list[list[str]] = []

    def poll() -> None:
        answer = emulator_client(moto_endpoint, "sqs").receive_message(
            QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=2
        )
        got.append([m["Body"] for m in answer.get("Messages", [])])

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for poller in pollers:
        poller.start()
    deadline = time.monotonic() + 30
    while len(waiting._waiters) < 2:  # type: ignore[attr-defined]  # both in their long poll
        assert time.monotonic() < deadline, "the pollers never waited"
        time.sleep(0.01)
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": str(i), "MessageBody": f"D{i}", "MessageGroupId": "D", "MessageDeduplicationId": f"D{i}"}
            for i in range(2)
        ],
    )
    for poller in pollers:
        poller.join(timeout=30)
    assert sorted(got) == [[], ["D0"]]


@pytest.mark.e2e
def test_the_corrected_emulator_runs_as_a_process_of_its_own(
    corrected_moto_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    endpoint, process = corrected_moto_process
    sqs, queue, _ = _fifo_queues(endpoint)
    assert [m["Body"] for m in _receive(sqs, queue, count=2, visibility=0)] == ["A0", "A1"]
    assert [m["Body"] for m in _receive(sqs, queue) if m["Body"].startswith("A")] == ["A0", "A1", "A2"]
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
