"""Who may do what on the officer API: every /v1 route of template.yaml against every kind of caller.

Layers. API Gateway's JWT authorizer verifies tokens and rejects garbage, expired and foreign-key tokens
with 401 before the function runs; locally the HTTP front does the same (tests/test_local_stack.py walks
every protected route with those tokens, and test_local_tokens_* checks tipline_local.auth.verify).
Here the real handler gets what passes that layer: claims as API Gateway renders them (array claims as
"[a b]" strings), or no claims at all (a route wired without the authorizer), and must decide scope:
own unit, another unit (404 for anything about the tip, never 403), the provincial command (all).
"""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.officer import call, claims
from fixtures.webhook import deliver, drain, items_with_prefix, text_event
from tipline_local.template import functions, load_template

pytestmark = pytest.mark.usefixtures("stack")

OWN = "pc02-hoan-kiem"  # the unit of the demo OA the webhook samples write to
OTHER = "pc08-traffic"
COMMANDER = claims("province", "commander", subject="commander-1")
IDENTITIES: dict[str, dict[str, Any] | None] = {
    "own unit": claims(OWN),
    "other unit": claims(OTHER, subject="officer-2"),
    "commander": COMMANDER,
    "no claims": None,
}
# Advisories are issue 7's routes (tests/test_advisories.py checks their scope); here only: no claims, 401.
ADVISORY_ROUTES = {
    ("GET", "/v1/advisories"),
    ("POST", "/v1/advisories"),
    ("GET", "/v1/advisories/{advisory_id}"),
    ("DELETE", "/v1/advisories/{advisory_id}"),
}

# route -> expected status per identity, walked in this order (the transfer moves the tip: last).
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/v1/openapi.json"): {"own unit": 200, "other unit": 200, "commander": 200, "no claims": 401},
    ("GET", "/v1/tips"): {"own unit": 200, "other unit": 200, "commander": 200, "no claims": 401},
    ("GET", "/v1/stats"): {"own unit": 200, "other unit": 200, "commander": 200, "no claims": 401},
    ("GET", "/v1/me"): {"own unit": 200, "other unit": 200, "commander": 200, "no claims": 401},
    ("GET", "/v1/units"): {"own unit": 200, "other unit": 200, "commander": 200, "no claims": 401},
    ("GET", "/v1/audit"): {"own unit": 404, "other unit": 404, "commander": 200, "no claims": 401},
    ("GET", "/v1/tips/{tip_id}"): {"own unit": 200, "other unit": 404, "commander": 200, "no claims": 401},
    # An unknown attachment id for everyone (tests/test_evidence.py fetches real ones within scope).
    ("GET", "/v1/tips/{tip_id}/attachments/{attachment_id}"): {
        "own unit": 404,
        "other unit": 404,
        "commander": 404,
        "no claims": 401,
    },
    ("POST", "/v1/tips/{tip_id}/replies"): {
        "own unit": 202,
        "other unit": 404,
        "commander": 202,
        "no claims": 401,
    },
    ("PATCH", "/v1/tips/{tip_id}"): {"own unit": 200, "other unit": 404, "commander": 200, "no claims": 401},
    ("POST", "/v1/contacts/{citizen}/block"): {
        "own unit": 200,
        "other unit": 404,
        "commander": 200,
        "no claims": 401,
    },
    ("GET", "/v1/blocks"): {"own unit": 200, "other unit": 200, "commander": 200, "no claims": 401},
    ("DELETE", "/v1/contacts/{citizen}/block"): {
        "own unit": 200,
        "other unit": 404,
        "commander": 200,
        "no claims": 401,
    },
    ("POST", "/v1/tips/{tip_id}/transfer"): {
        "own unit": 200,
        "other unit": 404,
        "commander": 200,
        "no claims": 401,
    },
}
CHANGES = {"PATCH", "POST"}


def _officer_routes() -> set[tuple[str, str]]:
    events = functions(load_template())["OfficerApiFunction"]["Events"].values()
    routes = set()
    for event in events:
        assert event["Type"] == "HttpApi"
        spec = event["Properties"]
        assert spec["Auth"]["Authorizer"] == "OfficerJwt", spec["Path"]
        routes.add((str(spec["Method"]).upper(), str(spec["Path"])))
    return routes


def test_the_walk_covers_every_officer_route_of_the_template() -> None:
    assert _officer_routes() == set(EXPECTED) | ADVISORY_ROUTES


def _request(
    method: str, template: str, tip_id: str, citizen: str
) -> tuple[str, dict[str, str] | None, dict[str, Any] | None]:
    path = (
        template.replace("{tip_id}", tip_id)
        .replace("{citizen}", citizen)
        .replace("{attachment_id}", "MSG-0000000000001-x-0")
    )
    query: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    if template == "/v1/audit":
        query = {"tip_id": tip_id}
    elif (method, template) == ("DELETE", "/v1/contacts/{citizen}/block"):
        query = {"reason": "chặn nhầm"}
    elif template in ("/v1/tips/{tip_id}", "/v1/tips/{tip_id}/attachments/{attachment_id}"):
        query = {"reason": "xác minh tin báo"} if method == "GET" else None
    if (method, template) == ("PATCH", "/v1/tips/{tip_id}"):
        body = {"status": "in_progress", "labels": ["lừa đảo"], "note": "gọi lại sau"}
    elif template.endswith("/replies"):
        body = {"text": "Cảm ơn bạn, chúng tôi đang xác minh."}
    elif template.endswith("/transfer"):
        body = {"unit_id": OTHER, "reason": "thuộc thẩm quyền"}
    elif (method, template) == ("POST", "/v1/contacts/{citizen}/block"):
        body = {"reason": "tin rác lặp lại"}
    return path, query, body


