"""What an officer sees of a thread (GET /v1/tips/{tip_id}), and how every /v1 answer is sent.

Messages are stored through the real webhook handler and read through the real officer API handler.
Attachments show an allowlist of fields per type; anything the reader cannot show is "unsupported"
with its type, never its payload; an unexpected error answers 500 and logs only its type and ids.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from typing import Any

import boto3
import pytest
from fixtures.officer import call, claims, respond
from fixtures.webhook import deliver, demo_oa, drain, items_with_prefix, now_ms
from tipline.adapters import aws
from tipline.evidence.model import AttachmentRecord, AttachmentStatus, FetchJob
from tipline.keys import tip_pk
from tipline.wiring import table
from tipline_local.samples import SAMPLE_EVENTS, zalo_body
from tipline_local.template import functions, load_template

pytestmark = pytest.mark.usefixtures("stack")

OWN = "pc02-hoan-kiem"  # the unit of the demo OA the webhook samples write to
OFFICER = claims(OWN, subject="officer-5")
CDN_HOSTS = ("zalo.me", "zdn.vn", "zadn.vn")


def _canary() -> str:
    return f"CANARY{secrets.token_hex(6).upper()}"


def _message(name: str, attachments: list[dict[str, Any]], text: str, ts: int) -> dict[str, Any]:
    body = zalo_body(name, demo_oa(), ts=ts, text=text)
    body["message"]["attachments"] = attachments
    return body


def _store(stack: Any, context: Any, bodies: list[dict[str, Any]]) -> str:
    for body in bodies:
        assert deliver(context, body)["statusCode"] == 200
    drain(stack, "RepliesQueue")
    (tip,) = items_with_prefix(stack, "TIP#", "META")
    return str(tip["tip_id"]["S"])


def _read(context: Any, tip_id: str) -> tuple[int, Any]:
    return call(context, "GET", f"/v1/tips/{tip_id}", OFFICER, {"reason": "xác minh tin báo"})


@pytest.fixture
def everything_logged(
    captured_logs: io.StringIO, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Any:
    """A function returning all the process logged so far: our logger, any library's, stdout/stderr."""
    caplog.set_level(logging.INFO)

    def read() -> str:
        out, err = capfd.readouterr()
        read.seen += out + err  # type: ignore[attr-defined]
        return str(captured_logs.getvalue() + caplog.text + read.seen)  # type: ignore[attr-defined]

    read.seen = ""  # type: ignore[attr-defined]
    return read


# -- item 3: shapes the reader does not know are shown as unsupported, and nothing leaks ------------------
def test_malformed_and_unknown_attachments_show_as_unsupported_and_reach_no_log(
    stack: Any, lambda_context: Any, everything_logged: Any
) -> None:
    hidden = {
        name: _canary()
        for name in ("loc1", "loc2", "loc3", "loc4", "card", "stk1", "stk2", "lnk1", "lnk2", "odd")
    }
    shown = {name: _canary() for name in ("text", "link")}
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (
            "user_send_location",
            {"type": "location", "payload": {"coordinates": hidden["loc1"]}},
            {"kind": "unsupported", "type": "location"},
        ),
        (
            "user_send_location",
            {"type": "location", "payload": {"lat": hidden["loc2"], "lng": "105.85"}},
            {"kind": "unsupported", "type": "location"},
        ),
        (
            "user_send_location",
            {
                "type": "location",
                "payload": {"coordinates": {"latitude": hidden["loc3"], "longitude": "105.8"}},
            },
            {"kind": "unsupported", "type": "location"},
        ),
        (
            "user_send_location",
            {
                "type": "location",
                "payload": {"coordinates": {"latitude": {"deg": hidden["loc4"]}, "longitude": 1}},
            },
            {"kind": "unsupported", "type": "location"},
        ),
        (
            "user_send_business_card",
            {
                "type": "business_card",
                "payload": {
                    "id": hidden["card"],
                    "description": json.dumps({"phone": hidden["card"], "userId": hidden["card"]}),
                    "thumbnail": f"https://s120.zdn.vn/card/{hidden['card']}.jpg",
                },
            },
            {"kind": "unsupported", "type": "business_card"},
        ),
        (
            "user_send_sticker",
            {
                "type": "sticker",
                "payload": {"id": hidden["stk1"], "url": f"https://dl.zalo.me/s/{hidden['stk1']}"},
            },
            {"kind": "sticker", "type": "sticker"},
        ),
        (
            "user_send_sticker",
            {"type": "sticker", "payload": {"id": {"pack": hidden["stk2"]}}},
            {"kind": "unsupported", "type": "sticker"},
        ),
        (
            "user_send_link",
            {
                "type": "link",
                "payload": {
                    "url": f"https://dl.zalo.me/share/{hidden['lnk1']}",
                    "thumbnail": f"https://dl.zalo.me/t/{hidden['lnk1']}.jpg",
                    "description": shown["link"],
                },
            },
            {"kind": "link", "type": "link", "description": shown["link"], "url": None},
        ),
        (
            "user_send_link",
            {"type": "link", "payload": {"url": ["https://example.vn", hidden["lnk2"]]}},
            {"kind": "unsupported", "type": "link"},
        ),
        (
            "user_send_text",
            {"type": "contact_card_v9", "payload": {"secret": hidden["odd"], "nested": {"x": hidden["odd"]}}},
            {"kind": "unsupported", "type": "contact_card_v9"},
        ),
    ]
    base = now_ms()
    bodies = [
        _message(name, [attachment], f"báo tin {shown['text']}", base + index)
        for index, (name, attachment, _) in enumerate(cases)
    ]
    tip_id = _store(stack, lambda_context, bodies)

    status, detail = _read(lambda_context, tip_id)

    assert status == 200, detail
    inbound = [m for m in detail["messages"] if m["direction"] == "in"]
    assert len(inbound) == len(cases), "every stored entry is shown"
    for message, (name, _, expected) in zip(inbound, cases, strict=True):
        assert message["kind"] == name
        assert message["text"] == f"báo tin {shown['text']}"
        (view,) = message["attachments"]
        assert {key: view[key] for key in expected} == expected, (name, view)
        if expected["kind"] == "unsupported":
            assert set(view) == {"kind", "type", "index"}, "nothing of an unsupported payload"
    answer = json.dumps(detail, ensure_ascii=False)
    assert [name for name, canary in hidden.items() if canary in answer] == []
    logged = everything_logged()
    assert "tip read" in logged, "the logs were captured"
    leaked = [name for name, canary in {**hidden, **shown}.items() if canary in logged]
    assert leaked == [], f"canaries in the logs: {leaked}"


