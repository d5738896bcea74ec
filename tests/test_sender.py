"""The reply sender: replies.fifo (moto) -> the real sender handler -> the Zalo simulator (served).

Tips and acknowledgements come from the real webhook handler; SQS batches are really received from
replies.fifo, so FIFO ordering, visibility and redrive to the dead-letter queue are SQS's own.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import boto3
import pytest
from sender_support import Poller, Zalo, citizen_writes, outbound, zalo_sim  # noqa: F401
from tipline.domain import DeliveryStatus
from tipline.wiring import table
from tipline_local.provision import Provisioned
from webhook_support import deliver, demo_oa, now_ms, receive
from tipline_local.samples import zalo_body

CANARY = "CANARY-sender-7f3a tôi bị lừa 20 triệu"
USER = "246845883529197922"


def test_an_acknowledgement_reaches_the_citizen_once_and_receipts_mark_it(
    stack: Provisioned, zalo_sim: Zalo, lambda_context: Any, captured_logs: io.StringIO
) -> None:
    citizen_writes(zalo_sim, lambda_context, CANARY, USER)
    poller = Poller(stack, lambda_context)
    messages, failed = poller.once()
    assert len(messages) == 1 and not failed
    sent = zalo_sim.cs_sent(USER)
    assert len(sent) == 1
    [entry] = outbound(stack)
    assert entry.status == DeliveryStatus.SENT and entry.zalo_message_id == sent[0]["message_id"]
    # The same message delivered again (at-least-once) is recognised and not sent twice.
    from tipline.handlers import sender
    from webhook_support import sqs_event

    again = sender.handler(sqs_event(messages, stack.resolver.attributes["RepliesQueue.Arn"]), lambda_context)
    assert again == {"batchItemFailures": []}
    assert len(zalo_sim.cs_sent(USER)) == 1
    # Zalo's receipt for that message id marks the reply delivered, through the webhook.
    oa = demo_oa()
    body = zalo_body("user_received_message", oa, user_id=USER, ts=now_ms())
    body["message"]["msg_id"] = sent[0]["message_id"]
    assert deliver(lambda_context, body)["statusCode"] == 200
    assert outbound(stack)[0].status == DeliveryStatus.DELIVERED
    logs = captured_logs.getvalue()
    assert "reply sent" in logs
    for secret in (CANARY, USER, sent[0]["text"], oa.access_token):
        assert secret not in logs
