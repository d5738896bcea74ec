"""The local AWS: moto's server, in this process or in one of its own, on a free loopback port.

One module for every place that needs an emulator (the local stack, the tests, the benches, the
load test, the rehearsal), with corrections to moto's SQS where it departs from SQS in a way the
local stack depends on (moto 5.2):

- FIFO order after a visibility timeout. When two or more messages of one group come back after
  their visibility timeout (a consumer reported them as failed, as the reply sender does for the
  rest of a citizen's group after an error), moto skips the first of them: while it walks the queue
  it still counts the group as in flight because of the later ones it has not reached yet, so it
  hands out the second and third and leaves the first behind. SQS hands them out in order. The fix
  releases every message whose visibility timeout has passed before moto looks at the groups.
- One FIFO group in flight at a time, and each message to one receiver. moto takes its snapshot of
  the groups in flight once per ReceiveMessage, before a long poll, and walks and changes the queue
  without a lock: two pollers waiting on one queue could each take a message of the same group (a
  citizen's replies handled side by side), or see one change mid-way. Here every receive, send,
  delete and visibility change runs under one lock, and a long poll retries with a fresh snapshot.
- Deduplication for five minutes. moto drops a FIFO message whose deduplication id matches one
  still in the queue only; SQS remembers the id for five minutes after the send, also once the
  first copy was received and deleted. Two copies of one acknowledgement (the webhook and the
  spill consumer completing the same event) could both be delivered, and handled at once.

and to moto's DynamoDB (moto 5.2):

- Transactions that neither lose nor stall other writes. moto's TransactWriteItems deep-copies every
  table it touches before it starts (the whole table, on every transaction: slower as the table
  grows) and, when the transaction is cancelled, puts those copies back: every write another thread
  made meanwhile is lost, and a copy taken while another thread writes fails with a 500. Here every
  DynamoDB write (put, update, delete, transaction) runs under one lock, as a conditional write is
  atomic on DynamoDB, and a cancelled transaction restores only the items it touched (and the
  table's stream as it was), which is what DynamoDB guarantees.

Only an emulator running in this process (or started by `python -m tipline_local.emulator`, which
is what ``spawn_emulator`` runs) is corrected; an external one (AWS_ENDPOINT_URL) is what it is.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

LOOPBACK = "127.0.0.1"
_LOCAL = Path(__file__).resolve().parents[1]  # the directory that holds tipline_local

_APPLIED = "_tipline_sqs_corrected"
DEDUPLICATION_SECONDS = 300  # SQS's deduplication interval
_POLL_SECONDS = 0.05  # a long poll's retry when visible messages are all held by groups in flight
_SQS_LOCK = threading.RLock()


def _under(lock: Any, method: Any) -> Any:
    @functools.wraps(method)
    def under_lock(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return under_lock


def _serialised(method: Any) -> Any:
    return _under(_SQS_LOCK, method)


def correct_sqs() -> None:
    """Patch moto's SQS in this process (idempotent): see the module's docstring."""
    from moto.sqs.models import Queue, SQSBackend

    if getattr(SQSBackend, _APPLIED, False):
        return
    receive = SQSBackend.receive_message
    add = Queue.add_message

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        queue = self.get_queue(queue_name)
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with _SQS_LOCK:
                if queue.fifo_queue:
                    for message in queue.messages:  # visible ones: their visibility timeout has passed
                        queue.pending_messages.discard(message)
                result = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
                waiting = bool(queue.messages)
            left = deadline - time.monotonic()
            if result or left <= 0:
                return result
            if waiting:  # visible, but their groups are in flight: look again shortly
                time.sleep(min(left, _POLL_SECONDS))
            else:
                queue.wait_for_messages(min(left, 1.0))

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and message.deduplication_id:
            sent: dict[str, int] = self.__dict__.setdefault("_tipline_deduplication", {})
            now = int(message.sent_timestamp)
            horizon = now - DEDUPLICATION_SECONDS * 1000
            for old in [key for key, at in sent.items() if at < horizon]:
                del sent[old]
            if message.deduplication_id in sent:
                return
            sent[message.deduplication_id] = now
        add(self, message)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    Queue.add_message = _serialised(add_message)  # type: ignore[method-assign]
    for name in (
        "send_message",
        "send_message_batch",
        "delete_message",
        "delete_message_batch",
        "change_message_visibility",
        "change_message_visibility_batch",
        "purge_queue",
    ):
        setattr(SQSBackend, name, _serialised(getattr(SQSBackend, name)))
    setattr(SQSBackend, _APPLIED, True)


fix_fifo_order_after_visibility_timeout = correct_sqs  # the name its first callers know

_DYNAMODB_APPLIED = "_tipline_dynamodb_corrected"
_DYNAMODB_LOCK = threading.RLock()


def correct_dynamodb() -> None:
    """Patch moto's DynamoDB in this process (idempotent): see the module's docstring."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, _DYNAMODB_APPLIED, False):
        return

    class _TablesKept:
        """Stands in for the ``copy`` module inside moto's DynamoDB backend: a table is "copied" as
        itself, so moto's own rollback puts back the same object and the items are restored here."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    setattr(models, "copy", _TablesKept)  # noqa: B010 - the name moto's backend module looks up
    transact = DynamoDBBackend.transact_write_items

    def touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
        """(table, hash key, range key) of each item a transaction names."""
        found = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            range_attr = table.range_key_attr
            range_key = DynamoType(key[range_attr]) if range_attr and range_attr in key else None
            found.append((table, DynamoType(key[table.hash_key_attr]), range_key))
        return found

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _DYNAMODB_LOCK:
            keys = touched(self, transact_items)
            before = [
                (t, h, r, copy.deepcopy(t.get_item(h, r) if r is not None or not t.range_key_attr else None))
                for t, h, r in keys
            ]
            streams = {
                id(t): (t, len(t.stream_shard.items)) for t, _, _ in keys if t.stream_shard is not None
            }
            try:
                transact(self, transact_items)
            except Exception:
                for table, hash_key, range_key, item in reversed(before):
                    if range_key is not None:
                        table.items[hash_key].pop(range_key, None)
                        if item is not None:
                            table.items[hash_key][range_key] = item
                    else:
                        table.items.pop(hash_key, None)
                        if item is not None:
                            table.items[hash_key] = item
                for table, length in streams.values():
                    del table.stream_shard.items[length:]
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    for name in ("put_item", "update_item", "delete_item"):
        method = getattr(DynamoDBBackend, name)
        setattr(DynamoDBBackend, name, _under(_DYNAMODB_LOCK, method))
    setattr(DynamoDBBackend, _DYNAMODB_APPLIED, True)


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

    correct_sqs()
    correct_dynamodb()
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
    """moto's server, corrected (``python -m tipline_local.emulator``), in a process (and a process
    group) of its own on 127.0.0.1:``port``, as AWS would be elsewhere; stop it with
    ``os.killpg(process.pid, signal.SIGTERM)``."""
    return subprocess.Popen(
        [sys.executable, "-m", "tipline_local.emulator", "--port", str(port)],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_LOCAL), os.environ.get("PYTHONPATH")])),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m tipline_local.emulator --port N``: moto's server, corrected, in its own process
    (an external emulator for AWS_ENDPOINT_URL, corrected like the embedded one)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tipline_local.emulator")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server, endpoint = start_in_process(args.port)
    print(f"moto (SQS corrected) on {endpoint}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
