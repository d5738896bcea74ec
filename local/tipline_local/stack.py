"""The whole system on one machine: moto's server as AWS, provisioned from template.yaml, the real
handlers behind an HTTP front that speaks API Gateway's payload 2.0, a queue pump with Lambda's
batch semantics, a scheduler and the Zalo OA simulator.

All functions share one process and one environment (the template's Globals; no function sets
variables of its own), exactly the values AWS would give each of them.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tipline_local import auth
from tipline_local.accounts import load_accounts, seed_accounts
from tipline_local.provision import REGION, Provisioned, provision
from tipline_local.samples import http_api_event, sqs_event
from tipline_local.template import functions

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """What a handler sees of its invocation."""

    def __init__(self, name: str, timeout_s: int) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handler(dotted: str) -> Handler:
    module, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    function: str
    handler: str
    authorized: bool


@dataclass
class QueueSource:
    function: str
    handler: str
    queue: str
    batch_size: int
    timeout: int


@dataclass
class Schedule:
    function: str
    handler: str
    expression: str
    timezone: str
    timeout: int


def _route_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\+?\}", path)  # literal, name, literal, name, ...
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


@dataclass
class Wiring:
    routes: list[Route] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)


def read_wiring(template: dict[str, Any]) -> Wiring:
    """Routes, queue sources and schedules of every function, from template.yaml."""
    wiring = Wiring()
    for name, properties in functions(template).items():
        timeout = int(properties.get("Timeout", 3))
        for event in properties.get("Events", {}).values():
            kind, spec = event["Type"], event.get("Properties", {})
            if kind == "HttpApi":
                path, method = spec["Path"], spec["Method"].upper()
                authorized = bool(spec.get("Auth", {}).get("Authorizer"))
                wiring.routes.append(
                    Route(method, path, _route_pattern(path), name, properties["Handler"], authorized)
                )
            elif kind == "SQS":
                queue = spec["Queue"]["Fn::GetAtt"][0]
                batch = int(spec.get("BatchSize", 10))
                wiring.queues.append(QueueSource(name, properties["Handler"], queue, batch, timeout))
            elif kind in ("Schedule", "ScheduleV2"):
                wiring.schedules.append(
                    Schedule(
                        name,
                        properties["Handler"],
                        spec["ScheduleExpression"],
                        spec.get("ScheduleExpressionTimezone", "UTC"),
                        timeout,
                    )
                )
    # Literal segments win over parameters, as API Gateway matches the most specific route.
    wiring.routes.sort(key=lambda r: (r.template.count("{"), -len(r.template)))
    return wiring


# -- schedules -------------------------------------------------------------------------------------------
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _cron_field_matches(spec: str, value: int) -> bool:
    if spec in ("*", "?"):
        return True
    for part in spec.split(","):
        base, _, step = part.partition("/")
        start, _, end = base.partition("-")
        low = 0 if start == "*" else int(start)
        high = int(end) if end else (low if not step and start != "*" else 10**6)
        if low <= value <= high and (value - low) % int(step or 1) == 0:
            return True
    return False


def cron_due(expression: str, moment: datetime) -> bool:
    """EventBridge cron(minutes hours day-of-month month day-of-week year) at this minute."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    minute, hour, day, month, weekday = fields[:5]
    eventbridge_weekday = (moment.isoweekday() % 7) + 1  # SUN=1 … SAT=7
    return (
        _cron_field_matches(minute, moment.minute)
        and _cron_field_matches(hour, moment.hour)
        and _cron_field_matches(day, moment.day)
        and _cron_field_matches(month, moment.month)
        and _cron_field_matches(weekday, eventbridge_weekday)
    )


def scheduled_event(function: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": datetime.now(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:scheduler:{REGION}:123456789012:schedule/default/{function}"],
        "detail": {},
    }


