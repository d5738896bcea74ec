"""The whole system on one machine: moto's server as AWS, provisioned from template.yaml, the real
handlers behind an HTTP front that speaks API Gateway's payload 2.0 (http_front), a queue pump with
Lambda's batch semantics (pump), a scheduler (scheduler) and the Zalo OA simulator.

Every function runs in this one process, so they share one environment: the variables the template
gives them (Globals plus each function's own), resolved against what provisioning created. A name two
functions would see with different values cannot be honoured in one process: the stack refuses to
start and names it. A variable already set in the shell wins (e.g. POWERTOOLS_LOG_LEVEL=WARNING).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tipline_local.accounts import AccountSeed, load_accounts, seed_accounts
from tipline_local.emulator import start_in_process
from tipline_local.http_front import HttpFront, Route, json_response
from tipline_local.provision import REGION, Provisioned, emulator_client, provision
from tipline_local.pump import QueuePump, QueueSource
from tipline_local.scheduler import Schedule, Scheduler, cron_due, scheduled_event
from tipline_local.template import functions, resources_of_type

__all__ = ["EventSources", "LocalStack", "cron_due", "read_event_sources", "shared_environment"]

Handler = Callable[[Any, Any], Any]
DEFAULT_POLLERS = 2  # per queue; TIPLINE_POLLERS changes it (never above the function's concurrency)


class LambdaContext:
    """What a handler sees of its invocation. The timeout shows in the remaining time; a thread cannot
    be killed, so locally a function that overruns finishes late instead of being stopped."""

    def __init__(self, name: str, timeout_s: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handler(dotted: str) -> Handler:
    module, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


# -- what the template wires ----------------------------------------------------------------------------
@dataclass
class EventSources:
    routes: list[Route] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    timeouts: dict[str, int] = field(default_factory=dict)


def _api_authorizers(template: dict[str, Any]) -> dict[str, tuple[set[str], str | None]]:
    """Per HttpApi logical id: its JWT authorizers' names and its default authorizer."""
    apis = {}
    for name, resource in resources_of_type(template, "AWS::Serverless::HttpApi").items():
        auth = resource.get("Properties", {}).get("Auth", {})
        apis[name] = (set(auth.get("Authorizers", {})), auth.get("DefaultAuthorizer"))
    return apis


def read_event_sources(template: dict[str, Any]) -> EventSources:
    """Routes, queue sources and schedules of every function, from template.yaml."""
    sources = EventSources()
    apis = _api_authorizers(template)
    for name, properties in functions(template).items():
        handler = properties["Handler"]
        timeout = int(properties.get("Timeout", 3))
        sources.timeouts[name] = timeout
        reserved = properties.get("ReservedConcurrentExecutions")
        for event in properties.get("Events", {}).values():
            kind, spec = event["Type"], event.get("Properties", {}) or {}
            if kind == "HttpApi":
                api = spec.get("ApiId", {})
                known, default = apis.get(api.get("Ref", "") if isinstance(api, dict) else "", (set(), None))
                auth = spec.get("Auth", {})
                authorizer = auth.get("Authorizer", default)
                if authorizer == "NONE":
                    authorizer = None
                if authorizer and known and authorizer not in known:
                    raise ValueError(f"{name}: route authorizer {authorizer} is not defined on its HttpApi")
                path = spec.get("Path", "$default")
                method = str(spec.get("Method", "ANY")).upper()
                scopes = list(auth.get("AuthorizationScopes", []))
                sources.routes.append(Route(method, path, name, handler, authorizer, scopes))
            elif kind == "SQS" and spec.get("Enabled", True) is not False:
                concurrency = spec.get("ScalingConfig", {}).get("MaximumConcurrency") or reserved
                sources.queues.append(
                    QueueSource(
                        function=name,
                        handler=handler,
                        queue=spec["Queue"]["Fn::GetAtt"][0],
                        batch_size=int(spec.get("BatchSize", 10)),
                        timeout=timeout,
                        report_failures="ReportBatchItemFailures" in spec.get("FunctionResponseTypes", []),
                        concurrency=int(concurrency) if concurrency else None,
                    )
                )
            elif kind in ("Schedule", "ScheduleV2"):
                enabled = spec.get("Enabled", True) is not False and spec.get("State") != "DISABLED"
                sources.schedules.append(
                    Schedule(
                        function=name,
                        handler=handler,
                        expression=spec["ScheduleExpression"],
                        timezone=spec.get("ScheduleExpressionTimezone", "UTC"),
                        timeout=timeout,
                        kind=kind,
                        input=spec.get("Input"),
                        enabled=enabled,
                    )
                )
    return sources