def test_an_entry_that_does_not_open_is_shown_as_unreadable(
    stack: Any, lambda_context: Any, everything_logged: Any
) -> None:
    """A sealed blob moved from another tip (or tampered with) fails to open: the thread still reads."""
    base = now_ms()
    tip_id = _store(
        stack,
        lambda_context,
        [_message("user_send_text", [], f"tin {n}", base + n) for n in range(2)],
    )
    other = zalo_body("user_send_text", demo_oa(), user_id="777", ts=base + 5, text="tin khác")
    assert deliver(lambda_context, other)["statusCode"] == 200
    entries = list(table().thread(tip_pk(tip_id)))
    foreign = next(
        e
        for t in items_with_prefix(stack, "TIP#", "META")
        if t["tip_id"]["S"] != tip_id
        for e in table().thread(tip_pk(t["tip_id"]["S"]))
        if e.direction == "in"
    )
    # A key beside the first entry's (ids are base32, so their last character may itself be "z").
    last = entries[0].entry_key[-1]
    beside = entries[0].entry_key[:-1] + ("y" if last == "z" else "z")
    moved = entries[0].model_copy(update={"sealed": foreign.sealed, "entry_key": beside})
    assert table().put_entry_if_absent(moved)

    status, detail = _read(lambda_context, tip_id)

    assert status == 200, detail
    flags = [(m["text"], m["unreadable"]) for m in detail["messages"] if m["direction"] == "in"]
    assert sorted(flags, key=str) == sorted([("tin 0", False), ("tin 1", False), (None, True)], key=str)
    assert "tin khác" not in json.dumps(detail, ensure_ascii=False)
    logged = everything_logged()
    assert "thread entry unreadable" in logged
    assert "tin khác" not in logged


class _Explodes:
    """Makes a KMS operation fail at the botocore boundary with an error whose text holds a canary,
    as an exception carrying decrypted input would."""

    def __init__(self, canary: str, operation: str = "Decrypt") -> None:
        self.canary = canary
        self.event = f"before-call.kms.{operation}"

    def _raise(self, **_: Any) -> None:
        raise ValueError(f"cannot parse {self.canary!r}")

    def __enter__(self) -> _Explodes:
        aws.kms().meta.events.register(self.event, self._raise, unique_id="explodes")
        return self

    def __exit__(self, *exc: object) -> None:
        aws.kms().meta.events.unregister(self.event, unique_id="explodes")


