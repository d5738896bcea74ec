"""The simulator over HTTP: Zalo's routes, faults, the /_sim control API, and the server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
from tipline_local.zalo_sim.citizen import CitizenDriver
from tipline_local.zalo_sim.messaging import Messaging
from tipline_local.zalo_sim.oauth import TokenAuthority
from tipline_local.zalo_sim.rules import (
    INVALID_PARAM,
    OAUTH_INVALID_APP,
    OAUTH_INVALID_SECRET,
    OK,
    RATE_LIMITED,
    STOP_KEY,
    BadControl,
    Fault,
    OaState,
    Refused,
    envelope,
)


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=utf-8",
    )


class ZaloSimulator(Messaging, TokenAuthority, CitizenDriver):
    """The Zalo OA API with its rules, as a thread-safe WSGI application (see the package doc)."""

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sim/"):
            return self._control(request)(environ, start_response)
        stop: threading.Event = environ.get(STOP_KEY) or self._never
        fault = self._take_fault(request.path)
        with self._lock:
            delay = self._latency + (fault.latency if fault else 0.0)
        if delay > 0:
            stop.wait(delay)
        response = self._answer(request, fault)
        if fault is not None and fault.timeout:
            self._record(request, None, "timeout", 0)
            if STOP_KEY not in environ:
                raise httpx.ReadTimeout("simulated Zalo timeout")
            stop.wait(self.timeout_seconds)
            page = "<html><body>504 Gateway Time-out</body></html>"
            response = Response(page, 504, content_type="text/html")
        return response(environ, start_response)

    def _answer(self, request: Request, fault: Fault | None) -> Response:
        disrupts = fault is not None and (
            fault.timeout or fault.error is not None or fault.status is not None
        )
        oa_id: str | None = None
        if fault is None or not disrupts or fault.effective:
            response, oa_id, code = self._dispatch(request)
            if fault is None or not disrupts:
                self._record(request, oa_id, code, response.status_code)
                return response
        if fault.timeout:
            return Response(status=504)  # recorded by the caller, which withholds it
        if fault.error is not None:
            self._record(request, oa_id, fault.error, fault.status or 200, fault=True)
            response = json_response(envelope(fault.error), status=fault.status or 200)
        else:
            status = fault.status or 500
            self._record(request, oa_id, None, status, fault=True)
            page = f"<html><body>{status} simulated upstream error</body></html>"
            response = Response(page, status=status, content_type="text/html")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response

    def _record(
        self, request: Request, oa_id: str | None, error: int | str | None, status: int, fault: bool = False
    ) -> None:
        with self._lock:
            self._calls.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "oa_id": oa_id,
                    "error": error,
                    "status": status,
                    "fault": fault,
                    "at": self.clock(),
                }
            )

    def _dispatch(self, request: Request) -> tuple[Response, str | None, int | None]:
        path, method = request.path, request.method
        if path.startswith("/media/"):
            return self._serve_media(request), None, None
        routes: dict[str, tuple[str, Callable[[Request, OaState], dict[str, Any]]]] = {
            "/v3.0/oa/message/cs": ("POST", self._send_cs),
            "/v3.0/oa/message/promotion": ("POST", self._send_promotion),
            "/v3.0/oa/user/getlist": ("GET", self._getlist),
            "/v3.0/oa/quota/message": ("POST", self._quota),
        }
        if path == "/v4/oa/access_token":
            if method != "POST":
                return json_response({"error": 405, "message": "POST only"}, 405), None, None
            with self._lock:
                return self._token_endpoint(request)
        if path not in routes:
            return json_response({"error": 404, "message": f"no such endpoint {path}"}, 404), None, None
        allowed, handler = routes[path]
        if method != allowed:
            return json_response({"error": 405, "message": f"{allowed} only"}, 405), None, None
        with self._lock:
            headers: dict[str, str] = {}
            oa_id: str | None = None
            try:
                oa = self._authenticate(request)
                oa_id = oa.oa_id
                headers, over = self._count_rate(oa)
                if over:
                    detail = f"more than {self.rate_limit} calls this minute"
                    raise Refused(RATE_LIMITED, detail, "rate_limit")
                data = handler(request, oa)
            except Refused as refused:
                self._refusals[refused.code] += 1
                if refused.rule:
                    self._violation(refused.rule, refused.detail, oa_id=oa_id, path=path, code=refused.code)
                return (
                    json_response(envelope(refused.code, message=refused.detail), 200, headers),
                    oa_id,
                    (refused.code),
                )
            return json_response(envelope(OK, data), 200, headers), oa_id, OK

    def _token_endpoint(self, request: Request) -> tuple[Response, str | None, int | None]:
        form = request.form
        app_id, grant = form.get("app_id", ""), form.get("grant_type", "")
        oas = [oa for oa in self._oas.values() if oa.app_id == app_id]
        oa_id: str | None = None
        try:
            if not oas:
                raise Refused(OAUTH_INVALID_APP, "invalid app_id")
            if all(request.headers.get("secret_key", "") != oa.app_secret for oa in oas):
                raise Refused(OAUTH_INVALID_SECRET, "invalid secret_key")
            if grant == "refresh_token":
                oa_id, pair = self._refresh(app_id, form.get("refresh_token", ""))
            elif grant == "authorization_code":
                oa_id, pair = self._exchange(app_id, form.get("code", ""), form.get("code_verifier", ""))
            else:
                raise Refused(INVALID_PARAM, "grant_type must be refresh_token or authorization_code")
        except Refused as refused:
            self._refusals[refused.code] += 1
            if refused.rule:
                self._violation(
                    refused.rule, refused.detail, oa_id=oa_id, path=request.path, code=refused.code
                )
            body = {"error": refused.code, "error_name": refused.detail, "error_description": refused.detail}
            return json_response(body), oa_id, refused.code
        return json_response(pair), oa_id, OK

    # --------------------------------------------------------------- media

    def _serve_media(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed", 405)
        name = request.path.removeprefix("/media/")
        with self._lock:
            item = self._media.get(name)
        if item is None:
            return Response("not found", 404, content_type="text/plain")
        content, content_type = item
        return Response(content, 200, content_type=content_type)

    # ------------------------------------------------------- HTTP control

    def _control(self, request: Request) -> Response:
        name = request.path.removeprefix("/_sim/").strip("/")
        try:
            if request.method == "GET":
                getters: dict[str, Callable[[], Any]] = {
                    "sent": lambda: self.sent,
                    "calls": lambda: self.calls,
                    "violations": lambda: self.violations,
                    "refusals": lambda: {str(k): v for k, v in self.refusals.items()},
                }
                if name not in getters:
                    return json_response({"error": f"no such control GET /_sim/{name}"}, 404)
                return json_response(getters[name]())
            if request.method != "POST":
                return json_response({"error": "GET or POST only"}, 405)
            body = json.loads(request.get_data() or b"{}")
            if not isinstance(body, dict):
                raise BadControl("body must be a JSON object")
            return self._control_post(name, body)
        except (ValueError, TypeError, KeyError, BadControl) as exc:
            return json_response({"error": str(exc)}, 400)
        except httpx.HTTPError as exc:
            return json_response({"error": f"webhook unreachable: {type(exc).__name__}"}, 502)

    def _control_post(self, name: str, body: dict[str, Any]) -> Response:
        if name == "faults":
            self.inject(**body)
        elif name == "interactions":
            self.interact(str(body["oa_id"]), str(body["user_id"]), body.get("at"))
        elif name == "followers":
            self.follow(str(body["oa_id"]), str(body["user_id"]), bool(body.get("following", True)))
        elif name == "blocks":
            self.block(str(body["oa_id"]), str(body["user_id"]), bool(body.get("blocked", True)))
        elif name == "oas":
            self.add_oa(**body)
        elif name == "reset":
            self.reset(keep_oas=bool(body.get("keep_oas", False)))
        elif name == "latency":
            self.set_latency(float(body["seconds"]))
        elif name == "rate_limit":
            self.set_rate_limit(int(body["per_minute"]))
        elif name == "media":
            content = base64.b64decode(body["content_b64"])
            self.add_media(str(body["name"]), content, str(body["content_type"]))
        elif name == "authorize":
            return json_response({"code": self.authorize(str(body["oa_id"]), body.get("code_challenge"))})
        elif name == "citizen":
            status, msg_id = self._citizen(
                str(body["oa_id"]),
                str(body["user_id"]),
                str(body.get("text", "")),
                str(body["webhook_url"]),
                str(body.get("event_name", "user_send_text")),
                body.get("attachments"),
                float(body.get("timeout", 10.0)),
            )
            return json_response({"status": status, "msg_id": msg_id})
        else:
            return json_response({"error": f"no such control POST /_sim/{name}"}, 404)
        return json_response({"ok": True})


# ------------------------------------------------------------------ server


class _QuietHandler(WSGIRequestHandler):
    """No access log; and keeps Zalo's underscore headers (``access_token``, ``secret_key``),
    which werkzeug's development server drops by default."""

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        for key, value in self.headers.items():
            if "_" in key:
                environ["HTTP_" + key.upper().replace("-", "_")] = value.replace("\r\n", "")
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class RunningSimulator:
    """A simulator served on a loopback port by a threaded server; ``stop()`` ends it."""

    def __init__(self, sim: ZaloSimulator, server: BaseWSGIServer, stopping: threading.Event) -> None:
        self.sim = sim
        self.server = server
        self._stopping = stopping
        self.url = f"http://{server.host}:{server.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="zalo-sim", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in latency or timeout faults
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(sim: ZaloSimulator, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve ``sim`` over HTTP on ``host:port`` (0: a free port) in a background thread."""
    stopping = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[STOP_KEY] = stopping
        return sim(environ, start_response)

    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    return RunningSimulator(sim, server, stopping)
