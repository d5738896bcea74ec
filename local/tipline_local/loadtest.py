"""Load test through the local stack (loopback only, bounded in count and time): `make loadtest`.

Several concurrent clients post a mix of webhooks to the stack's HTTP front: new citizens' messages
(signed like Zalo), redeliveries of them, forged signatures and malformed bodies. Afterwards the
queues are left to drain and the invariants are checked against the emulated AWS and the Zalo
simulator: every accepted event is exactly one stored message, every tip got exactly one
acknowledgement, no citizen got a duplicate, nothing forged or malformed was stored.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
from tipline import keys
from tipline.intake.signature import header_value

from tipline_local.accounts import demo_accounts
from tipline_local.emulator import free_port, spawn_emulator
from tipline_local.provision import emulator_client
from tipline_local.samples import zalo_body

MIX = {"valid": 0.7, "duplicate": 0.1, "forged": 0.1, "malformed": 0.1}


EXPECTED_STATUS = {"valid": 200, "duplicate": 200, "forged": 401, "malformed": 400}


@dataclass
class Report:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stored_messages: int = 0
    acknowledgements: int = 0
    duplicate_replies: int = 0
    accepted_unique: int = 0
    drained: bool = False

    @property
    def invariants_hold(self) -> bool:
        return (
            not self.unexpected
            and self.drained
            and self.stored_messages == self.accepted_unique
            and self.acknowledgements == self.accepted_unique
            and self.duplicate_replies == 0
        )

    def lines(self) -> list[str]:
        total = sum(self.sent.values())
        p50 = statistics.median(self.latencies_ms) if self.latencies_ms else 0.0
        p99 = (
            statistics.quantiles(self.latencies_ms, n=100)[98]
            if len(self.latencies_ms) >= 100
            else max(self.latencies_ms, default=0.0)
        )
        return [
            f"webhooks sent: {total} in {self.seconds:.1f} s = {total / max(self.seconds, 1e-9):.0f}/s "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.sent.items()))})",
            f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            f"answers: {dict(sorted(self.statuses.items()))}; unexpected: {dict(self.unexpected) or 'none'}",
            f"stored messages {self.stored_messages} / accepted events {self.accepted_unique}; "
            f"acknowledgements {self.acknowledgements}; duplicate replies {self.duplicate_replies}; "
            f"queues drained: {self.drained}",
            "invariants: " + ("HOLD" if self.invariants_hold else "BROKEN"),
        ]


def _requests(count: int, seed: int) -> list[tuple[str, bytes, dict[str, str]]]:
    rng = random.Random(seed)
    oa = demo_accounts()[1]
    now = int(time.time() * 1000)
    valid: list[tuple[bytes, dict[str, str]]] = []
    plan: list[tuple[str, bytes, dict[str, str]]] = []
    for index in range(count):
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "duplicate" and not valid:
            kind = "valid"
        if kind == "valid":
            body = json.dumps(
                zalo_body(
                    "user_send_text",
                    oa,
                    user_id=str(8_000_000 + index),
                    ts=now + index,
                    text=f"tin báo tải thử {index}",
                    msg_id=f"load-{seed}-{index}",
                ),
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            headers = {
                "X-ZEvent-Signature": header_value(oa.app_id, body, str(now + index), oa.oa_secret_key)
            }
            valid.append((body, headers))
            plan.append((kind, body, headers))
        elif kind == "duplicate":
            body, headers = rng.choice(valid)
            plan.append((kind, body, headers))
        elif kind == "forged":
            body, _ = rng.choice(valid) if valid else (b"{}", {})
            plan.append((kind, body, {"X-ZEvent-Signature": f"mac={rng.getrandbits(256):064x}"}))
        else:
            plan.append((kind, b'{"app_id": "' + str(index).encode() + b'", "event_name": ', {}))
    return plan


def _scan(endpoint: str, table: str) -> list[dict[str, Any]]:
    client = emulator_client(endpoint, "dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Target:
    """A running local stack, as its /_local/info describes it."""

    webhook: str
    zalo: str
    aws: str
    table: str
    queues: dict[str, str]


def run(target: Target, count: int, clients: int, time_limit: float, seed: int = 7) -> Report:
    report = Report()
    plan = _requests(count, seed)
    lock = threading.Lock()
    url = target.webhook
    oa = demo_accounts()[1]
    with httpx.Client(timeout=30) as control:  # the citizens wrote to the OA: Zalo's reply window opens
        for kind, body, _ in plan:
            if kind == "valid":
                user = json.loads(body)["sender"]["id"]
                control.post(f"{target.zalo}/_sim/interactions", json={"oa_id": oa.oa_id, "user_id": user})
    deadline = time.monotonic() + time_limit

    def post(item: tuple[str, bytes, dict[str, str]], client: httpx.Client) -> None:
        kind, body, headers = item
        if time.monotonic() > deadline:
            return
        began = time.perf_counter()
        status = client.post(
            url, content=body, headers={"content-type": "application/json", **headers}
        ).status_code
        elapsed = (time.perf_counter() - began) * 1000
        with lock:
            report.sent[kind] += 1
            report.statuses[str(status)] += 1
            report.latencies_ms.append(elapsed)
            if status != EXPECTED_STATUS[kind]:
                report.unexpected[f"{kind}->{status}"] += 1

    started = time.monotonic()
    local = threading.local()

    def worker(item: tuple[str, bytes, dict[str, str]]) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        post(item, local.client)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, plan))
    report.seconds = time.monotonic() - started
    report.accepted_unique = report.sent["valid"]  # each valid event is a new citizen's first message
    _check(target, report, time.monotonic() + 180)
    return report


def _check(target: Target, report: Report, deadline: float) -> None:
    sqs = emulator_client(target.aws, "sqs")
    queues = [target.queues[name] for name in ("RepliesQueue", "IntakeSpillQueue")]
    while time.monotonic() < deadline:
        sent = httpx.get(f"{target.zalo}/_sim/sent", timeout=30).json()
        pending = sum(
            int(
                sqs.get_queue_attributes(
                    QueueUrl=q,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"][a]
            )
            for q in queues
            for a in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        )
        if pending == 0 and len(sent) >= report.accepted_unique:
            report.drained = True
            break
        time.sleep(1)
    items = _scan(target.aws, target.table)
    report.stored_messages = sum(
        1
        for i in items
        if i["pk"]["S"].startswith(keys.tip_pk("")) and i.get("direction", {}).get("S") == "in"
    )
    sent = httpx.get(f"{target.zalo}/_sim/sent", timeout=30).json()
    per_citizen = Counter(message["user_id"] for message in sent)
    report.acknowledgements = len(sent)
    report.duplicate_replies = sum(n - 1 for n in per_citizen.values() if n > 1)


class StackDidNotStart(Exception):
    def __init__(self, reason: str, exited: bool) -> None:
        super().__init__(reason)
        self.exited = exited


def _wait_until_serving(
    base: str, stack: subprocess.Popen[bytes], log: IO[bytes], seconds: float = 120
) -> None:
    """Wait for the stack's health check (a loaded 2-core machine starts slowly); if it exits or
    stays silent, raise with the reason and the end of what it wrote."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and stack.poll() is None:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    log.seek(0)
    tail = log.read().decode("utf-8", "replace")[-3000:]
    exited = stack.poll() is not None
    state = f"exited with {stack.returncode}" if exited else f"silent for {seconds:.0f} s"
    raise StackDidNotStart(f"the local stack did not start ({state}):\n{tail}", exited)


