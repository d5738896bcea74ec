"""The HTTP API, locally: the template's HttpApi routes in front of the real handlers.

Each request becomes the API Gateway HTTP API payload 2.0 event (the shape of `sam local
generate-event apigateway http-api-proxy`), the handler's answer goes back as API Gateway sends it,
and routes behind a JWT authorizer are guarded as API Gateway guards them: no token or a bad one is a
401 {"message":"Unauthorized"} before any function runs; a good one's claims reach the function as
strings in requestContext.authorizer.jwt.claims.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

ACCOUNT = "123456789012"
API_ID = "local"
# Bodies API Gateway passes as text; any other content type arrives base64-encoded.
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|javascript|ecmascript))$")


@dataclass
class Route:
    method: str  # GET, POST, ... or ANY
    template: str  # /v1/tips/{tip_id}; "$default" for the default route
    function: str
    handler: str
    authorizer: str | None = None  # the JWT authorizer's name, None when the route is open
    scopes: list[str] = field(default_factory=list)  # AuthorizationScopes the token must carry one of
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = route_pattern(self.template)

    @property
    def route_key(self) -> str:
        return "$default" if self.template == "$default" else f"{self.method} {self.template}"

    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key, most specific first: $default last, greedy {proxy+} after plain parameters,
        fewer parameters first, longer literal paths first, an exact method before ANY."""
        if self.template == "$default":
            return (2, 0, 0, 0)
        greedy = 1 if "+}" in self.template else 0
        literal = len(re.sub(r"\{[^}]+\}", "", self.template))
        return (greedy, self.template.count("{"), -literal, 1 if self.method == "ANY" else 0)


def route_pattern(template: str) -> re.Pattern[str]:
    if template == "$default":
        return re.compile(r"^.*$")
    parts = re.split(r"\{(\w+\+?)\}", template)  # literal, name, literal, name, ...
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        elif part.endswith("+"):
            regex += f"(?P<{part[:-1]}>.+)"
        else:
            regex += f"(?P<{part}>[^/]+)"
    return re.compile(f"^{regex}$")


def sort_routes(routes: list[Route]) -> list[Route]:
    return sorted(routes, key=Route.specificity)


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:  # already sorted, most specific first
        found = route.pattern.match(path)
        if found and route.method in (method, "ANY"):
            return route, found.groupdict()
    return None


# -- the event ----------------------------------------------------------------------------------------
def _is_text(content_type: str | None, body: bytes) -> bool:
    if not body:
        return True
    if content_type:
        return bool(_TEXT_TYPES.match(content_type.split(";")[0].strip().lower()))
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _request_id() -> str:
    return base64.b64encode(os.urandom(10)).decode().rstrip("=")


