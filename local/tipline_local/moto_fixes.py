"""Corrections to moto's SQS where it departs from SQS in a way the local stack depends on.

FIFO order after a visibility timeout. When two or more messages of one group come back after their
visibility timeout (a consumer reported them as failed, as the reply sender does for the rest of a
citizen's group after an error), moto 5.2 skips the first of them: while it walks the queue it
still counts the group as in flight because of the later ones it has not reached yet, so it hands
out the second and third and leaves the first behind. SQS hands them out in order. The fix releases
every message whose visibility timeout has passed before moto looks at the groups.

Only an emulator running in this process is corrected (the stack's embedded one, the tests' one);
an external one (AWS_ENDPOINT_URL) is what it is.
"""

from __future__ import annotations

import functools
from typing import Any

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


def main(argv: list[str] | None = None) -> int:
    """``python -m tipline_local.moto_fixes --port N``: moto's server, corrected, in its own process
    (an external emulator for AWS_ENDPOINT_URL that keeps FIFO order like the embedded one)."""
    import argparse
    import signal
    import threading

    from moto.server import ThreadedMotoServer

    parser = argparse.ArgumentParser(prog="python -m tipline_local.moto_fixes")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    fix_fifo_order_after_visibility_timeout()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(f"moto (FIFO order corrected) on http://127.0.0.1:{args.port}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
