"""Lambda's SQS event source mapping, locally: poll a queue and invoke its consumer in batches.

What Lambda does, and so this does:
- up to BatchSize messages per invocation, from a long poll (short waits here, so stopping is quick);
- with ReportBatchItemFailures, only the messages not listed in ``batchItemFailures`` are deleted; the
  listed ones reappear after the queue's visibility timeout. A response that names an unknown or
  empty item identifier counts as a failure of the whole batch, as Lambda treats it;
- a function error (an exception) returns the whole batch to the queue;
- the queue's redrive policy moves a message to its DLQ once received maxReceiveCount times (SQS,
  here moto's server, applies it on receive: the pump has nothing to do for it);
- FIFO: SQS hands out no message of a group while another of that group is in flight, so several
  pollers keep each group's order (one batch may carry several messages of one group, in order).

Failures are reported by exception type only: message bodies and exception texts may hold what a
citizen wrote, and the local stack's output is a log like any other.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tipline_local.samples import sqs_event


@dataclass
class QueueSource:
    function: str
    handler: str
    queue: str  # logical id of the queue in the template
    batch_size: int = 10
    timeout: int = 3
    report_failures: bool = False  # FunctionResponseTypes: [ReportBatchItemFailures]
    concurrency: int | None = None  # ScalingConfig.MaximumConcurrency or reserved concurrency


Invoke = Callable[[dict[str, Any]], Any]


def failed_ids(result: Any, message_ids: list[str], report_failures: bool) -> set[str]:
    """Which messages of a batch go back to the queue, given the function's response."""
    if not report_failures:
        return set()
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return set()
    named = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    if not named <= set(message_ids):  # None, "" or an id not in the batch: the whole batch failed
        return set(message_ids)
    return {str(n) for n in named}


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"


class QueuePump:
    """One queue's pollers. ``pollers`` threads each receive and invoke in turn."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        source: QueueSource,
        invoke: Invoke,
        stopping: threading.Event,
        pollers: int = 1,
        wait_seconds: int = 1,
    ) -> None:
        self.sqs = sqs
        self.url = queue_url
        self.arn = queue_arn
        self.source = source
        self._invoke = invoke
        self._stopping = stopping
        self.pollers = max(1, pollers)
        self.wait_seconds = wait_seconds
        self.invocations = 0
        self.batch_errors = 0
        self._count = threading.Lock()

    def threads(self) -> list[threading.Thread]:
        return [
            threading.Thread(target=self.loop, name=f"pump-{self.source.function}-{n}", daemon=True)
            for n in range(self.pollers)
        ]

    def loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # the emulator is unreachable (stopping, restarting): wait a little
                if self._stopping.wait(0.5):
                    return
                print(f"pump {self.source.function}: {type(exc).__name__} at {_where(exc)}", flush=True)

    def poll_once(self) -> int:
        """One receive and, if it brought messages, one invocation. The number of messages."""
        messages = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        ids = [m["MessageId"] for m in messages]
        try:
            result = self._invoke(sqs_event([dict(m) for m in messages], self.arn))
        except Exception as exc:  # a function error: the whole batch returns after the visibility timeout
            with self._count:
                self.invocations += 1
                self.batch_errors += 1
            print(
                f"pump {self.source.function}: batch of {len(ids)} failed "
                f"({type(exc).__name__} at {_where(exc)}); it returns after the visibility timeout",
                flush=True,
            )
            return len(messages)
        with self._count:
            self.invocations += 1
        failed = failed_ids(result, ids, self.source.report_failures)
        done = [m for m in messages if m["MessageId"] not in failed]
        for index in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[index : index + 10])
                ],
            )
        return len(messages)
