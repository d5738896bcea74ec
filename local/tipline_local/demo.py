"""`make demo`: with the local stack running, a scripted scenario over HTTP only, and its transcript.

Citizens write to a unit's OA through the Zalo simulator (signed like Zalo), one of them urgent; one
follows the OA; one asks for the status of their tip by code; an officer reads the tip and answers.
The transcript shows what each citizen saw and what was stored (sizes of ciphertext, never content).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

from tipline_local import auth
from tipline_local.provision import emulator_client

OA = "429006714426370112"
UNIT = "pc02-hoan-kiem"


def _wait_for_replies(zalo: str, user_id: str, count: int, seconds: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        sent = [m for m in httpx.get(f"{zalo}/_sim/sent").json() if m["user_id"] == user_id]
        if len(sent) >= count or time.monotonic() > deadline:
            return sent
        time.sleep(0.3)


def main() -> int:
    base = f"http://127.0.0.1:{os.environ.get('TIPLINE_PORT', '3000')}"
    try:
        info = httpx.get(f"{base}/_local/info").json()
    except httpx.HTTPError:
        print(f"No local stack at {base}: start it with `make dev` first (TIPLINE_PORT if not 3000).")
        return 2
    zalo, webhook = info["zalo"], info["webhook"]

    def citizen(user_id: str, text: str, event: str = "user_send_text") -> None:
        httpx.post(
            f"{zalo}/_sim/citizen",
            json={"oa_id": OA, "user_id": user_id, "text": text, "webhook_url": webhook, "event_name": event},
        ).raise_for_status()

    stamp = str(int(time.time()))[-6:]
    lan, minh, hoa = f"demo-lan-{stamp}", f"demo-minh-{stamp}", f"demo-hoa-{stamp}"
    print("== Citizens write to the OA of", UNIT)
    citizen(lan, "Có người gọi điện giả danh công an, yêu cầu tôi chuyển 50 triệu để 'xác minh tài khoản'.")
    citizen(minh, "Cháy lớn ở ngõ 12 phố Huế, có người mắc kẹt trên tầng 3!")
    citizen(hoa, "", event="follow")
    for who in (lan, minh):
        for message in _wait_for_replies(zalo, who, 1):
            print(f"  {who} sees: {message['text']}")

    officer = {"Authorization": "Bearer " + auth.issue_token(UNIT, "officer", subject="demo-officer")}
    tips = httpx.get(f"{base}/v1/tips", headers=officer).json()["items"]
    print(f"\n== The unit's officer lists {len(tips)} tip(s) (no decryption):")
    for tip in tips:
        print(f"  {tip['code']}  status={tip['status']}  urgent={tip['urgent']}  citizen={tip['citizen']}")

    lan_tip = next(t for t in tips if not t["urgent"])
    citizen(lan, lan_tip["code"].lower())
    print(f"\n== {lan} asks for the status of {lan_tip['code']}:")
    print(f"  {lan} sees: {_wait_for_replies(zalo, lan, 2)[-1]['text']}")

    thread = httpx.get(
        f"{base}/v1/tips/{lan_tip['tip_id']}", params={"reason": "xác minh tin báo"}, headers=officer
    ).json()
    print(f"\n== The officer opens {lan_tip['code']} (audited) and answers:")
    for message in thread["messages"]:
        print(f"  [{message['direction']}] {message['text']}")
    httpx.post(
        f"{base}/v1/tips/{lan_tip['tip_id']}/replies",
        json={"text": "Cảm ơn bạn. Tuyệt đối không chuyển tiền; chúng tôi đang xác minh số điện thoại này."},
        headers=officer,
    ).raise_for_status()
    print(f"  {lan} sees: {_wait_for_replies(zalo, lan, 3)[-1]['text']}")

    table = emulator_client(info["aws"], "dynamodb")
    items = table.scan(TableName=info["table"])["Items"]
    sealed = [len(item["sealed"]["B"]) for item in items if "sealed" in item]
    sizes = f"{min(sealed)}-{max(sealed)}"
    print(f"\n== Stored: {len(items)} items; {len(sealed)} sealed values of {sizes} bytes each")
    print("   (message texts and Zalo ids exist only inside those envelopes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
