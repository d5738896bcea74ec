"""Blocks end to end through the local stack (`make dev` as a subprocess), over HTTP only.

Citizens write through the Zalo simulator (signed webhooks), block and unblock the OA there; officers
work through the officer API with local tokens; urgent alerts are read from a queue subscribed to the
stack's urgent topic in its AWS emulator. Neither Zalo's block nor an officer's keeps a message from
being stored or an emergency from alerting.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fixtures.local_stack import CODE, OA, StackProcess
from fixtures.local_stack import wait_for as _wait
from tipline_local import auth
from tipline_local.provision import emulator_client

pytestmark = pytest.mark.e2e
OWN = "pc02-hoan-kiem"
URGENT = "Cháy lớn ở ngõ 12 phố Huế, có người mắc kẹt trên tầng 3!"


@pytest.fixture(scope="module")
def running() -> Iterator[StackProcess]:
    # No quiet period between acknowledgements, so each message's acknowledgement (or its absence)
    # shows at once instead of after 30 minutes.
    stack = StackProcess({"ACK_QUIET_MINUTES": "0"})
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()


class UrgentAlerts:
    """A queue subscribed to the stack's urgent topic, as an on-duty console would be."""

    def __init__(self, aws: str) -> None:
        sns, self.sqs = emulator_client(aws, "sns"), emulator_client(aws, "sqs")
        (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("-urgent")]
        self.url = self.sqs.create_queue(QueueName=f"urgent-observer-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])
        self.seen: list[dict[str, Any]] = []

    def about(self, tip_id: str) -> list[dict[str, Any]]:
        for message in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            self.seen.append(json.loads(json.loads(message["Body"])["Message"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [alert for alert in self.seen if alert["tip_id"] == tip_id]


def _bearer(unit: str, role: str = "officer") -> dict[str, str]:
    return {"Authorization": "Bearer " + auth.issue_token(unit, role)}


def _citizen() -> str:
    return f"9{uuid.uuid4().int % 10**17:017d}"  # a Zalo-like id


def _acknowledged_tip(stack: StackProcess, user: str) -> dict[str, Any]:
    """The tip the citizen's acknowledgement names, as the unit's officers list it."""
    (ack,) = _wait(lambda: stack.sent_to(user), 60, "the acknowledgement")
    code = CODE.search(ack["text"])
    assert code, ack["text"]
    tips = httpx.get(f"{stack.url}/v1/tips", headers=_bearer(OWN)).json()["items"]
    return next(tip for tip in tips if tip["code"] == code.group(1))


def _thread(stack: StackProcess, tip_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.url}/v1/tips/{tip_id}", params={"reason": "xác minh"}, headers=_bearer(OWN))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _inbound(thread: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(m["text"], m["grouped"]) for m in thread["messages"] if m["direction"] == "in"]


def _zalo_block(stack: StackProcess, user: str, blocked: bool) -> None:
    body = {"oa_id": OA, "user_id": user, "blocked": blocked}
    assert httpx.post(f"{stack.info['zalo']}/_sim/blocks", json=body).json() == {"ok": True}


def test_a_citizen_zalo_saw_block_the_oa_comes_back_with_an_emergency_and_is_heard(
    running: StackProcess,
) -> None:
    alerts, user = UrgentAlerts(running.info["aws"]), _citizen()
    running.citizen_says(user, "Tôi muốn báo tin về một vụ lừa đảo qua mạng")
    tip = _acknowledged_tip(running, user)

    # The citizen blocks the OA in Zalo; the officer's reply meets Zalo's -217.
    _zalo_block(running, user, True)
    reply = httpx.post(
        f"{running.url}/v1/tips/{tip['tip_id']}/replies",
        json={"text": "Xin cho biết thêm"},
        headers=_bearer(OWN),
    )
    assert reply.status_code == 202, reply.text
    thread = _wait(
        lambda: (t := _thread(running, tip["tip_id"]))["sender"]["blocked_the_oa"] and t, 60, "Zalo's -217"
    )
    assert thread["sender"]["block"] is None, "Zalo's block is not an officer's"
    (failed,) = [m for m in thread["messages"] if m["kind"] == "officer_reply"]
    assert failed["delivery"] == "failed" and "blocked" in failed["reason"]

    # They unblock the OA and report a fire: stored, urgent alert, acknowledged, Zalo's block forgotten.
    _zalo_block(running, user, False)
    running.citizen_says(user, URGENT)
    thread = _thread(running, tip["tip_id"])
    assert _inbound(thread) == [("Tôi muốn báo tin về một vụ lừa đảo qua mạng", False), (URGENT, False)]
    assert thread["urgent"] is True
    assert thread["sender"]["blocked_the_oa"] is False
    alert = _wait(lambda: alerts.about(tip["tip_id"]), 60, "the urgent alert")
    assert alert == [{"unit_id": OWN, "tip_id": tip["tip_id"], "code": tip["code"]}]
    first_ack, second_ack = _wait(
        lambda: (sent := running.sent_to(user))[1:] and sent, 60, "the acknowledgement"
    )
    assert tip["code"] in second_ack["text"] and second_ack["text"] != first_ack["text"]


def test_an_officer_blocked_citizen_s_emergency_is_stored_and_alerts_but_is_not_acknowledged(
    running: StackProcess,
) -> None:
    alerts, user = UrgentAlerts(running.info["aws"]), _citizen()
    own, commander = _bearer(OWN), _bearer("province", "commander")
    running.citizen_says(user, "Có người bán hàng giả ở chợ đêm")
    tip = _acknowledged_tip(running, user)
    block_path = f"{running.url}/v1/contacts/{tip['citizen']}/block"
    blocked = httpx.post(block_path, json={"reason": "tin rác lặp lại"}, headers=own)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json() in httpx.get(f"{running.url}/v1/blocks", headers=commander).json()

    running.citizen_says(user, URGENT)
    thread = _thread(running, tip["tip_id"])
    assert _inbound(thread)[-1] == (URGENT, True), "stored, grouped into the open tip"
    assert thread["urgent"] is True
    assert thread["sender"]["block"] == blocked.json()
    alert = _wait(lambda: alerts.about(tip["tip_id"]), 60, "the urgent alert")
    assert alert == [{"unit_id": OWN, "tip_id": tip["tip_id"], "code": tip["code"]}]
    assert [m["kind"] for m in thread["messages"] if m["direction"] == "out"] == ["ack"], "no acknowledgement"

    # An officer's own reply still goes, in the citizen's FIFO group: had an acknowledgement been
    # queued for the emergency, it would have arrived first.
    text = "Chúng tôi đã chuyển tin cho cảnh sát PCCC."
    assert httpx.post(
        f"{running.url}/v1/tips/{tip['tip_id']}/replies", json={"text": text}, headers=own
    ).is_success
    _wait(lambda: [m for m in running.sent_to(user) if m["text"] == text], 60, "the officer's reply")
    assert [m["text"] for m in running.sent_to(user)][1:] == [text]

    # The provincial command lifts the block: the next message is acknowledged again.
    lifted = httpx.delete(block_path, params={"reason": "đã xác minh là tin thật"}, headers=commander)
    assert lifted.status_code == 200, lifted.text
    listed = httpx.get(f"{running.url}/v1/blocks", headers=commander).json()
    assert tip["citizen"] not in [block["citizen"] for block in listed]
    running.citizen_says(user, "Đám cháy đã được dập tắt")
    _wait(lambda: len(running.sent_to(user)) == 3, 60, "the acknowledgement after the block is lifted")