@pytest.mark.parametrize("action", ["read", "reply"])
def test_an_unexpected_error_answers_500_and_logs_only_its_type_and_ids(
    action: str, stack: Any, lambda_context: Any, everything_logged: Any
) -> None:
    tip_id = _store(stack, lambda_context, [_message("user_send_text", [], "tin báo", now_ms())])
    canary, typed = _canary(), _canary()  # in the error's text; in what the officer typed
    path = f"/v1/tips/{tip_id}" + ("/replies" if action == "reply" else "")
    with _Explodes(canary, "Decrypt" if action == "read" else "GenerateDataKey"):
        if action == "read":
            response = respond(lambda_context, "GET", path, OFFICER, {"reason": f"xác minh {typed}"})
        else:
            response = respond(lambda_context, "POST", path, OFFICER, body={"text": f"Cảm ơn {typed}"})
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "Internal server error"}
    logged = everything_logged()
    assert canary not in logged
    assert typed not in logged
    assert "cannot parse" not in logged, "no exception text"
    assert "Traceback" not in logged
    (line,) = [json.loads(x) for x in logged.splitlines() if '"officer api error"' in x]
    assert line["error"] == "ValueError"
    assert line["tip_id"] == tip_id
    assert line["route"] == (
        "POST /v1/tips/{tip_id}/replies" if action == "reply" else "GET /v1/tips/{tip_id}"
    )


