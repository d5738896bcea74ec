"""The local AWS: moto's server, in this process or in one of its own, on a free loopback port.

One module for every place that needs an emulator (the local stack, the tests, the benches, the
load test, the rehearsal), with one correction to moto's SQS where it departs from SQS in a way the
local stack depends on:

FIFO order after a visibility timeout. When two or more messages of one group come back after their
visibility timeout (a consumer reported them as failed, as the reply sender does for the rest of a
citizen's group after an error), moto 5.2 skips the first of them: while it walks the queue it
still counts the group as in flight because of the later ones it has not reached yet, so it hands
out the second and third and leaves the first behind. SQS hands them out in order. The fix releases
every message whose visibility timeout has passed before moto looks at the groups.

Only an emulator running in this process (or started by `python -m tipline_local.emulator`) is
corrected; an external one (AWS_ENDPOINT_URL) is what it is.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

LOOPBACK = "127.0.0.1"

_APPLIED = "_tipline_fifo_order_fixed"


def fix_fifo_order_after_visibility_timeout() -> None:
    """Patch moto's SQS backend in this process (idempotent)."""
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend, _APPLIED, False):
        return
    original = SQSBackend.receive_message

    @functools.wraps(original)
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            for message in queue.messages:  # visible ones: their visibility timeout has passed
                queue.pending_messages.discard(message)
        return original(self, queue_name, *args, **kwargs)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    setattr(SQSBackend, _APPLIED, True)


def free_port() -> int:
    """A loopback port free right now (another process may still take it before it is bound)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def endpoint_of(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def start_in_process(port: int | None = None) -> tuple[ThreadedMotoServer, str]:
    """moto's server, corrected, on a thread of this process; returns it (to ``stop()``) and its URL."""
    from moto.server import ThreadedMotoServer

    fix_fifo_order_after_visibility_timeout()
    port = port or free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    return server, endpoint_of(port)


@contextmanager
def in_process() -> Iterator[str]:
    """moto's server in this process for the length of a block; yields its URL."""
    server, endpoint = start_in_process()
    try:
        yield endpoint
    finally:
        server.stop()


def spawn_emulator(port: int) -> subprocess.Popen[bytes]:
    """moto's server in a process (and a process group) of its own on 127.0.0.1:``port``, as AWS
    would be elsewhere; stop it with ``os.killpg(process.pid, signal.SIGTERM)``."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m tipline_local.emulator --port N``: moto's server, corrected, in its own process
    (an external emulator for AWS_ENDPOINT_URL that keeps FIFO order like the embedded one)."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(prog="python -m tipline_local.emulator")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server, endpoint = start_in_process(args.port)
    print(f"moto (FIFO order corrected) on {endpoint}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