def shared_environment(environments: dict[str, dict[str, str]]) -> dict[str, str]:
    """One environment for every function; ValueError naming any variable functions disagree on."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function, variables in sorted(environments.items()):
        for name, value in variables.items():
            if name in merged and merged[name] != value:
                raise ValueError(
                    f"{name} differs between {owner[name]} and {function}: the local stack runs every "
                    "function in one process with one environment"
                )
            merged.setdefault(name, value)
            owner.setdefault(name, function)
    return merged


# -- the stack ------------------------------------------------------------------------------------------
class LocalStack:
    def __init__(
        self, port: int = 3000, host: str = "127.0.0.1", accounts: list[AccountSeed] | None = None
    ) -> None:
        self.accounts = accounts if accounts is not None else load_accounts()
        self.host = host
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.threads: list[threading.Thread] = []
        self._moto: Any = None
        self._simulator: Any = None
        self.provisioned: Provisioned | None = None
        self.sources = EventSources()
        self.scheduler = Scheduler([], self._run_schedule, self.stopping)
        self.pumps: list[QueuePump] = []
        self.aws_endpoint = ""
        self.zalo_url = ""
        self.console: Any = None  # the officer console's files and local sign-in (tipline_local.console)
        self.front = HttpFront([], self._invoke_route, _verify_token, local=self._local_routes)
        # Bound at once (port 0: any free port), answering 503 until ready.
        self._server = make_server(host, port, self.front, threaded=True, request_handler=_Quiet)
        self.port = int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- start and stop -----------------------------------------------------------------------------
    def start(self) -> float:
        """Everything up; the seconds it took (the HTTP front answers /healthz 200 from then on)."""
        began = time.monotonic()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's request lines
        warnings.filterwarnings("ignore", "No application metrics to publish")
        self._spawn("http-front", self._server.serve_forever)
        self._start_aws()
        assert self.provisioned is not None
        self._start_zalo()
        self._configure_functions()
        seed_accounts(self.accounts, os.environ["APP_SECRET_PREFIX"])
        self.sources = read_event_sources(self.provisioned.template)
        self.front.routes = sorted(self.sources.routes, key=Route.specificity)
        self._start_pumps()
        self.scheduler.schedules = self.sources.schedules
        self._spawn("scheduler", self.scheduler.loop)
        self.ready.set()
        self._spawn("warm-up", self._import_handlers)  # the first request then finds them loaded
        return time.monotonic() - began

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _start_aws(self) -> None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            self._moto, endpoint = start_in_process()
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
        if api and oauth:  # another simulator (it registers its own accounts: --accounts)
            self.zalo_url = api.rstrip("/")
            return
        from tipline_local.zalo_sim import ZaloSimulator, serve

        simulator = ZaloSimulator()
        simulator.add_accounts(self.accounts)
        self._simulator = serve(simulator)
        self.zalo_url = self._simulator.url
        os.environ["ZALO_API_BASE_URL"] = self.zalo_url
        os.environ["ZALO_OAUTH_BASE_URL"] = self.zalo_url

    def _configure_functions(self) -> None:
        assert self.provisioned is not None
        for name, value in shared_environment(self.provisioned.environments).items():
            os.environ.setdefault(name, value)
        # Evidence downloads: the simulator's /media/<name> stands in for Zalo's CDN.
        host = re.sub(r"^https?://", "", self.zalo_url).rstrip("/")
        os.environ.setdefault("MEDIA_LOCAL_HOSTS", json.dumps([host]))

    def _start_pumps(self) -> None:
        assert self.provisioned is not None
        wanted = int(os.environ.get("TIPLINE_POLLERS", DEFAULT_POLLERS))
        for source in self.sources.queues:
            pump = QueuePump(
                emulator_client(self.aws_endpoint, "sqs"),
                self.provisioned.queue_urls[source.queue],
                self.provisioned.resolver.attributes[f"{source.queue}.Arn"],
                source,
                lambda event, source=source: self.invoke(  # type: ignore[misc]
                    source.function, source.handler, event, source.timeout
                ),
                self.stopping,
                pollers=min(wanted, source.concurrency or wanted),
            )
            self.pumps.append(pump)
            for thread in pump.threads():
                thread.start()
                self.threads.append(thread)

    def _import_handlers(self) -> None:
        for dotted in {r.handler for r in self.sources.routes} | {q.handler for q in self.sources.queues}:
            if self.stopping.is_set():
                return
            try:
                _handler(dotted)
            except Exception as exc:  # shown again, with its cause, when the function is called
                print(f"warm-up: {dotted} did not import ({type(exc).__name__})", flush=True)

    def stop(self) -> list[str]:
        """Stop everything; the names of threads still alive afterwards (none, normally)."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        deadline = time.monotonic() + 15
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = self.scheduler.join(max(0.0, deadline - time.monotonic()))
        if self._simulator is not None:
            self._simulator.stop()
        if self._moto is not None:
            self._moto.stop()
        return left + [t.name for t in self.threads if t.is_alive()]

    def run_forever(self, signals: StopSignals | None = None) -> list[str]:
        """Serve until Ctrl-C or SIGTERM, then stop; the threads that would not stop."""
        signals = signals or StopSignals()
        while not signals.received and not self.stopping.is_set():
            time.sleep(0.2)
        self.stopping.set()
        return self.stop()

    # -- invoking functions -------------------------------------------------------------------------
    def invoke(self, function: str, handler: str, event: Any, timeout: int = 30) -> Any:
        return _handler(handler)(event, LambdaContext(function, timeout))

    def _invoke_route(self, route: Route, event: dict[str, Any]) -> Any:
        return self.invoke(
            route.function, route.handler, event, self.sources.timeouts.get(route.function, 30)
        )

    def _run_schedule(self, schedule: Schedule) -> Any:
        try:
            return self.invoke(
                schedule.function, schedule.handler, scheduled_event(schedule, REGION), schedule.timeout
            )
        except Exception as exc:  # EventBridge would retry; locally the failure is shown, by type only
            print(f"schedule {schedule.function}: failed ({type(exc).__name__})", flush=True)
            return {"error": type(exc).__name__}

    # -- local control routes -----------------------------------------------------------------------
    def operations_environment(self) -> dict[str, str]:
        """What `tipline-ops --local` needs to act on this stack: the functions' configuration and
        where the emulated AWS and Zalo are (names, ids and URLs only; the credentials are dummies)."""
        assert self.provisioned is not None
        wanted = set(shared_environment(self.provisioned.environments)) | {
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "ZALO_API_BASE_URL",
            "ZALO_OAUTH_BASE_URL",
        }
        return {name: os.environ[name] for name in sorted(wanted) if name in os.environ}

    def _local_routes(self, request: Request) -> Response | None:
        if not self.ready.is_set():
            return json_response({"status": "starting"}, 503)
        if request.path == "/healthz":
            return json_response({"status": "ready"})
        if self.console is None:
            from tipline_local.console import ConsoleSite

            self.console = ConsoleSite(evidence_origin=self.aws_endpoint)
        site: Response | None = self.console.respond(request)
        if site is not None:
            return site
        if request.path == "/_local/info":
            assert self.provisioned is not None
            return json_response(
                {
                    "webhook": f"{self.url}/webhooks/zalo",
                    "officer_api": f"{self.url}/v1",
                    "zalo": self.zalo_url,
                    "aws": self.aws_endpoint,
                    "table": self.provisioned.resolver.refs["TiplineTable"],
                    "queues": self.provisioned.queue_urls,
                    "schedules": [s.function for s in self.sources.schedules],
                    "environment": self.operations_environment(),
                }
            )
        scheduled = re.fullmatch(r"/_local/schedules/(\w+)", request.path)
        if scheduled:
            if request.method != "POST":
                return json_response({"message": "POST runs the schedule now"}, 405)
            schedule = self.scheduler.find(scheduled.group(1))
            if schedule is None:
                return json_response({"message": f"no schedule for {scheduled.group(1)}"}, 404)
            return json_response({"function": schedule.function, "result": self.scheduler.run_now(schedule)})
        return None


class StopSignals:
    """Ctrl-C and SIGTERM, caught from the moment this is made (make it before starting anything, so
    a signal during start-up is not lost between "ready" and the wait for it). The handler only sets a
    flag and writes with os.write: a handler that takes a lock (threading.Event.set, print) can
    deadlock against the main thread it interrupted while that thread held the same lock."""

    def __init__(self) -> None:
        self.count = 0
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    @property
    def received(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 2:
            os.write(2, "still stopping… (once more to quit at once)\n".encode())
        elif self.count > 2:
            os._exit(1)  # everything is in this process: nothing is left behind


def _verify_token(token: str) -> dict[str, Any]:
    from tipline_local import auth  # imported on the first officer request: quicker start

    return auth.verify(token)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return