# -- item 8: no Zalo CDN address and no whole payload reaches an officer ---------------------------------
def test_a_tip_shows_an_allowlist_of_fields_per_attachment_and_no_cdn_address(
    stack: Any, lambda_context: Any
) -> None:
    kinds = [name for name in SAMPLE_EVENTS if name.startswith("user_send_") and name != "user_send_text"]
    base = now_ms()
    bodies = [zalo_body(name, demo_oa(), ts=base + index) for index, name in enumerate(kinds)]
    assert any(host in json.dumps(bodies) for host in CDN_HOSTS), "the samples carry CDN addresses"
    tip_id = _store(stack, lambda_context, bodies)
    jobs = [
        FetchJob.model_validate_json(m["Body"])
        for m in boto3.client("sqs").receive_message(
            QueueUrl=stack.queue_urls["FetchQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
        )["Messages"]
    ]

    status, detail = _read(lambda_context, tip_id)

    assert status == 200, detail
    answer = json.dumps(detail, ensure_ascii=False)
    assert [host for host in CDN_HOSTS if host in answer] == []
    assert "thumbnail" not in answer
    assert "checksum" not in answer
    views = {m["kind"]: m["attachments"] for m in detail["messages"] if m["direction"] == "in"}
    assert set(views) == set(kinds)
    evidence = {
        view["type"]: view.pop("attachment_id") for (view,) in views.values() if "attachment_id" in view
    }
    assert evidence == {job.kind: job.attachment_id for job in jobs}, "each opens through its audited link"
    shown = {name: view for name, (view,) in views.items()}
    assert shown == {
        "user_send_image": {
            "kind": "media",
            "type": "image",
            "index": 0,
            "evidence_status": None,
            "description": None,
        },
        "user_send_gif": {
            "kind": "media",
            "type": "gif",
            "index": 0,
            "evidence_status": None,
            "description": None,
        },
        "user_send_audio": {
            "kind": "media",
            "type": "audio",
            "index": 0,
            "evidence_status": None,
            "description": None,
        },
        "user_send_video": {
            "kind": "media",
            "type": "video",
            "index": 0,
            "evidence_status": None,
            "description": "video",
        },
        "user_send_file": {
            "kind": "file",
            "type": "file",
            "index": 0,
            "evidence_status": None,
            "name": "bang-ke.pdf",
            "size": 2048,
            "file_type": "pdf",
        },
        "user_send_location": {
            "kind": "location",
            "type": "location",
            "index": 0,
            "latitude": 21.028511,
            "longitude": 105.854167,
        },
        "user_send_link": {
            "kind": "link",
            "type": "link",
            "index": 0,
            "description": "bài viết",
            "url": "https://example.vn/a",
        },
        "user_send_sticker": {"kind": "sticker", "type": "sticker", "index": 0},
        "user_send_business_card": {"kind": "unsupported", "type": "business_card", "index": 0},
    }


# -- item 9: every /v1 answer is private and typed -------------------------------------------------------
PRIVATE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


def _private(response: dict[str, Any]) -> bool:
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    return all(headers.get(name) == value for name, value in PRIVATE.items())


def _officer_routes() -> list[tuple[str, str]]:
    events = functions(load_template())["OfficerApiFunction"]["Events"].values()
    routes = [(str(e["Properties"]["Method"]).upper(), str(e["Properties"]["Path"])) for e in events]
    return sorted(
        routes, key=lambda route: route[1].endswith("/transfer")
    )  # the transfer moves the tip: last


def test_every_v1_answer_carries_no_store_and_nosniff(stack: Any, lambda_context: Any) -> None:
    tip_id = _store(stack, lambda_context, [_message("user_send_text", [], "tin báo", now_ms())])
    (listed,) = call(lambda_context, "GET", "/v1/tips", OFFICER)[1]["items"]
    values = {"tip_id": tip_id, "citizen": listed["citizen"], "attachment_id": "0000000000001-x-0"}
    good_query = {"reason": "xác minh tin báo", "tip_id": tip_id}
    good_body = {
        "reason": "thuộc thẩm quyền",
        "text": "Cảm ơn bạn.",
        "status": "in_progress",
        "unit_id": "pc08-traffic",
    }
    callers = {
        "own unit": OFFICER,
        "commander": claims("province", "commander"),
        "other unit": claims("pc08-traffic"),
        "no claims": None,
    }
    answers: list[tuple[str, str, str, int]] = []
    bare: list[tuple[str, str, str, int]] = []
    for method, template in _officer_routes():
        path = template
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        for who, identity in callers.items():
            for variant, query, body in (
                ("invalid", {"limit": "x", "reason": ""}, {"status": 7}),
                ("valid", good_query, good_body),
            ):
                sent_body = body if method in ("POST", "PATCH") else None
                response = respond(lambda_context, method, path, identity, query, sent_body)
                answer = (method, template, f"{who}/{variant}", int(response["statusCode"]))
                answers.append(answer)
                if not _private(response):
                    bare.append(answer)
    for method, path in (("GET", "/v1/no-such-route"), ("PUT", "/v1/tips")):
        response = respond(lambda_context, method, path, OFFICER)
        answers.append((method, path, "unknown route", int(response["statusCode"])))
        if not _private(response):
            bare.append(answers[-1])
    with _Explodes(_canary()):
        response = respond(
            lambda_context, "GET", f"/v1/tips/{tip_id}", callers["commander"], {"reason": "xem"}
        )
    answers.append(("GET", "/v1/tips/{tip_id}", "fault", int(response["statusCode"])))
    if not _private(response):
        bare.append(answers[-1])

    assert bare == []
    statuses = {status for *_, status in answers}
    assert {200, 202, 401, 404, 409, 422, 500} <= statuses, statuses
    assert ("GET", "/v1/openapi.json", "own unit/valid", 200) in answers


def test_a_form_shows_its_fields_and_a_kept_attachment_shows_its_stored_copy_on_its_own_message(
    stack: Any, lambda_context: Any
) -> None:
    base = now_ms()
    bodies = [
        zalo_body("user_send_image", demo_oa(), ts=base),
        zalo_body("user_submit_info", demo_oa(), ts=base + 1),
    ]
    tip_id = _store(stack, lambda_context, bodies)
    image_entry = next(e for e in table().thread(tip_pk(tip_id)) if e.kind == "user_send_image")
    before = next(m for m in _read(lambda_context, tip_id)[1]["messages"] if m["kind"] == "user_send_image")
    [view] = before["attachments"]
    assert (view["evidence_status"], before["evidence"]) == (None, [])
    record = AttachmentRecord(
        tip_id=tip_id,
        attachment_id=view["attachment_id"],
        oa_id=demo_oa().oa_id,
        entry_key=image_entry.entry_key,
        index=0,
        kind="image",
        status=AttachmentStatus.RETRIEVED,
        size=1234,
        content_type="image/jpeg",
        sha256="ab" * 32,
    )
    assert table().put_attachment_unless(tip_id, record.attachment_id, record.model_dump(), "retrieved")

    status, detail = _read(lambda_context, tip_id)

    assert status == 200, detail
    by_kind = {m["kind"]: m for m in detail["messages"] if m["direction"] == "in"}
    assert by_kind["user_send_image"]["evidence"] == [
        {
            "attachment_id": record.attachment_id,
            "kind": "image",
            "status": "retrieved",
            "reason": None,
            "content_type": "image/jpeg",
            "size": 1234,
            "sha256": "ab" * 32,
        }
    ]
    assert by_kind["user_submit_info"]["evidence"] == []
    assert by_kind["user_submit_info"]["info"] == zalo_body("user_submit_info", demo_oa())["info"]
    assert by_kind["user_send_image"]["info"] is None
    assert by_kind["user_send_image"]["attachments"][0]["evidence_status"] == "retrieved"
