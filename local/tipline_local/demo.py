"""`make demo`: with the local stack running, a scripted scenario over HTTP only, and its transcript.

Citizens write to a unit's OA through the Zalo simulator (signed like Zalo), one of them urgent; one
follows the OA; one asks for the status of their tip by its code; an officer lists the unit's tips,
reads one (audited) and answers. The transcript shows what each citizen saw (the simulator's record
of what the OA sent) and what was stored (sizes of ciphertext, never content).
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

import httpx
from tipline.intake.tipcode import ALPHABET, CHECK_ALPHABET

from tipline_local import auth
from tipline_local.accounts import demo_accounts
from tipline_local.provision import emulator_client

UNIT = "pc02-hoan-kiem"
WAIT_SECONDS = 30.0
# A displayed tip code: nine data characters and a check symbol, which may be one of *~$=U.
_CODE = re.compile(f"([{ALPHABET}]{{5}}-[{ALPHABET}]{{4}}[{re.escape(CHECK_ALPHABET)}])")


class Demo:
    def __init__(self, base: str, info: dict[str, Any]) -> None:
        self.base = base
        self.zalo: str = info["zalo"]
        self.webhook: str = info["webhook"]
        self.info = info
        self.oa = next(a for a in demo_accounts() if a.unit_id == UNIT).oa_id
        self.http = httpx.Client(timeout=30)

    def citizen(self, user_id: str, text: str, event: str = "user_send_text") -> int:
        answer = self.http.post(
            f"{self.zalo}/_sim/citizen",
            json={
                "oa_id": self.oa,
                "user_id": user_id,
                "text": text,
                "webhook_url": self.webhook,
                "event_name": event,
            },
        )
        answer.raise_for_status()
        return int(answer.json().get("status", 0))

    def received(self, user_id: str) -> list[dict[str, Any]]:
        return [m for m in self.http.get(f"{self.zalo}/_sim/sent").json() if m["user_id"] == user_id]

    def wait_for(self, user_id: str, count: int, seconds: float = WAIT_SECONDS) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            sent = self.received(user_id)
            if len(sent) >= count or time.monotonic() > deadline:
                return sent
            time.sleep(0.3)

    def show_latest(self, who: str, user_id: str, count: int) -> str:
        sent = self.wait_for(user_id, count)
        if len(sent) < count:
            print(f"  {who} sees: (nothing yet after {WAIT_SECONDS:.0f} s: is the reply sender running?)")
            return ""
        text = str(sent[-1]["text"])
        print(f"  {who} sees: {text}")
        return text


def _stored(info: dict[str, Any]) -> None:
    table = emulator_client(info["aws"], "dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": info["table"]}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    sizes = sorted(
        len(value["B"])
        for item in items
        for value in item.values()
        if isinstance(value, dict) and "B" in value
    )
    print(f"\n== Stored: {len(items)} items in {info['table']}")
    if sizes:
        print(f"  {len(sizes)} encrypted values, {sizes[0]}-{sizes[-1]} bytes of ciphertext each")
    print("  (what citizens wrote and their Zalo ids exist only inside those envelopes)")


def main() -> int:
    base = os.environ.get("TIPLINE_URL") or f"http://127.0.0.1:{os.environ.get('TIPLINE_PORT', '3000')}"
    try:
        info = httpx.get(f"{base}/_local/info", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        print(f"No local stack at {base}: start it with `make dev` first (TIPLINE_PORT if not 3000).")
        return 2
    demo = Demo(base, info)
    stamp = str(int(time.time()))[-6:]
    lan, minh, hoa = f"demo-lan-{stamp}", f"demo-minh-{stamp}", f"demo-hoa-{stamp}"

    print(f"== Citizens write to the OA of {UNIT} (through the Zalo simulator, signed like Zalo)")
    demo.citizen(
        lan, "Có người gọi điện giả danh công an, yêu cầu tôi chuyển 50 triệu để 'xác minh tài khoản'."
    )
    print("  Lan: a scam call asking her to transfer 50 million dong")
    lan_ack = demo.show_latest("Lan", lan, 1)
    demo.citizen(minh, "Cháy lớn ở ngõ 12 phố Huế, có người mắc kẹt trên tầng 3!")
    print("  Minh (urgent): a big fire in lane 12 Hue street, people trapped on the 3rd floor")
    demo.show_latest("Minh", minh, 1)
    status = demo.citizen(hoa, "", event="follow")
    print(f"  Hoa follows the OA (webhook answered {status})")
    time.sleep(1)
    for message in demo.received(hoa):
        print(f"  Hoa sees: {message['text']}")

    found = _CODE.search(lan_ack)
    if found:
        code = found.group(1)
        demo.citizen(lan, code.lower())
        print(f"\n== Lan asks for the status of her tip: {code.lower()}")
        demo.show_latest("Lan", lan, 2)
    else:
        code = ""
        print("\n== (no tip code in Lan's acknowledgement: the status query is skipped)")

    officer = {"Authorization": "Bearer " + auth.issue_token(UNIT, "officer", subject="demo-officer")}
    listing = demo.http.get(f"{base}/v1/tips", headers=officer)
    if listing.status_code == 404:
        print("\n== The officer API is not in template.yaml yet: the officer's part is skipped")
        _stored(info)
        return 0
    listing.raise_for_status()
    tips = listing.json()["items"]
    print(f"\n== The unit's officer lists its tips (no decryption): {len(tips)} on the first page")
    for tip in tips[:5]:
        print(f"  {tip['code']}  status={tip['status']}  urgent={tip['urgent']}  citizen={tip['citizen']}")
    lan_tip = next((t for t in tips if t["code"] == code), None)
    if lan_tip is None:
        print("  (Lan's tip is not on the first page: the officer's reply is skipped)")
        _stored(info)
        return 1
    thread = demo.http.get(
        f"{base}/v1/tips/{lan_tip['tip_id']}", params={"reason": "xác minh tin báo"}, headers=officer
    ).json()
    print(f"\n== The officer opens {code} (the read is audited) and answers Lan:")
    for message in thread["messages"]:
        print(f"  [{message['direction']}] {message['text']}")
    demo.http.post(
        f"{base}/v1/tips/{lan_tip['tip_id']}/replies",
        json={"text": "Cảm ơn bạn. Tuyệt đối không chuyển tiền; chúng tôi đang xác minh số điện thoại này."},
        headers=officer,
    ).raise_for_status()
    demo.show_latest("Lan", lan, 3)
    _stored(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
