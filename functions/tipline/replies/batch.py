"""The reply sender's batch engine: a batch of replies.fifo messages, each delivered by
:func:`tipline.replies.delivery.deliver`.

A batch (up to 10 messages) is split by message group, one group per citizen. The groups run
concurrently on a small thread pool, because each reply spends most of its time waiting on AWS and
on Zalo; inside a group the messages run strictly one after another, in batch order.

A message that fails stops the rest of its own group (one citizen) in this batch, never the other
citizens': the later messages of that group are skipped, not processed, and reported as failures
too. A failed message postpones itself (its visibility timeout: backoff with jitter, or 0 for a
poison message so it reaches the dead-letter queue after maxReceiveCount without waiting); the
skipped ones behind it are made visible again at once, and SQS holds them back until their group's
head is delivered. The response is the partial batch response Lambda expects:
``{"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}`` listing exactly the failed and
skipped messages, in batch order; every record is reported, even when all failed (each one already
set its own visibility), so the handler never raises for a failed reply.

Why not Powertools' ``SqsFifoPartialProcessor(skip_group_on_error=True)``, which this replaced: it
processes the records of a batch one after another, so ten citizens' replies cost ten Zalo round
trips in a row; it has no concurrent mode for FIFO queues, and its skip-group state is per
processor instance, not per group, so it cannot be driven from several threads. The grouping it did
is a few lines here. Powertools still provides the logger, the metrics and ``QueuedMessage``.
Metrics are added on the invoking thread only (Powertools' metric set is not thread-safe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from tipline import clock
from tipline.adapters import queues
from tipline.config import get_settings
from tipline.domain import DeliveryStatus, QueuedReply
from tipline.observability import logger, metrics
from tipline.replies.delivery import Park, Poison, RetryLater, Sender, deliver, parse
from tipline.retry import backoff_seconds

MAX_WORKERS = 10  # a batch holds at most 10 messages, so at most 10 groups
# replies.fifo's maxReceiveCount (template.yaml; a template test keeps them equal): on its last
# receive a failing message is parked in the DLQ by the sender itself, with its reason and OA.
MAX_RECEIVES = 8

_METRIC = {
    DeliveryStatus.SENT: "RepliesSent",
    DeliveryStatus.FAILED: "RepliesFailed",
}


@dataclass(frozen=True)
class QueuedMessage:
    """What the engine needs of one SQS record (the handler builds these from Lambda's event)."""

    message_id: str
    body: str
    receipt_handle: str
    group_id: str | None = None
    receive_count: int = 1
    attributes: Mapping[str, str] = field(default_factory=dict)  # string message attributes


@dataclass(frozen=True)
class _Outcome:
    message_id: str
    ok: bool
    metric: str | None = None


def _postpone(record: QueuedMessage, seconds: int) -> None:
    try:
        queues.change_visibility(get_settings().replies_queue_url, record.receipt_handle, seconds)
    except Exception:
        logger.warning("could not change a reply's visibility", message_id=record.message_id)


def _park(record: QueuedMessage, oa_id: str | None, reason: str, delay_seconds: int) -> _Outcome:
    """Into the DLQ with its reason (then acknowledged); if that fails, retried as before."""
    try:
        queues.park(
            get_settings().replies_dead_letter_url,
            record.body,
            reason,
            oa_id,
            group_id=record.group_id,
            dedup_id=record.message_id,
            kept=record.attributes,
        )
    except Exception:
        logger.warning(
            "could not park a reply; SQS moves it after maxReceiveCount", message_id=record.message_id
        )
        _postpone(record, delay_seconds)
        return _Outcome(record.message_id, ok=False)
    logger.warning(
        "reply parked in the dead-letter queue", message_id=record.message_id, oa_id=oa_id, reason=reason
    )
    return _Outcome(record.message_id, ok=True, metric="RepliesParked")


def _one(sender: Sender, record: QueuedMessage, reply: QueuedReply | Poison) -> _Outcome:
    """Deliver one record; on failure, set its visibility and report it failed. On its last receive
    (MAX_RECEIVES), or when its OA is disabled, it is parked in the DLQ with the reason instead."""
    attempt = max(1, record.receive_count)
    last = attempt >= MAX_RECEIVES
    oa_id = None if isinstance(reply, Poison) else reply.oa_id
    try:
        if isinstance(reply, Poison):
            raise reply
        status = deliver(sender, reply, attempt, now_ms=clock.now_ms())
    except Park as park:
        return _park(record, oa_id, park.reason, 0)
    except RetryLater as retry:
        if last:
            return _park(record, oa_id, retry.reason, retry.delay_seconds)
        _postpone(record, retry.delay_seconds)
        return _Outcome(record.message_id, ok=False, metric="RepliesDeferred")
    except Poison as poison:
        logger.error(
            "poison reply message", message_id=record.message_id, reason=str(poison), receives=attempt
        )
        if last:
            return _park(record, oa_id, str(poison), 0)
        _postpone(record, 0)
        return _Outcome(record.message_id, ok=False)
    except Exception as fault:
        # An AWS fault (DynamoDB, KMS, Secrets Manager): back off too; on the last receive, the DLQ.
        logger.exception("reply delivery failed", message_id=record.message_id, receives=attempt)
        if last:
            return _park(record, oa_id, queues.fault_reason(fault, "sender"), 0)
        _postpone(record, backoff_seconds(attempt))
        return _Outcome(record.message_id, ok=False)
    return _Outcome(record.message_id, ok=True, metric=_METRIC.get(status) if status else None)


def _group(
    sender: Sender, records: Sequence[QueuedMessage], replies: dict[str, QueuedReply | Poison]
) -> list[_Outcome]:
    """One citizen's records, in order; after a failure the rest are skipped (visible again now)."""
    outcomes: list[_Outcome] = []
    for index, record in enumerate(records):
        outcome = _one(sender, record, replies[record.message_id])
        outcomes.append(outcome)
        if not outcome.ok:
            for skipped in records[index + 1 :]:
                _postpone(skipped, 0)  # behind its group's failed head: SQS keeps the order
                outcomes.append(_Outcome(skipped.message_id, ok=False))
            break
    return outcomes


def _groups(records: Sequence[QueuedMessage]) -> list[list[QueuedMessage]]:
    """Records by message group, each group in batch order (no group id: a group of its own)."""
    groups: dict[str, list[QueuedMessage]] = {}
    for record in records:
        key = record.group_id
        groups.setdefault(f"g:{key}" if key is not None else f"m:{record.message_id}", []).append(record)
    return list(groups.values())


def _parse(record: QueuedMessage) -> QueuedReply | Poison:
    try:
        return parse(record.body)
    except Poison as poison:
        return poison  # raised, logged and reported when its turn in its group comes


def _prefetch(sender: Sender, replies: list[QueuedReply]) -> None:
    """Read every reply's entry and contact in one call; if that fails, each reply reads its own."""
    try:
        sender.prefetched.load(sender.table, replies)
    except Exception:
        logger.warning("batch read failed; replies read one by one", count=len(replies))


def _remember_sent(sender: Sender) -> None:
    """The batch's receipt pointers in one write; without them only delivered/seen marks are lost."""
    sent = sender.sent.take()
    if not sent:
        return
    try:
        sender.table.remember_sent(sent)
    except Exception:
        logger.warning("receipt pointers not written", count=len(sent))
        metrics.add_metric(name="ReceiptPointersLost", unit=MetricUnit.Count, value=len(sent))


def process(sender: Sender, records: Sequence[QueuedMessage]) -> dict[str, list[dict[str, str]]]:
    """Run every group concurrently; the partial batch response, failures in batch order."""
    replies = {record.message_id: _parse(record) for record in records}
    _prefetch(sender, [r for r in replies.values() if not isinstance(r, Poison)])
    groups = _groups(records)
    outcomes: dict[str, _Outcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(groups)))) as pool:
        futures = [(group, pool.submit(_group, sender, group, replies)) for group in groups]
        for group, future in futures:
            try:
                outcomes.update((o.message_id, o) for o in future.result())
            except Exception:  # a bug, not a delivery outcome: retry the whole group later
                logger.exception("reply group failed", message_id=group[0].message_id)
    _remember_sent(sender)
    failures: list[dict[str, str]] = []
    for record in records:
        outcome = outcomes.get(record.message_id) or _Outcome(record.message_id, ok=False)
        if outcome.metric:
            metrics.add_metric(name=outcome.metric, unit=MetricUnit.Count, value=1)
        if not outcome.ok:
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
