"""The Zalo OA simulator keeps Zalo's rules: every rule refused when broken, allowed when kept."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.waiting import until
from tipline.intake.signature import signature_matches
from tipline_local.emulator import free_port
from tipline_local.zalo_sim import VIETNAM, ZaloSimulator, serve
from tipline_local.zalo_sim import cli as zalo_sim_cli
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

OA, APP, SECRET, OA_KEY = "oa-1", "app-1", "app-secret-1", "oa-key-1"
TOKEN, REFRESH = "access-1", "refresh-1"
CITIZEN = "user-1"
HOUR = 3600.0
DAY = 86400.0


def vn(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=VIETNAM).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock(vn(2025, 11, 28, 10))


@pytest.fixture
def sim(clock: Clock) -> ZaloSimulator:
    simulator = ZaloSimulator(clock=clock, timeout_seconds=0.2)
    simulator.add_oa(OA, APP, SECRET, TOKEN, REFRESH, OA_KEY)
    return simulator


@pytest.fixture
def api(sim: ZaloSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://zalo.sim") as client:
        yield client


def renew(sim: ZaloSimulator) -> None:
    """Re-authorise the OA with TOKEN/REFRESH valid from now (tests that jump days past 25 h)."""
    sim.add_oa(OA, APP, SECRET, TOKEN, REFRESH, OA_KEY)


def cs(
    api: httpx.Client, user: str = CITIZEN, text: str = "Cảm ơn bạn", token: str = TOKEN
) -> dict[str, Any]:
    response = api.post(
        "/v3.0/oa/message/cs",
        headers={"access_token": token},
        json={"recipient": {"user_id": user}, "message": {"text": text}},
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def promotion(api: httpx.Client, user: str = CITIZEN, token: str = TOKEN) -> dict[str, Any]:
    payload = {
        "template_type": "promotion",
        "language": "VI",
        "elements": [
            {"type": "header", "content": "Cảnh báo lừa đảo"},
            {"type": "text", "align": "left", "content": "Không chuyển tiền cho người lạ."},
        ],
    }
    response = api.post(
        "/v3.0/oa/message/promotion",
        headers={"access_token": token},
        json={
            "recipient": {"user_id": user},
            "message": {"attachment": {"type": "template", "payload": payload}},
        },
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def refresh(api: httpx.Client, token: str, secret: str = SECRET) -> dict[str, Any]:
    response = api.post(
        "/v4/oa/access_token",
        headers={"secret_key": secret},
        data={"app_id": APP, "refresh_token": token, "grant_type": "refresh_token"},
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def getlist(api: httpx.Client, **query: Any) -> dict[str, Any]:
    response = api.get(
        "/v3.0/oa/user/getlist", params={"data": json.dumps(query)}, headers={"access_token": TOKEN}
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------ consultation


def test_cs_reaches_a_citizen_inside_the_window(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    body = cs(api, text="Đã nhận tin báo")
    assert body["error"] == 0
    assert body["data"]["user_id"] == CITIZEN
    assert body["data"]["quota"]["remain"] == 7
    [sent] = sim.sent
    assert sent["message_id"] == body["data"]["message_id"]
    assert (sent["kind"], sent["oa_id"], sent["user_id"], sent["text"], sent["free"]) == (
        "cs",
        OA,
        CITIZEN,
        "Đã nhận tin báo",
        True,
    )
    assert sim.violations == []


def test_cs_refused_outside_the_7_day_window(sim: ZaloSimulator, api: httpx.Client, clock: Clock) -> None:
    assert cs(api, user="never-wrote")["error"] == -230
    sim.interact(OA, CITIZEN)
    clock.advance(7 * DAY)
    renew(sim)
    assert cs(api)["error"] == 0
    clock.advance(1)
    assert cs(api)["error"] == -230
    assert len(sim.sent) == 1
    assert sim.refusals[-230] == 2
    assert [v["rule"] for v in sim.violations] == ["interaction_window", "interaction_window"]


def test_a_new_interaction_reopens_the_window(sim: ZaloSimulator, api: httpx.Client, clock: Clock) -> None:
    sim.interact(OA, CITIZEN)
    clock.advance(8 * DAY)
    renew(sim)
    assert cs(api)["error"] == -230
    sim.interact(OA, CITIZEN)
    assert cs(api)["error"] == 0


def test_first_8_replies_within_48h_are_free_then_billed(
    sim: ZaloSimulator, api: httpx.Client, clock: Clock
) -> None:
    sim.interact(OA, CITIZEN)
    for _ in range(9):
        assert cs(api)["error"] == 0
    assert [s["free"] for s in sim.sent] == [True] * 8 + [False]
    sim.interact(OA, CITIZEN)  # the citizen writes again: a new free batch
    assert cs(api)["data"]["quota"]["quota_type"] == "reply_free"
    clock.advance(48 * HOUR + 1)  # past 48 h but inside 7 days: allowed, billed
    renew(sim)
    assert cs(api)["data"]["quota"]["quota_type"] == "reply_billed"
    assert [s["free"] for s in sim.sent][9:] == [True, False]


def test_interaction_time_can_be_given(sim: ZaloSimulator, api: httpx.Client, clock: Clock) -> None:
    sim.interact(OA, CITIZEN, at=clock.now - 7 * DAY - 1)
    assert cs(api)["error"] == -230
    sim.interact(OA, CITIZEN, at=clock.now - 3 * DAY)
    sim.interact(OA, CITIZEN, at=clock.now - 6 * DAY)  # an older interaction does not move it back
    body = cs(api)
    assert body["error"] == 0
    assert body["data"]["quota"]["quota_type"] == "reply_billed"  # 3 days ago: past the free 48 h


def test_following_is_an_interaction(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.follow(OA, CITIZEN)
    assert cs(api)["error"] == 0


def test_a_citizen_who_blocked_the_oa_gets_nothing_until_they_unblock(
    sim: ZaloSimulator, api: httpx.Client
) -> None:
    sim.follow(OA, CITIZEN)
    sim.block(OA, CITIZEN)
    assert cs(api)["error"] == -217
    assert promotion(api)["error"] == -217
    assert api.post("/_sim/blocks", json={"oa_id": OA, "user_id": CITIZEN, "blocked": False}).json() == {
        "ok": True
    }
    assert cs(api)["error"] == 0
    assert promotion(api)["error"] == 0
    assert [s["kind"] for s in sim.sent] == ["cs", "promotion"]
    assert sim.refusals[-217] == 2
    assert sim.violations == [], "the OA cannot know it was blocked: no rule was broken"


def test_cs_bad_requests_are_refused_with_201(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    assert cs(api, text="x" * 2001)["error"] == -201
    assert cs(api, text="x" * 2000)["error"] == 0
    headers = {"access_token": TOKEN}
    no_user = api.post("/v3.0/oa/message/cs", headers=headers, json={"message": {"text": "a"}})
    assert no_user.json()["error"] == -201
    not_json = api.post("/v3.0/oa/message/cs", headers=headers, content=b"{oops")
    assert not_json.json()["error"] == -201
    no_text = api.post("/v3.0/oa/message/cs", headers=headers, json={"recipient": {"user_id": CITIZEN}})
    assert no_text.json()["error"] == -201
    assert len(sim.sent) == 1
    assert {v["rule"] for v in sim.violations} == {"text_too_long", "invalid_request"}


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    assert api.get("/v3.0/oa/message/cs").status_code == 405
    assert api.post("/v2.0/oa/nothing").status_code == 404


# --------------------------------------------------------------- promotion


def test_promotion_only_to_followers(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)  # wrote, but does not follow
    assert promotion(api)["error"] == -213
    sim.follow(OA, CITIZEN)
    assert promotion(api)["error"] == 0
    sim.follow(OA, "user-2")
    sim.follow(OA, "user-2", following=False)
    assert promotion(api, user="user-2")["error"] == -213
    [sent] = sim.sent
    assert (sent["kind"], sent["free"]) == ("promotion", False)
    assert "Cảnh báo lừa đảo" in sent["text"]
    assert sim.refusals[-213] == 2


def test_promotion_once_per_follower_per_vietnam_day(
    sim: ZaloSimulator, api: httpx.Client, clock: Clock
) -> None:
    sim.follow(OA, CITIZEN)
    sim.follow(OA, "user-2")
    clock.now = vn(2025, 11, 28, 6)
    assert promotion(api)["error"] == 0
    clock.now = vn(2025, 11, 28, 21, 59)
    assert promotion(api)["error"] == -218
    assert promotion(api, user="user-2")["error"] == 0  # another follower is fine
    clock.now = vn(2025, 11, 29, 6)  # next Vietnam day (only 8 h 1 min later)
    assert promotion(api)["error"] == 0
    assert [v["rule"] for v in sim.violations] == ["promotion_once_per_day"]


def test_promotion_only_0600_to_2159_vietnam_time(
    sim: ZaloSimulator, api: httpx.Client, clock: Clock
) -> None:
    for index in range(6):
        sim.follow(OA, f"user-{index}")
    # 05:59 and 22:00 Vietnam time are 22:59 and 15:00 UTC: the rule is in Vietnam time.
    times = ((5, 59, -234), (6, 0, 0), (21, 59, 0), (22, 0, -234), (0, 0, -234))
    for index, (hour, minute, expected) in enumerate(times):
        clock.now = vn(2025, 11, 28, hour, minute)
        assert promotion(api, user=f"user-{index}")["error"] == expected, (hour, minute)
    assert sim.refusals[-234] == 3
    assert {v["rule"] for v in sim.violations} == {"promotion_hours"}


def test_promotion_daily_quota_500_resets_at_vietnam_midnight(
    sim: ZaloSimulator, api: httpx.Client, clock: Clock
) -> None:
    for index in range(501):
        sim.follow(OA, f"user-{index}")
    clock.now = vn(2025, 11, 28, 21)
    assert sim.promotion_quota(OA) == 500
    results = [promotion(api, user=f"user-{index}")["error"] for index in range(501)]
    assert results == [0] * 500 + [-211]
    quota = api.post("/v3.0/oa/quota/message", headers={"access_token": TOKEN}).json()["data"]["promotion"]
    assert (quota["daily_quota"], quota["used"], quota["remain"]) == (500, 500, 0)
    assert quota["reset_at"] == "2025-11-29T00:00:00+07:00"
    clock.now = vn(2025, 11, 29, 0) - 1  # 23:59:59 Vietnam time (16:59:59 UTC): still today
    renew(sim)
    used = api.post("/v3.0/oa/quota/message", headers={"access_token": TOKEN}).json()["data"]["promotion"][
        "used"
    ]
    assert used == 500
    clock.now = vn(2025, 11, 29, 0)  # 00:00 Vietnam time: the quota resets
    used = api.post("/v3.0/oa/quota/message", headers={"access_token": TOKEN}).json()["data"]["promotion"][
        "used"
    ]
    assert used == 0
    clock.now = vn(2025, 11, 29, 6)  # a new Vietnam day: quota and per-person limits reset
    assert promotion(api, user="user-500")["error"] == 0
    assert promotion(api, user="user-0")["error"] == 0


def test_promotion_quota_is_5_percent_above_10k_followers(sim: ZaloSimulator) -> None:
    for index in range(10_000):
        sim.follow(OA, f"user-{index}")
    assert sim.promotion_quota(OA) == 500
    for index in range(10_000, 20_000):
        sim.follow(OA, f"user-{index}")
    assert sim.promotion_quota(OA) == 1000


def test_promotion_must_be_a_promotion_template(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.follow(OA, CITIZEN)
    response = api.post(
        "/v3.0/oa/message/promotion",
        headers={"access_token": TOKEN},
        json={"recipient": {"user_id": CITIZEN}, "message": {"text": "not a template"}},
    )
    assert response.json()["error"] == -201
    assert sim.sent == []


# ------------------------------------------------------------------ tokens


def test_access_token_expires_after_25_hours(sim: ZaloSimulator, api: httpx.Client, clock: Clock) -> None:
    sim.interact(OA, CITIZEN)
    assert cs(api, token="made-up")["error"] == -216
    clock.advance(25 * HOUR - 1)
    sim.interact(OA, CITIZEN)
    assert cs(api)["error"] == 0
    clock.advance(1)
    assert cs(api)["error"] == -220
    assert sim.refusals == {-216: 1, -220: 1}
    assert sim.violations == []  # refreshing on expiry is the documented recovery, not a breach


def test_refresh_gives_a_new_pair_and_spends_the_old_refresh_token(
    sim: ZaloSimulator, api: httpx.Client, clock: Clock
) -> None:
    clock.advance(24 * HOUR)
    pair = refresh(api, REFRESH)
    assert pair["expires_in"] == "90000"
    assert pair["access_token"] != TOKEN
    assert pair["refresh_token"] != REFRESH
    assert sim.access_token(OA) == pair["access_token"]
    clock.advance(2 * HOUR)  # the first token has expired, the new one has not
    sim.interact(OA, CITIZEN)
    assert cs(api)["error"] == -220
    assert cs(api, token=pair["access_token"])["error"] == 0
    second = refresh(api, pair["refresh_token"])
    assert "access_token" in second


def test_spending_a_refresh_token_twice_locks_the_oa_out(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    winner = refresh(api, REFRESH)
    loser = refresh(api, REFRESH)
    assert "access_token" not in loser
    assert loser["error"] == -14014
    assert sim.is_locked(OA)
    assert [v["rule"] for v in sim.violations] == ["refresh_token_reuse"]
    # Like Zalo: every token of the OA is revoked, including the winner's fresh pair.
    assert cs(api, token=winner["access_token"])["error"] == -216
    assert "access_token" not in refresh(api, winner["refresh_token"])
    assert sim.access_token(OA) is None
    # An OA admin authorises the app again: fresh tokens work.
    sim.add_oa(OA, APP, SECRET, "access-2", "refresh-2", OA_KEY)
    assert not sim.is_locked(OA)
    assert cs(api, token="access-2")["error"] == 0


def test_refresh_failures_answer_200_without_an_access_token(
    sim: ZaloSimulator, api: httpx.Client, clock: Clock
) -> None:
    assert refresh(api, REFRESH, secret="wrong")["error"] == -14003
    assert refresh(api, "no-such-token")["error"] == -14014
    wrong_app = api.post(
        "/v4/oa/access_token",
        headers={"secret_key": SECRET},
        data={"app_id": "other", "refresh_token": REFRESH, "grant_type": "refresh_token"},
    ).json()
    assert wrong_app["error"] == -14002
    clock.advance(91 * DAY)
    expired = refresh(api, REFRESH)
    assert expired["error"] == -14014
    assert "expired" in expired["error_description"]
    assert not sim.is_locked(OA)


def test_authorization_code_with_pkce(sim: ZaloSimulator, api: httpx.Client) -> None:
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = sim.authorize(OA, challenge)

    def exchange(code_verifier: str) -> dict[str, Any]:
        data = {
            "app_id": APP,
            "code": code,
            "code_verifier": code_verifier,
            "grant_type": "authorization_code",
        }
        body: dict[str, Any] = api.post(
            "/v4/oa/access_token", headers={"secret_key": SECRET}, data=data
        ).json()
        return body

    assert exchange("w" * 43)["error"] == -14019
    pair = exchange(verifier)
    assert pair["expires_in"] == "90000"
    assert exchange(verifier)["error"] == -14019  # codes are single use
    sim.interact(OA, CITIZEN)
    assert cs(api, token=pair["access_token"])["error"] == 0
    assert cs(api)["error"] == -216  # re-authorising replaces the old tokens


# -------------------------------------------------------------- rate limit


def test_rate_limit_per_app_per_minute(clock: Clock) -> None:
    sim = ZaloSimulator(clock=clock, rate_limit=3)
    sim.add_oa(OA, APP, SECRET, TOKEN, REFRESH, OA_KEY)
    sim.add_oa("oa-2", APP, SECRET, "access-oa-2", "refresh-oa-2", OA_KEY)  # same app, another OA
    sim.add_oa("oa-3", "app-3", "s3", "access-oa-3", "refresh-oa-3", OA_KEY)
    clock.now = vn(2025, 11, 28, 10, 0)
    for oa in (OA, "oa-2", "oa-3"):
        sim.interact(oa, CITIZEN)
    with httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://zalo.sim") as api:
        remains = []
        for token in (TOKEN, TOKEN, "access-oa-2", "access-oa-2"):
            response = api.post(
                "/v3.0/oa/message/cs",
                headers={"access_token": token},
                json={"recipient": {"user_id": CITIZEN}, "message": {"text": "a"}},
            )
            assert response.headers["X-RateLimit-Limit"] == "3"
            remains.append((response.json()["error"], response.headers["X-RateLimit-Remain"]))
        assert remains == [(0, "2"), (0, "1"), (0, "0"), (-32, "0")]
        assert cs(api, token="access-oa-3")["error"] == 0  # another app has its own budget
        clock.advance(60)
        assert cs(api)["error"] == 0
    assert sim.refusals[-32] == 1
    assert [v["rule"] for v in sim.violations] == ["rate_limit"]
    assert len(sim.sent) == 5


# ------------------------------------------------------------------ faults


def test_error_fault_for_the_next_n_matching_calls(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    sim.inject(error=-32, count=2, path_prefix="/v3.0/oa/message/cs")
    assert getlist(api, offset=0, count=10)["error"] == 0  # another path is not affected
    assert [cs(api)["error"] for _ in range(3)] == [-32, -32, 0]
    assert len(sim.sent) == 1
    assert sim.violations == []
    assert [c["fault"] for c in sim.calls] == [False, True, True, False]


def test_http_5xx_fault(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    sim.inject(status=503)
    response = api.post(
        "/v3.0/oa/message/cs",
        headers={"access_token": TOKEN},
        json={"recipient": {"user_id": CITIZEN}, "message": {"text": "a"}},
    )
    assert response.status_code == 503
    assert sim.sent == []
    assert cs(api)["error"] == 0


def test_a_fault_may_say_when_to_try_again(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    sim.inject(status=429, retry_after=120)
    sim.inject(error=-32, retry_after=5)
    sim.inject(status=503)
    answers = [
        api.post(
            "/v3.0/oa/message/cs",
            headers={"access_token": TOKEN},
            json={"recipient": {"user_id": CITIZEN}, "message": {"text": "a"}},
        )
        for _ in range(3)
    ]
    assert [(a.status_code, a.headers.get("retry-after")) for a in answers] == [
        (429, "120"),
        (200, "5"),
        (503, None),
    ]
    assert sim.sent == []


def test_error_code_with_http_status(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.inject(error=-216, status=401)
    response = api.post("/v3.0/oa/quota/message", headers={"access_token": TOKEN})
    assert (response.status_code, response.json()["error"]) == (401, -216)


def test_timeout_fault_in_process_raises_read_timeout(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    sim.inject(timeout=True)
    with pytest.raises(httpx.ReadTimeout):
        cs(api)
    assert sim.sent == []
    sim.inject(timeout=True, effective=True)  # Zalo delivered it but the answer was lost
    with pytest.raises(httpx.ReadTimeout):
        cs(api)
    assert len(sim.sent) == 1
    assert [c["error"] for c in sim.calls] == ["timeout", "timeout"]


def test_faults_apply_in_order_and_validate(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.interact(OA, CITIZEN)
    sim.inject(error=-218)
    sim.inject(error=-230)
    assert [cs(api)["error"] for _ in range(3)] == [-218, -230, 0]
    with pytest.raises(ValueError, match="count"):
        sim.inject(error=-32, count=0)
    with pytest.raises(ValueError, match="status"):
        sim.inject(status=42)


# ----------------------------------------------------------------- getlist


def test_getlist_pages_followers_within_limits(sim: ZaloSimulator, api: httpx.Client) -> None:
    for index in range(120):
        sim.follow(OA, f"user-{index:03d}")
    sim.interact(OA, "writer-only")
    page = getlist(api, offset=100, count=50, is_follower="true")["data"]
    assert page["total"] == 120
    assert [u["user_id"] for u in page["users"]] == [f"user-{index:03d}" for index in range(100, 120)]
    assert getlist(api, offset=0, count=50, is_follower="false")["data"]["users"] == [
        {"user_id": "writer-only"}
    ]
    assert getlist(api, offset=0, count=51)["error"] == -201
    assert getlist(api, offset=9952, count=1)["error"] == -201
    assert getlist(api, offset=9951, count=50)["data"]["users"] == []
    bad = api.get("/v3.0/oa/user/getlist", params={"data": "not json"}, headers={"access_token": TOKEN})
    assert bad.json()["error"] == -201
    assert [v["rule"] for v in sim.violations] == ["getlist_paging", "getlist_paging", "invalid_request"]


# ------------------------------------------------------- control and server


def test_media_is_served(sim: ZaloSimulator, api: httpx.Client) -> None:
    sim.add_media("plate.jpg", b"\xff\xd8jpeg", "image/jpeg")
    response = api.get("/media/plate.jpg")
    assert (response.status_code, response.content, response.headers["content-type"]) == (
        200,
        b"\xff\xd8jpeg",
        "image/jpeg",
    )
    assert api.get("/media/missing.jpg").status_code == 404
    sim.inject(status=502, path_prefix="/media/")
    assert api.get("/media/plate.jpg").status_code == 502


def test_http_control_api(sim: ZaloSimulator, api: httpx.Client) -> None:
    assert api.post("/_sim/oas", json={**_oa_args(), "oa_id": "oa-9"}).status_code == 200
    assert api.post("/_sim/interactions", json={"oa_id": "oa-9", "user_id": CITIZEN}).status_code == 200
    assert api.post(
        "/_sim/followers", json={"oa_id": "oa-9", "user_id": CITIZEN, "following": True}
    ).is_success
    assert api.post("/_sim/faults", json={"error": -32, "count": 1}).status_code == 200
    assert cs(api, token="access-9")["error"] == -32
    assert cs(api, token="access-9")["error"] == 0
    assert api.get("/_sim/sent").json()[0]["oa_id"] == "oa-9"
    assert [c["error"] for c in api.get("/_sim/calls").json()] == [-32, 0]
    assert api.get("/_sim/violations").json() == []
    assert api.post("/_sim/faults", json={"count": 0}).status_code == 400
    assert api.post("/_sim/interactions", json={"oa_id": "nope", "user_id": "x"}).status_code == 400
    assert api.post("/_sim/reset", json={"keep_oas": True}).status_code == 200
    assert api.get("/_sim/sent").json() == []
    assert cs(api, token="access-9")["error"] == -230  # interactions forgotten, OA kept
    assert api.post("/_sim/reset").status_code == 200
    assert cs(api, token="access-9")["error"] == -216


def _oa_args() -> dict[str, str]:
    return {
        "oa_id": OA,
        "app_id": APP,
        "app_secret": SECRET,
        "access_token": "access-9",
        "refresh_token": "refresh-9",
        "oa_secret_key": OA_KEY,
    }


def test_served_over_http_with_underscore_headers(sim: ZaloSimulator) -> None:
    sim.interact(OA, CITIZEN)
    with serve(sim) as running, httpx.Client(base_url=running.url, timeout=5) as client:
        assert running.url.startswith("http://127.0.0.1:")
        assert cs(client)["error"] == 0  # `access_token` reaches the app despite the underscore
        assert "access_token" in refresh(client, REFRESH)  # and so does `secret_key`


def test_served_timeout_outlasts_the_client_and_stop_does_not_hang(sim: ZaloSimulator) -> None:
    sim.interact(OA, CITIZEN)
    sim.timeout_seconds = 30.0
    running = serve(sim)
    sim.inject(timeout=True, count=2)
    with httpx.Client(base_url=running.url, timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        cs(client)
    outcome: list[int | BaseException] = []

    def waiting_client() -> None:
        try:
            url = running.url + "/v3.0/oa/quota/message"
            outcome.append(httpx.post(url, headers={"access_token": TOKEN}, timeout=60).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=waiting_client)
    thread.start()
    # The second request is sleeping in the timeout fault once the simulator recorded it.
    until(
        lambda: sum(c["error"] == "timeout" for c in sim.calls) == 2,
        what="the second request's timeout fault",
    )
    started = time.monotonic()
    running.stop()  # wakes the request sleeping in the timeout fault
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - started < sim.timeout_seconds  # woken, not timed out
    [answer] = outcome  # the waiting client got an answer: the withheld 504, or the closed connection
    assert answer == 504 or isinstance(answer, httpx.TransportError), answer


def test_citizen_posts_a_signed_webhook_and_opens_the_window(sim: ZaloSimulator, api: httpx.Client) -> None:
    received: list[tuple[bytes, str]] = []

    def webhook(environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        received.append((request.get_data(), request.headers.get("X-ZEvent-Signature", "")))
        return Response("ok", 200)(environ, start_response)

    server = make_server("127.0.0.1", 0, webhook, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}/webhooks/zalo"
        response = api.post(
            "/_sim/citizen",
            json={"oa_id": OA, "user_id": CITIZEN, "text": "Có người lừa đảo", "webhook_url": url},
        )
        assert response.status_code == 200
        assert response.json()["status"] == 200
        status = sim.citizen(OA, "user-2", "", url, event_name="follow")
        assert status == 200
    finally:
        server.shutdown()
        server.server_close()
    (raw, signature), (follow_raw, _) = received
    body = json.loads(raw)
    assert body["event_name"] == "user_send_text"
    assert body["message"]["text"] == "Có người lừa đảo"
    assert (body["sender"]["id"], body["recipient"]["id"], body["app_id"]) == (CITIZEN, OA, APP)
    assert signature_matches(signature, APP, raw, body["timestamp"], OA_KEY)
    assert json.loads(follow_raw)["follower"]["id"] == "user-2"
    assert cs(api)["error"] == 0  # the citizen's message opened the window
    assert cs(api, user="user-2")["error"] == 0
    sim.follow(OA, "user-2")
    assert (
        api.post(
            "/_sim/citizen", json={"oa_id": OA, "user_id": CITIZEN, "webhook_url": "http://example.com/"}
        ).status_code
        == 400
    )


def test_command_line_parses_and_refuses_non_loopback() -> None:
    with pytest.raises(SystemExit):
        zalo_sim_cli.main(["--host", "192.0.2.1", "--port", "0"])


def test_latency_for_every_call_and_as_a_fault(sim: ZaloSimulator) -> None:
    sim.interact(OA, CITIZEN)
    with serve(sim) as running, httpx.Client(base_url=running.url, timeout=0.05) as client:
        sim.set_latency(0.5)
        with pytest.raises(httpx.ReadTimeout):
            cs(client)
        sim.set_latency(0.0)
        sim.inject(latency=0.5, path_prefix="/v3.0/oa/message/cs")
        with pytest.raises(httpx.ReadTimeout):
            cs(client)
        sim.inject(latency=0.001)
        # a small latency slows the call, the call itself succeeds (a patient client: the machine
        # may be loaded, and 50 ms only bounds the calls that must time out)
        with httpx.Client(base_url=running.url, timeout=10) as patient:
            assert cs(patient)["error"] == 0
    with pytest.raises(ValueError, match="negative"):
        sim.set_latency(-1)


def test_concurrent_calls_keep_the_counts_exact(clock: Clock) -> None:
    sim = ZaloSimulator(clock=clock, rate_limit=40)
    sim.add_oa(OA, APP, SECRET, TOKEN, REFRESH, OA_KEY)
    sim.interact(OA, CITIZEN)
    with (
        serve(sim) as running,
        httpx.Client(base_url=running.url, timeout=10) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        codes = list(pool.map(lambda _: cs(client)["error"], range(80)))
    assert sorted(codes) == [-32] * 40 + [0] * 40
    assert [s["free"] for s in sim.sent].count(True) == 8
    assert len({s["message_id"] for s in sim.sent}) == 40


def test_two_racing_refreshers_spend_the_token_once_and_lock_the_oa(sim: ZaloSimulator) -> None:
    barrier = threading.Barrier(2)

    def spend(_: int) -> dict[str, Any]:
        with httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://zalo.sim") as client:
            barrier.wait()
            return refresh(client, REFRESH)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(spend, range(2)))
    assert sorted("access_token" in answer for answer in answers) == [False, True]
    assert sim.is_locked(OA)


def test_command_line_serves_the_accounts(tmp_path: Path) -> None:
    accounts = [
        {
            "oa_id": OA,
            "app_id": APP,
            "unit_id": "u",
            "oa_secret_key": OA_KEY,
            "app_secret": SECRET,
            "access_token": TOKEN,
            "refresh_token": REFRESH,
        }
    ]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(accounts), "utf-8")
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(root / d) for d in ("functions", "local"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "tipline_local.zalo_sim", "--port", str(port), "--accounts", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"zalo simulator listening on http://127.0.0.1:{port}"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert client.post("/_sim/interactions", json={"oa_id": OA, "user_id": CITIZEN}).is_success
            assert cs(client)["error"] == 0
            assert client.get("/_sim/sent").json()[0]["user_id"] == CITIZEN
    finally:
        process.terminate()
        process.wait(timeout=10)