def http_api_event(
    request: Request,
    route: Route,
    path_parameters: dict[str, str],
    claims: dict[str, str] | None = None,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway gives a function for this request."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():  # repeated headers are joined with commas
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookie_header = headers.pop("cookie", "")
    cookies = [c.strip() for c in re.split(r";\s*", cookie_header) if c.strip()]
    query: dict[str, str] = {name: ",".join(request.args.getlist(name)) for name in request.args}
    body = request.get_data(cache=True)
    text = _is_text(request.headers.get("Content-Type"), body)
    now = time.time()
    request_id = _request_id()
    host = headers.get("host", request.host)
    raw_uri = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
    raw_path = raw_uri.split("?", 1)[0] or request.path
    context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": scopes}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = body.decode("utf-8") if text else base64.b64encode(body).decode()
    return event


# -- the answer ---------------------------------------------------------------------------------------
def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, default=str),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def api_gateway_response(result: Any) -> Response:
    """A function's payload 2.0 answer as API Gateway sends it; a malformed one is a 500."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # No statusCode: API Gateway takes the whole answer as a JSON body with status 200.
        return Response(json.dumps(result), status=200, mimetype="application/json")
    status, body = result.get("statusCode"), result.get("body")
    if not isinstance(status, int) or not 100 <= status <= 599 or not isinstance(body, str | None):
        return internal_error()
    raw = body.encode() if body else b""
    if result.get("isBase64Encoded") and body:
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            return internal_error()
    headers = Headers()
    for name, value in (result.get("headers") or {}).items():
        headers.add(str(name), str(value))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.add(str(name), ",".join(str(v) for v in values))
    for cookie in result.get("cookies") or []:
        headers.add("Set-Cookie", str(cookie))
    response = Response(raw, status=status, headers=headers)
    if "content-type" not in {k.lower() for k in (result.get("headers") or {})}:
        del response.headers["Content-Type"]
    return response


def internal_error() -> Response:
    return json_response({"message": "Internal Server Error"}, 500)


def unauthorized(reason: str) -> Response:
    # API Gateway's JWT authorizer answers 401 with the reason in www-authenticate, never the body.
    error = reason.replace('"', "'")[:120]
    return json_response(
        {"message": "Unauthorized"},
        401,
        {"www-authenticate": f'Bearer scope="" error="invalid_token" error_description="{error}"'},
    )


# -- the front ----------------------------------------------------------------------------------------
Invoke = Callable[[Route, dict[str, Any]], Any]
Verify = Callable[[str], dict[str, Any]]
LocalRoutes = Callable[[Request], Response | None]


class HttpFront:
    """A WSGI app: local control routes first (health, info, schedules), then the template's routes."""

    def __init__(
        self, routes: list[Route], invoke: Invoke, verify: Verify, local: LocalRoutes | None = None
    ) -> None:
        self.routes = sort_routes(routes)
        self._invoke = invoke
        self._verify = verify
        self._local = local

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.respond(request)
        response.headers.setdefault("apigw-requestid", _request_id())
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if self._local is not None:
            answer = self._local(request)
            if answer is not None:
                return answer
        found = match(self.routes, request.method, request.path)
        if found is None:
            return json_response({"message": "Not Found"}, 404)
        route, params = found
        claims: dict[str, str] | None = None
        scopes: list[str] | None = None
        if route.authorizer:
            header = request.headers.get("Authorization", "").strip()
            token = header[7:].strip() if header.lower().startswith("bearer ") else header
            if not token:
                return json_response({"message": "Unauthorized"}, 401)
            try:
                verified = self._verify(token)
            except Exception as exc:  # any refusal of the verifier: API Gateway's 401
                return unauthorized(str(exc) or type(exc).__name__)
            claims = as_api_gateway_claims(verified)
            scope = verified.get("scope")
            scopes = str(scope).split() if scope else None
            if route.scopes and not set(route.scopes) & set(scopes or []):
                return json_response({"message": "Forbidden"}, 403)
        event = http_api_event(request, route, params, claims, scopes)
        request_id = str(event["requestContext"]["requestId"])
        try:
            result = self._invoke(route, event)
        except Exception as exc:  # as API Gateway does when the function fails
            # Type and place only: an exception's text may hold what a citizen wrote.
            print(
                f"front: {route.function} {route.route_key} failed ({type(exc).__name__} at "
                f"{where(exc)}); answered 500 (request {request_id})",
                flush=True,
            )
            answer = internal_error()
        else:
            answer = api_gateway_response(result)
        answer.headers["apigw-requestid"] = request_id  # as API Gateway: the function saw the same id
        return answer


def where(exc: BaseException, frames: int = 5) -> str:
    """The last ``frames`` places an exception went through, outermost first (file:line)."""
    stack = traceback.extract_tb(exc.__traceback__)[-frames:]
    return " > ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" for frame in stack) or "?"


def as_api_gateway_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them to the function: strings, arrays as "[a b]"."""
    return {
        name: "[" + " ".join(str(v) for v in value) + "]" if isinstance(value, list) else str(value)
        for name, value in claims.items()
    }
