"""The spill path: a verified event that could not be stored right now is kept, sealed, on a queue.

Zalo does not reliably redeliver after an error answer, so the webhook answers 200 once the
event is either stored or spilled. The spill key is a KMS data key the container keeps for an
hour, so an event can still be sealed while KMS itself is failing (unless the container never
got a key, and then the webhook answers 503).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json

from tipline import clock
from tipline.adapters import envelope, queues
from tipline.config import get_settings
from tipline.errors import DependencyUnavailable

SPILL_VERSION = 1


@functools.cache
def _sealer() -> envelope.CachedKeySealer:
    settings = get_settings()
    return envelope.CachedKeySealer(settings.kms_key_id, {"purpose": "intake-spill", "stage": settings.stage})


def warm() -> None:
    """Get the spill key while KMS answers, so a later KMS failure can still be spilled. Best effort."""
    with contextlib.suppress(DependencyUnavailable):
        _sealer().warm()


def spill(raw_body: bytes, reason: str) -> None:
    sealed = _sealer().seal(raw_body)
    message = {
        "v": SPILL_VERSION,
        "sealed": base64.b64encode(sealed).decode(),
        "reason": reason,
        "spilled_ms": clock.now_ms(),
    }
    queues.send(get_settings().spill_queue_url, json.dumps(message))


def unspill(message_body: str) -> bytes:
    message = json.loads(message_body)
    if message.get("v") != SPILL_VERSION:
        raise ValueError("unknown spill format")
    return _sealer().open(base64.b64decode(message["sealed"]))