def _state(stack: Any, tip_id: str) -> dict[str, Any]:
    (tip,) = items_with_prefix(stack, f"TIP#{tip_id}", "META")
    (contact,) = items_with_prefix(stack, "CONTACT#", "META")
    return {
        "unit": tip["unit_id"]["S"],
        "status": tip["status"]["S"],
        "labels": tip.get("labels"),
        "entries": len(items_with_prefix(stack, f"TIP#{tip_id}", "MSG#")),
        "blocked": "officer_block" in contact,
        "audits": len(items_with_prefix(stack, "AUDIT#", table="AuditTable")),
    }


@pytest.mark.parametrize("who", sorted(IDENTITIES))
def test_every_route_answers_each_caller_within_its_scope(who: str, stack: Any, lambda_context: Any) -> None:
    deliver(lambda_context, text_event("Có người giả danh công an gọi điện lừa chuyển tiền"))
    drain(stack, "RepliesQueue")  # the acknowledgement
    (listed,) = call(lambda_context, "GET", "/v1/tips", COMMANDER)[1]["items"]
    tip_id, citizen = listed["tip_id"], listed["citizen"]
    before = _state(stack, tip_id)
    answers: dict[tuple[str, str], int] = {}
    bodies: dict[tuple[str, str], Any] = {}
    for route in EXPECTED:
        path, query, body = _request(*route, tip_id, citizen)
        answers[route], bodies[route] = call(lambda_context, route[0], path, IDENTITIES[who], query, body)
    for route in ADVISORY_ROUTES if who == "no claims" else ():
        path = route[1].replace("{advisory_id}", "adv-1")
        body = {} if route[0] == "POST" else None
        answers[route] = call(lambda_context, route[0], path, None, None, body)[0]
    expected = {route: statuses[who] for route, statuses in EXPECTED.items()}
    if who == "no claims":
        expected |= dict.fromkeys(ADVISORY_ROUTES, 401)
    assert answers == expected, {r: (answers[r], bodies.get(r)) for r in answers if answers[r] != expected[r]}

    after = _state(stack, tip_id)
    queued = drain(stack, "RepliesQueue")
    if who in ("other unit", "no claims"):
        assert after == before, "a caller outside the scope read or changed nothing"
        assert queued == []
        if who == "other unit":
            assert bodies[("GET", "/v1/tips")]["items"] == []
            assert bodies[("GET", "/v1/stats")] == [], "no other unit's counts"
            assert bodies[("GET", "/v1/blocks")] == [], "no other unit's blocks"
        return
    assert len(queued) == 1, "the reply"
    assert after["unit"] == OTHER
    assert after["status"] == "in_progress"
    assert after["blocked"] is False, "blocked, listed, then lifted"
    assert [block["citizen"] for block in bodies[("GET", "/v1/blocks")]] == [citizen]
    assert after["entries"] == before["entries"] + 2, "the reply and the sealed note"
    # One record per decrypting read or change: read, reply, triage, block, unblock, and the transfer
    # in both units.
    assert after["audits"] == before["audits"] + 7
    assert [item["tip_id"] for item in bodies[("GET", "/v1/tips")]["items"]] == [tip_id]
    assert [unit["unit_id"] for unit in bodies[("GET", "/v1/stats")]] == [OWN]


GROUP_SHAPES: list[tuple[Any, str, int]] = [
    ("[officer]", OWN, 200),  # API Gateway's rendering of an array claim
    ('["officer"]', OWN, 200),  # a JSON list in a string
    (["officer"], OWN, 200),  # a real list (other authorizers)
    ("[officer commander]", "", 200),
    ('["commander", "officer"]', OTHER, 200),
    ("[officer,commander]", "", 200),  # commas without spaces
    ("[commander,officer]", OTHER, 200),
    ("[officer]", OTHER, 404),
    ("[]", OWN, 401),
    ("[viewer]", OWN, 401),
    ("[officer]", "", 401),  # an officer without a unit sees nothing
    ("officers", OWN, 401),  # no substring matching
]


def test_group_claims_in_every_shape(stack: Any, lambda_context: Any) -> None:
    deliver(lambda_context, text_event("Xe máy bị trộm ở chợ"))
    (listed,) = call(lambda_context, "GET", "/v1/tips", COMMANDER)[1]["items"]
    answers = []
    for groups, unit, _ in GROUP_SHAPES:
        who = {"sub": "officer-3", "cognito:groups": groups, "custom:unit_id": unit, "token_use": "id"}
        path = f"/v1/tips/{listed['tip_id']}"
        answers.append((groups, unit, call(lambda_context, "GET", path, who, {"reason": "xác minh"})[0]))
    assert answers == GROUP_SHAPES


def test_claims_without_a_subject_are_unauthenticated(stack: Any, lambda_context: Any) -> None:
    who = {"cognito:groups": "[commander]", "custom:unit_id": OWN}
    assert call(lambda_context, "GET", "/v1/tips", who)[0] == 401
    assert call(lambda_context, "GET", "/v1/tips", {**who, "token_use": "id"})[0] == 401, "an ID token too"
    assert call(lambda_context, "GET", "/v1/tips", {})[0] == 401
