"""The officer API end to end through the local stack (`make dev` as a subprocess), over HTTP only.

A citizen writes through the Zalo simulator (a signed webhook), the unit's officer lists, reads and
answers the tip with a local token, and the simulator receives the reply addressed to that citizen
only. Another unit's officer gets 404 for everything about the tip, until the tip is transferred.
The local front verifies the tokens as API Gateway's JWT authorizer does (tests/e2e/test_local_stack.py
walks every route with garbage, expired and foreign-key tokens).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from fixtures.local_stack import CODE, OA, StackProcess
from fixtures.local_stack import wait_for as _wait
from tipline_local import auth

pytestmark = pytest.mark.e2e
OWN, OTHER = "pc02-hoan-kiem", "pc08-traffic"


def _bearer(unit: str, role: str = "officer") -> dict[str, str]:
    return {"Authorization": "Bearer " + auth.issue_token(unit, role)}


def _acknowledged(stack: StackProcess, user_id: str) -> str:
    """The tip code the citizen's acknowledgement names."""
    (ack,) = _wait(lambda: stack.sent_to(user_id), 60, "the acknowledgement")
    found = CODE.search(ack["text"])
    assert found, ack["text"]
    return found.group(1)


def test_a_units_officer_answers_the_right_citizen_and_no_other_unit_sees_the_tip(
    running: StackProcess,
) -> None:
    api = f"{running.url}/v1"
    own, other, commander = _bearer(OWN), _bearer(OTHER), _bearer("province", "commander")
    victim, neighbour = (f"{n}{uuid.uuid4().int % 10**17:017d}" for n in (5, 6))  # Zalo-like ids
    running.citizen_says(victim, "Bị lừa chuyển khoản 20 triệu qua Zalo")
    running.citizen_says(neighbour, "Có người bán hàng giả ở chợ đêm")
    code = _acknowledged(running, victim)
    _acknowledged(running, neighbour)
    tip = next(t for t in httpx.get(f"{api}/tips", headers=own).json()["items"] if t["code"] == code)
    path = f"{api}/tips/{tip['tip_id']}"

    outside = [
        httpx.get(path, params={"reason": "tò mò"}, headers=other),
        httpx.post(f"{path}/replies", json={"text": "Xin chào"}, headers=other),
        httpx.patch(path, json={"status": "spam"}, headers=other),
        httpx.post(f"{path}/transfer", json={"unit_id": OTHER, "reason": "lấy về"}, headers=other),
        httpx.post(f"{api}/contacts/{tip['citizen']}/block", json={"reason": "chặn"}, headers=other),
        httpx.get(f"{api}/audit", params={"tip_id": tip["tip_id"]}, headers=other),
    ]
    assert [r.status_code for r in outside] == [404] * len(outside)
    assert httpx.get(f"{api}/tips", headers=other).json()["items"] == []
    assert httpx.get(f"{api}/tips", params={"unit": OWN}, headers=other).status_code == 404

    text = "Công an đã nhận tin, sẽ liên hệ."
    answer = httpx.post(f"{path}/replies", json={"text": text}, headers=own)
    assert answer.status_code == 202, answer.text
    (delivered,) = _wait(lambda: [m for m in running.sent_to(victim) if m["text"] == text], 60, "the reply")
    assert (delivered["oa_id"], delivered["kind"]) == (OA, "cs")
    assert [m for m in running.sent_to(neighbour) if m["text"] == text] == [], "only the tip's citizen"

    def replies() -> list[str]:
        thread = httpx.get(path, params={"reason": "xem trạng thái"}, headers=own).json()
        return [m["delivery"] for m in thread["messages"] if m["kind"] == "officer_reply"]

    _wait(lambda: replies() in (["sent"], ["delivered"], ["seen"]), 60, "the delivery status")
    trail = httpx.get(f"{api}/audit", params={"tip_id": tip["tip_id"]}, headers=commander).json()
    assert [r["action"] for r in trail].count("reply") == 1
    thread = httpx.get(path, params={"reason": "kiểm tra"}, headers=own).json()
    assert victim not in str(trail) + str(thread), "officers never see the Zalo id"

    moved = httpx.post(f"{path}/transfer", json={"unit_id": OTHER, "reason": "CSGT xử lý"}, headers=own)
    assert moved.status_code == 200, moved.text
    assert httpx.get(path, params={"reason": "sau chuyển"}, headers=own).status_code == 404
    assert httpx.get(path, params={"reason": "tiếp nhận"}, headers=other).status_code == 200
