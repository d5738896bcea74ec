"""The spill path: an event the webhook could not finish right now is kept, sealed, on a queue.

Zalo does not reliably redeliver after an error answer, so the webhook answers 200 once the
event is either stored or spilled. Two kinds of event are spilled:

- verified ones that could not be stored (DynamoDB, KMS, SQS failing, a bug, or another delivery
  of the same event in progress);
- unverified ones, when the OA registry or the app's secret could not be read to check the
  signature: the signature header is sealed with the body, and the spill consumer checks it before
  anything is stored (a forged body is dropped there).

The spill key is a KMS data key the container keeps for an hour, so an event can still be sealed
while KMS itself is failing (unless the container never got a key, and then the webhook answers
503). What the consumer must trust (the body, the signature, whether it was verified, when it was
received) is inside the sealed part, so nobody who can write to the queue can change it; the clear
``reason`` and ``spilled_ms`` are for ops (``tipline-ops dlq-inspect``).

Sealed plaintext, version 2: a one-line JSON header, a newline, then the raw body as received.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
from dataclasses import dataclass

from tipline import clock
from tipline.adapters import envelope, queues
from tipline.config import get_settings
from tipline.errors import DependencyUnavailable

SPILL_VERSION = 2
_VERSION_1 = 1  # the raw body alone, always verified: still read, for messages spilled before v2


@dataclass(frozen=True)
class Spilled:
    raw: bytes
    received_ms: int  # when the webhook received it: its age is judged from then, not from now
    verified: bool
    signature: str | None
    reason: str


@functools.cache
def _sealer() -> envelope.CachedKeySealer:
    settings = get_settings()
    return envelope.CachedKeySealer(settings.kms_key_id, {"purpose": "intake-spill", "stage": settings.stage})


def warm() -> None:
    """Get the spill key while KMS answers, so a later KMS failure can still be spilled. Best effort."""
    with contextlib.suppress(DependencyUnavailable):
        _sealer().warm()


def spill(
    raw_body: bytes,
    reason: str,
    received_ms: int,
    *,
    verified: bool = True,
    signature: str | None = None,
) -> None:
    header = {"received_ms": received_ms, "verified": verified, "signature": signature}
    sealed = _sealer().seal(json.dumps(header).encode() + b"\n" + raw_body)
    message = {
        "v": SPILL_VERSION,
        "sealed": base64.b64encode(sealed).decode(),
        "reason": reason,
        "spilled_ms": clock.now_ms(),
    }
    queues.send(get_settings().spill_queue_url, json.dumps(message))


def unspill(message_body: str) -> Spilled:
    message = json.loads(message_body)
    version = message.get("v")
    if version not in (_VERSION_1, SPILL_VERSION):
        raise ValueError("unknown spill format")
    opened = _sealer().open(base64.b64decode(message["sealed"]))
    reason = str(message.get("reason", ""))
    if version == _VERSION_1:
        return Spilled(opened, int(message["spilled_ms"]), verified=True, signature=None, reason=reason)
    line, _, raw = opened.partition(b"\n")
    header = json.loads(line)
    signature = header.get("signature")
    return Spilled(
        raw=raw,
        received_ms=int(header["received_ms"]),
        verified=header.get("verified") is True,
        signature=signature if isinstance(signature, str) else None,
        reason=reason,
    )
