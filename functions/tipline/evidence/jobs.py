"""The intake side of evidence: queue fetch jobs. Kept light (no httpx) for the webhook's cold start."""

from __future__ import annotations

from collections.abc import Sequence

from tipline.adapters import queues
from tipline.config import Settings
from tipline.domain import ThreadEntry
from tipline.evidence.model import FETCHABLE_TYPES, FetchJob
from tipline.observability import logger


def queue_fetches(settings: Settings, entry: ThreadEntry, kinds: Sequence[str]) -> int:
    """Queue one fetch job per fetchable attachment of a stored tip message: ids only, no URL.

    Called by intake after the entry is stored, on every delivery of the event (a retry re-queues;
    the fetcher is idempotent). Does nothing when no fetch queue is configured.
    """
    if not settings.fetch_queue_url or entry.tip_id is None:
        return 0
    jobs = [
        FetchJob(tip_id=entry.tip_id, oa_id=entry.oa_id, entry_key=entry.entry_key, index=index, kind=kind)
        for index, kind in enumerate(kinds)
        if kind in FETCHABLE_TYPES
    ]
    if not jobs:
        return 0
    queues.send_batch(settings.fetch_queue_url, [job.model_dump_json() for job in jobs])
    logger.info("attachment fetches queued", tip_id=entry.tip_id, count=len(jobs))
    return len(jobs)
