"""Advisory fan-out enqueue rate for 100,000 recipients, against moto's server in this process.

Ours: tipline.advisories.delivery.enqueue (the scheduler's fan-out step): recipients' ids packed
PER_MESSAGE to a validated message, SendMessageBatch ten messages a call, every answer checked, on a queue
configured like the FanoutQueue provisioned from template.yaml (KMS-encrypted as deployed).
Floor: bare SendMessageBatch calls carrying the very same message bodies (prepared beforehand), ten
a call, in the same run: the least any code could do to put these recipients on the queue. Each run
starts on a fresh queue configured like the FanoutQueue (moto's SendMessageBatch slows as a queue
fills); each side runs ROUNDS times and keeps its best. Unit: recipients per second.

Prints `bench fanout: ours=... recipients/s floor=... recipients/s ratio=... better=higher`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local")]

RECIPIENTS = 100_000
ROUNDS = 2


def main() -> None:
    import logging

    from tipline_local import emulator

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server, endpoint = emulator.start_in_process()
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="ap-southeast-1",
    )
    try:
        import boto3
        from tipline.advisories.delivery import PER_MESSAGE, FanoutMessage, enqueue
        from tipline_local.provision import provision

        stack = provision(endpoint)
        url = stack.queue_urls["FanoutQueue"]
        ids = [f"{i:064x}" for i in range(RECIPIENTS)]
        shape = {"advisory_id": "bench", "run_ms": 0, "oa_id": "oa-bench"}
        bodies = [
            FanoutMessage(**shape, pseudonyms=ids[i : i + PER_MESSAGE]).model_dump_json()
            for i in range(0, RECIPIENTS, PER_MESSAGE)
        ]
        client = boto3.client("sqs")

        settable = ("KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "VisibilityTimeout", "RedrivePolicy")
        shape_of = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        like_fanout = {name: shape_of[name] for name in settable if name in shape_of}
        rounds = iter(range(2 * ROUNDS))

        def fresh_queue() -> str:
            """An empty queue configured like the FanoutQueue (moto allows one purge a minute)."""
            name = f"bench-fanout-{next(rounds)}"
            return client.create_queue(QueueName=name, Attributes=like_fanout)["QueueUrl"]

        def floor_run(queue: str) -> None:
            for start in range(0, len(bodies), 10):
                entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[start : start + 10])]
                client.send_message_batch(QueueUrl=queue, Entries=entries)  # type: ignore[arg-type]

        def ours_run(queue: str) -> None:
            assert enqueue(queue, "bench", 0, "oa-bench", ids) == len(bodies)

        def best_rate(run: Callable[[str], None]) -> float:
            best = float("inf")
            for _ in range(ROUNDS):
                queue = fresh_queue()
                started = time.perf_counter()
                run(queue)
                best = min(best, time.perf_counter() - started)
                visible = client.get_queue_attributes(
                    QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
                )
                assert int(visible["Attributes"]["ApproximateNumberOfMessages"]) == len(bodies)
                client.delete_queue(QueueUrl=queue)
            return RECIPIENTS / best

        floor = best_rate(floor_run)
        ours = best_rate(ours_run)

    finally:
        server.stop()
    print(
        f"bench fanout: ours={ours:.0f} recipients/s floor={floor:.0f} recipients/s "
        f"ratio={ours / floor:.2f} better=higher"
    )


if __name__ == "__main__":
    main()
