"""What the officer console needs of the API: who am I, the units, a tip found by its code, triage fields
in the list, statistics as counts per day and reply delivery, a typed advisory report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from fixtures.officer import call, claims, open_tip
from fixtures.webhook import items_with_prefix
from tipline import clock
from tipline.handlers import officer_api
from tipline.intake.tipcode import display

pytestmark = pytest.mark.usefixtures("stack")

OWN = "pc02-hoan-kiem"
OTHER = "pc08-traffic"
COMMANDER = claims("province", "commander", subject="chief-1")


_tip = open_tip


def test_me_names_the_callers_unit_and_role(lambda_context: Any) -> None:
    assert call(lambda_context, "GET", "/v1/me", claims(OWN, subject="o-7")) == (
        200,
        {"subject": "o-7", "unit_id": OWN, "unit_name": "Công an quận Hoàn Kiếm (demo)", "role": "officer"},
    )
    status, me = call(lambda_context, "GET", "/v1/me", COMMANDER)
    assert (status, me["role"], me["unit_id"]) == (200, "commander", "province")
    assert call(lambda_context, "GET", "/v1/me", None)[0] == 401


def test_units_lists_every_unit_once_province_first(lambda_context: Any) -> None:
    status, units = call(lambda_context, "GET", "/v1/units", claims(OTHER))
    assert status == 200
    # The province first, then its units by name.
    assert [u["unit_id"] for u in units] == ["province", "pc02-hoan-kiem", "pc08-traffic"]
    assert units[0] == {
        "unit_id": "province",
        "name": "Công an tỉnh (demo)",
        "parent_unit_id": None,
        "oa_ids": ["388613280878808645"],
    }
    assert len({u["unit_id"] for u in units}) == len(units)


def test_a_tip_is_found_by_its_code_however_typed_and_only_in_scope(stack: Any, lambda_context: Any) -> None:
    tip_id = _tip(stack, lambda_context)
    _tip(stack, lambda_context, "chuyện khác", user_id="246845883529197923")
    (item,) = items_with_prefix(stack, f"TIP#{tip_id}", "META")
    code = display(item["code"]["S"])
    for typed in (code, code.lower(), code.replace("-", ""), f"  {code} "):
        status, page = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"code": typed})
        assert status == 200
        assert [t["tip_id"] for t in page["items"]] == [tip_id], typed
        assert page["next"] is None
    assert call(lambda_context, "GET", "/v1/tips", claims(OTHER), {"code": code})[1]["items"] == []
    assert call(lambda_context, "GET", "/v1/tips", COMMANDER, {"code": code, "unit": OTHER})[1]["items"] == []
    assert [
        t["tip_id"] for t in call(lambda_context, "GET", "/v1/tips", COMMANDER, {"code": code})[1]["items"]
    ] == [tip_id]
    bad_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert call(lambda_context, "GET", "/v1/tips", claims(OWN), {"code": bad_check})[1]["items"] == []


def test_the_list_shows_assignee_and_labels_and_filters_by_assignee(stack: Any, lambda_context: Any) -> None:
    mine = _tip(stack, lambda_context)
    other = _tip(stack, lambda_context, "chuyện khác", user_id="246845883529197923")
    body = {"assignee": "officer-1", "labels": ["lừa đảo", "gấp"]}
    assert call(lambda_context, "PATCH", f"/v1/tips/{mine}", claims(OWN), body=body)[0] == 200
    items = {t["tip_id"]: t for t in call(lambda_context, "GET", "/v1/tips", claims(OWN))[1]["items"]}
    assert (items[mine]["assignee"], items[mine]["labels"]) == ("officer-1", ["gấp", "lừa đảo"])
    assert (items[other]["assignee"], items[other]["labels"]) == (None, [])
    page = call(lambda_context, "GET", "/v1/tips", claims(OWN), {"assignee": "officer-1"})[1]
    assert [t["tip_id"] for t in page["items"]] == [mine]
    detail = call(lambda_context, "GET", f"/v1/tips/{mine}", claims(OWN), {"reason": "xác minh"})[1]
    assert (detail["assignee"], detail["labels"]) == ("officer-1", ["gấp", "lừa đảo"])
    assert call(lambda_context, "PATCH", f"/v1/tips/{mine}", claims(OWN), body={"assignee": ""})[0] == 200
    items = {t["tip_id"]: t for t in call(lambda_context, "GET", "/v1/tips", claims(OWN))[1]["items"]}
    assert items[mine]["assignee"] is None, "an empty assignee unassigns"


def test_stats_count_tips_per_vietnam_day_and_reply_delivery(stack: Any, lambda_context: Any) -> None:
    # 23:30 Vietnam time on a fixed day: the tip counts on that Vietnam day, not the UTC one.
    day_ms = 1_767_198_600_000  # 2025-12-31T16:30:00Z = 2025-12-31 23:30 in Vietnam
    with clock.use(lambda: day_ms / 1000):
        tip_id = _tip(stack, lambda_context)
        assert (
            call(
                lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": "Đã nhận."}
            )[0]
            == 202
        )
        status, stats = call(lambda_context, "GET", "/v1/stats", claims(OWN))
    assert status == 200
    (unit,) = stats
    assert unit["total"] == 1
    assert len(unit["per_day"]) == 14
    assert list(unit["per_day"])[-1] == "2025-12-31" and unit["per_day"]["2025-12-31"] == 1
    assert sum(unit["per_day"].values()) == 1
    assert (unit["replies_sent"], unit["replies_delivered"]) == (0, 0), "queued, not sent yet"
    assert "có người lừa đảo" not in json.dumps(stats, ensure_ascii=False)


def test_stats_reply_delivery_counts_delivered_and_seen_of_sent(stack: Any, lambda_context: Any) -> None:
    from tipline import wiring
    from tipline.domain import DeliveryStatus
    from tipline.keys import tip_pk

    tip_id = _tip(stack, lambda_context)
    for text in ("một", "hai", "ba"):
        call(lambda_context, "POST", f"/v1/tips/{tip_id}/replies", claims(OWN), body={"text": text})
    table = wiring.table()
    replies = [e for e in table.thread(tip_pk(tip_id)) if e.kind == "officer_reply"]
    assert len(replies) == 3
    for entry, status in zip(
        replies, (DeliveryStatus.SEEN, DeliveryStatus.SENT, DeliveryStatus.FAILED), strict=True
    ):
        table.put(tip_pk(tip_id), entry.entry_key, {**entry.model_dump(), "status": status.value})
    (unit,) = call(lambda_context, "GET", "/v1/stats", claims(OWN))[1]
    assert (unit["replies_sent"], unit["replies_delivered"]) == (3, 1)


def test_the_advisory_report_is_typed_in_the_openapi_document() -> None:
    document = json.loads(officer_api.openapi_document())
    answer = document["paths"]["/v1/advisories/{advisory_id}"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AdvisoryDetail"}
    assert "report" in document["components"]["schemas"]["AdvisoryDetail"]["properties"]
    assert {"/v1/me", "/v1/units"} <= set(document["paths"])


def test_the_tip_says_until_when_zalo_lets_the_unit_answer(stack: Any, lambda_context: Any) -> None:
    from tipline import wiring
    from tipline.zalo_rules import CS_WINDOW_MS

    tip_id = _tip(stack, lambda_context)
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xác minh"})[1]
    contact = wiring.table().get_contact(wiring.table().get_tip(tip_id).pseudonym)  # type: ignore[union-attr]
    assert contact is not None
    until = datetime.fromisoformat(detail["reply_until"])
    assert int(until.timestamp() * 1000) == contact.last_interaction_ms + CS_WINDOW_MS
    assert (detail["reply_refused"], detail["sender"]["block"]) == (None, None)
    body = {"reason": "tin rác lặp lại", "tip_id": tip_id}
    assert (
        call(lambda_context, "POST", f"/v1/contacts/{detail['citizen']}/block", claims(OWN), body=body)[0]
        == 200
    )
    wiring.table().set_contact_flags(contact.pseudonym, anonymous=True)
    detail = call(lambda_context, "GET", f"/v1/tips/{tip_id}", claims(OWN), {"reason": "xác minh"})[1]
    assert (detail["reply_until"], detail["reply_refused"]) == (None, "anonymous")
    assert detail["sender"]["block"]["reason"] == "tin rác lặp lại"