def _stop(*processes: tuple[subprocess.Popen[bytes], int]) -> None:
    for process, stop in processes:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            os.killpg(process.pid, stop)
        process.wait(timeout=60)


@contextlib.contextmanager
def _local_stack(attempts: int = 3) -> Iterator[Target]:
    """The emulator and the stack, each in its own process (as `make dev` runs it), on fresh
    loopback ports. Another program can take a probed free port before our server binds it (test
    workers run side by side), so a stack that exits while starting is started again on new ports."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        moto_port = free_port()
        while moto_port == port:  # two probes can be handed the same free port
            moto_port = free_port()
        with tempfile.TemporaryFile() as stack_log:  # the stack's stderr, shown if it fails to start
            moto = spawn_emulator(moto_port)
            stack = subprocess.Popen(
                [sys.executable, "-m", "tipline_local.cli", "serve"],
                env={
                    **os.environ,
                    "TIPLINE_PORT": str(port),
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
                },
                stdout=subprocess.DEVNULL,
                stderr=stack_log,
                start_new_session=True,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                try:
                    _wait_until_serving(base, stack, stack_log)
                except StackDidNotStart as failed:
                    if not failed.exited or attempt == attempts:
                        raise SystemExit(str(failed)) from failed
                    print(f"loadtest: {failed}; starting again on new ports", file=sys.stderr)
                    continue
                info = httpx.get(f"{base}/_local/info").json()
                yield Target(info["webhook"], info["zalo"], info["aws"], info["table"], info["queues"])
                return
            finally:
                _stop((stack, signal.SIGINT), (moto, signal.SIGTERM))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="loadtest", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--count", type=int, default=20_000, help="webhooks to send (at most 50,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (at most 64)")
    parser.add_argument("--time-limit", type=float, default=1500, help="stop sending after this many seconds")
    args = parser.parse_args(argv)
    if not (1 <= args.count <= 50_000 and 1 <= args.clients <= 64 and 0 < args.time_limit <= 3600):
        parser.error("count 1..50000, clients 1..64, time limit up to 3600 s")
    with _local_stack() as target:
        report = run(target, args.count, args.clients, args.time_limit)
    print("\n".join(report.lines()))
    return 0 if report.invariants_hold else 1


if __name__ == "__main__":
    sys.exit(main())
