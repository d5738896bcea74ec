"""A Lambda timeout in the middle of a batch: the runtime stops the sender without a response, so
SQS makes the whole batch visible again; what was already sent must not be sent twice."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fixtures.sender import QUEUE, Poller, Zalo, citizens_write, outbound, simulated_zalo
from fixtures.webhook import receive, sqs_event
from tipline.adapters import zalo
from tipline.domain import DeliveryStatus
from tipline.handlers import reply_sender as sender
from tipline_local.provision import Provisioned


class LambdaTimedOut(BaseException):
    """What the runtime does at the timeout: the function stops where it is (no exception handler runs)."""


@pytest.fixture
def zalo_sim(stack: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zalo]:
    yield from simulated_zalo(monkeypatch)


def test_a_timeout_mid_batch_loses_nothing_and_sends_nothing_twice(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = citizens_write(zalo_sim, lambda_context, "báo tin", 710000000000000000, 5)
    batch = receive(stack, QUEUE)
    assert len(batch) == 5

    calls = itertools.count(1)
    send = zalo.send_consultation

    def stop_at_the_third_reply(token: str, user_id: str, text: str) -> zalo.SentMessage:
        if next(calls) == 3:  # the runtime stops the function before this call goes out
            raise LambdaTimedOut
        return send(token, user_id, text)

    with monkeypatch.context() as patched:
        patched.setattr(zalo, "send_consultation", stop_at_the_third_reply)
        with pytest.raises(LambdaTimedOut):
            sender.handler(sqs_event(batch, stack.resolver.attributes[f"{QUEUE}.Arn"]), lambda_context)
    sent_before = len(zalo_sim.cs_sent())
    assert 1 <= sent_before < 5, "the timeout struck in the middle of the batch"

    # No response: nothing was deleted; after the visibility timeout SQS delivers the batch again.
    sqs = boto3.client("sqs")
    for message in batch:
        sqs.change_message_visibility(
            QueueUrl=stack.queue_urls[QUEUE], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    poller = Poller(stack, lambda_context)
    for _ in range(10):
        messages, _failed = poller.once()
        if not messages:
            break
    for user in users:
        assert len(zalo_sim.cs_sent(user)) == 1, user
    assert all(entry.status == DeliveryStatus.SENT for entry in outbound(stack))