# -- the stack -------------------------------------------------------------------------------------------
class LocalStack:
    def __init__(self, port: int = 3000, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.threads: list[threading.Thread] = []
        self._moto: Any = None
        self._simulator: Any = None
        self._server: Any = None
        self.provisioned: Provisioned | None = None
        self.wiring = Wiring()
        self.aws_endpoint = ""
        self.zalo_url = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- start and stop ---------------------------------------------------------------------------------
    def start(self) -> float:
        began = time.monotonic()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's request lines
        warnings.filterwarnings("ignore", "No application metrics to publish")
        self._start_aws()
        assert self.provisioned is not None
        self._start_zalo()
        self._configure_functions()
        seed_accounts(load_accounts(), os.environ["APP_SECRET_PREFIX"])
        self.wiring = read_wiring(self.provisioned.template)
        self._server = make_server(self.host, self.port, self._app, threaded=True, request_handler=_Quiet)
        self._spawn("http-front", self._server.serve_forever)
        for source in self.wiring.queues:
            self._spawn(f"pump-{source.function}", functools.partial(self._pump, source))
        self._spawn("scheduler", self._scheduler)
        self.ready.set()
        return time.monotonic() - began

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _start_aws(self) -> None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            from moto.server import ThreadedMotoServer

            port = free_port()
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self._moto.start()
            endpoint = f"http://127.0.0.1:{port}"
        self.aws_endpoint = endpoint
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        self.provisioned = provision(endpoint)

    def _start_zalo(self) -> None:
        api = os.environ.get("ZALO_API_BASE_URL")
        oauth = os.environ.get("ZALO_OAUTH_BASE_URL")
        if api and oauth:
            self.zalo_url = api
            return
        from tipline_local.zalo_sim import ZaloSimulator, serve

        simulator = ZaloSimulator()
        for account in load_accounts():
            simulator.add_oa(
                account.oa_id,
                account.app_id,
                account.app_secret,
                account.access_token,
                account.refresh_token,
                oa_secret_key=account.oa_secret_key,
            )
        self._simulator = serve(simulator)
        self.zalo_url = self._simulator.url
        os.environ["ZALO_API_BASE_URL"] = self.zalo_url
        os.environ["ZALO_OAUTH_BASE_URL"] = self.zalo_url

    def _configure_functions(self) -> None:
        assert self.provisioned is not None
        for environment in self.provisioned.environments.values():
            for name, value in environment.items():
                os.environ.setdefault(name, value)
        host = re.sub(r"^https?://", "", self.zalo_url).rstrip("/")
        os.environ.setdefault("MEDIA_LOCAL_HOSTS", json.dumps([host]))

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
        for thread in self.threads:
            thread.join(timeout=5)
        if self._simulator is not None:
            self._simulator.stop()
        if self._moto is not None:
            self._moto.stop()

    def run_forever(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())
        self.stopping.wait()
        self.stop()

    # -- invoking functions ---------------------------------------------------------------------------
    def invoke(self, function: str, handler: str, event: dict[str, Any], timeout: int = 30) -> Any:
        return _handler(handler)(event, LambdaContext(function, timeout))

    # -- HTTP front -----------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.path == "/healthz":
            return _json(
                {"status": "ready"} if self.ready.is_set() else {"status": "starting"},
                200 if self.ready.is_set() else 503,
            )
        if request.path == "/_local/info" and self.provisioned is not None:
            return _json(
                {
                    "webhook": f"{self.url}/webhooks/zalo",
                    "officer_api": f"{self.url}/v1",
                    "zalo": self.zalo_url,
                    "aws": self.aws_endpoint,
                    "table": self.provisioned.resolver.refs["TiplineTable"],
                    "queues": self.provisioned.queue_urls,
                }
            )
        scheduled = re.fullmatch(r"/_local/schedules/(\w+)", request.path)
        if scheduled and request.method == "POST":
            return self._run_schedule_now(scheduled.group(1))
        for route in self.wiring.routes:
            match = route.pattern.match(request.path)
            if match and route.method == request.method:
                return self._call_route(route, match.groupdict(), request)
        return _json({"message": "Not Found"}, 404)

    def _call_route(self, route: Route, params: dict[str, str], request: Request) -> Response:
        claims = None
        if route.authorized:
            header = request.headers.get("Authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else ""
            try:
                claims = auth.as_api_gateway_claims(auth.verify(token))
            except auth.InvalidToken:
                return _json({"message": "Unauthorized"}, 401)
        body = request.get_data()
        try:
            body.decode()
            base64_body = False
        except UnicodeDecodeError:
            base64_body = True
        event = http_api_event(
            request.method,
            request.path,
            route=route.template,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.args.items()) or None,
            path_parameters=params or None,
            claims=claims,
            base64_body=base64_body,
        )
        try:
            result = self.invoke(route.function, route.handler, event)
        except Exception:  # as API Gateway does when the function fails
            return _json({"message": "Internal Server Error"}, 500)
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return Response(raw, status=int(result.get("statusCode", 200)), headers=result.get("headers") or {})

    # -- queues -----------------------------------------------------------------------------------------
    def _pump(self, source: QueueSource) -> None:
        import boto3

        assert self.provisioned is not None
        sqs = boto3.client("sqs", endpoint_url=self.aws_endpoint, region_name=REGION)
        url = self.provisioned.queue_urls[source.queue]
        arn = self.provisioned.resolver.attributes[f"{source.queue}.Arn"]
        while not self.stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=source.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # the emulator is stopping
                time.sleep(0.5)
                continue
            if not messages:
                continue
            try:
                event = sqs_event([dict(m) for m in messages], arn)
                result = self.invoke(source.function, source.handler, event, source.timeout)
            except Exception:  # a failed invocation returns the whole batch, as Lambda does
                traceback.print_exc()
                continue
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            for index in range(0, len(done), 10):
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[index : index + 10])
                    ],
                )

    # -- schedules --------------------------------------------------------------------------------------
    def _scheduler(self) -> None:
        """rate(...) schedules run every period from start; cron(...) ones at matching minutes."""
        fired: dict[str, int] = {}
        started = time.time()
        while not self.stopping.wait(1.0):
            now = time.time()
            minute = int(now // 60)
            for schedule in self.wiring.schedules:
                rate = _RATE.fullmatch(schedule.expression)
                if rate:
                    period = int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")]
                    due = int((now - started) // period)
                    if due > fired.get(schedule.function, 0):
                        fired[schedule.function] = due
                        self._run_schedule(schedule)
                elif fired.get(schedule.function) != minute and cron_due(
                    schedule.expression, datetime.fromtimestamp(now, ZoneInfo(schedule.timezone))
                ):
                    fired[schedule.function] = minute
                    self._run_schedule(schedule)

    def _run_schedule(self, schedule: Schedule) -> Any:
        try:
            return self.invoke(
                schedule.function, schedule.handler, scheduled_event(schedule.function), schedule.timeout
            )
        except Exception as exc:  # EventBridge would retry; locally the failure is shown
            return {"error": type(exc).__name__}

    def _run_schedule_now(self, function: str) -> Response:
        for schedule in self.wiring.schedules:
            if schedule.function == function:
                return _json({"function": function, "result": self._run_schedule(schedule)})
        return _json({"message": f"no schedule for {function}"}, 404)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, default=str), status=status, mimetype="application/json"
    )


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return
