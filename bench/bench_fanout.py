"""Advisory fan-out enqueue rate for 100,000 recipients, against moto's server in this process.

Ours: tipline.advisories.delivery.enqueue (the scheduler's fan-out step): recipients' ids packed
PER_MESSAGE to a message, SendMessageBatch ten messages a call, on the FanoutQueue provisioned
from template.yaml (KMS-encrypted as deployed). Unit: recipients enqueued per second.
Floor: bare SendMessageBatch calls (ten messages a call, one recipient id each: the naive shape)
to the same queue in the same run, on a bounded sample, measured first; the queue is purged
between the two (moto's SendMessageBatch slows as a queue fills). Unit: messages (= recipients) per second.

Prints `bench fanout: ours=... msg/s floor=... msg/s ratio=... better=higher`.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local")]

RECIPIENTS = 100_000
FLOOR_MESSAGES = 2_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="ap-southeast-1",
    )
    try:
        import boto3
        from tipline.advisories.delivery import enqueue
        from tipline_local.provision import provision

        stack = provision(endpoint)
        url = stack.queue_urls["FanoutQueue"]
        ids = [f"{i:064x}" for i in range(RECIPIENTS)]
        client = boto3.client("sqs")
        started = time.perf_counter()
        for start in range(0, FLOOR_MESSAGES, 10):
            entries = [{"Id": str(j), "MessageBody": ids[start + j]} for j in range(10)]
            client.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
        floor = FLOOR_MESSAGES / (time.perf_counter() - started)
        client.purge_queue(QueueUrl=url)  # same starting point for both
        started = time.perf_counter()
        enqueue(url, "bench", 0, "oa-bench", ids)
        ours = RECIPIENTS / (time.perf_counter() - started)

    finally:
        server.stop()
    print(
        f"bench fanout: ours={ours:.0f} msg/s floor={floor:.0f} msg/s ratio={ours / floor:.2f} better=higher"
    )


if __name__ == "__main__":
    main()
