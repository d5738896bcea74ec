"""The officer console's two figures.

1. JS shipped to the browser, gzipped, against the budget of 250 kB (ratio < 1 is within it).
2. Time to show the first inbox page of a unit with 2,000 tips in Chromium (navigation to the rows on
   screen: HTML, JS, CSS, config, /v1/me, /v1/units and the two /v1/tips pages it asks for), against
   the bare GET /v1/tips it needs, timed from Python on the same local stack. Medians of RUNS each.

Prints `bench console_js_gzip: ...` and `bench console_inbox_first_page: ours=... floor=... ratio=...`.
Needs console/dist (make console) and Chromium (make chromium); `make bench` sees to both.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local")]

BUDGET_KB = 250.0
TIPS = 2000
UNIT = "pc02-hoan-kiem"
RUNS = 5
READY = re.compile(r"ready in ([\d.]+) s at (http://127\.0\.0\.1:\d+)")


def js_gzip_kb(dist: Path) -> float:
    total = sum(len(gzip.compress(path.read_bytes(), 9)) for path in (dist / "assets").glob("*.js"))
    return total / 1024


def _start_stack() -> tuple[subprocess.Popen[bytes], str, Path]:
    log = Path(tempfile.mkstemp(prefix="bench-console-", suffix=".log")[1])
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "tipline-local"), "serve"],
        cwd=ROOT,
        env={**os.environ, "TIPLINE_PORT": "0", "POWERTOOLS_LOG_LEVEL": "WARNING"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = READY.search(log.read_text("utf-8", errors="replace"))
        if found:
            return process, found.group(2), log
        if process.poll() is not None:
            raise SystemExit(f"the stack exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("the stack did not start in 180 s")


def _seed(info: dict[str, str], count: int) -> None:
    """2,000 tips of one unit straight into the stack's table (as the webhook would have stored them)."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": info["aws"],
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "ap-southeast-1",
        }
    )
    from tipline.adapters.table import Table
    from tipline.domain import Tip, TipStatus
    from tipline.intake.tipcode import new_code
    from tipline.keys import tip_pk

    table = Table(info["table"])
    now = int(time.time() * 1000)
    statuses = list(TipStatus)
    items = []
    for index in range(count):
        at = now - index * 60_000
        tip = Tip(
            tip_id=secrets.token_hex(12),
            code=new_code(),
            oa_id="429006714426370112",
            unit_id=UNIT,
            pseudonym=secrets.token_hex(16),
            status=statuses[index % len(statuses)],
            urgent=index % 40 == 0,
            created_at_ms=at,
            last_activity_ms=at,
            message_count=1 + index % 4,
        )
        index_fields = table.tip_index_fields(tip)
        items.append({**tip.model_dump(), **index_fields, "pk": tip_pk(tip.tip_id), "sk": "META"})
    table.batch_put(items)


def main() -> int:
    import httpx
    from tipline_local import auth

    dist = ROOT / "console" / "dist"
    if not (dist / "index.html").exists():
        raise SystemExit("console/dist is missing: run make console")
    kb = js_gzip_kb(dist)
    ratio = kb / BUDGET_KB
    print(f"bench console_js_gzip: ours={kb:.1f}kB floor={BUDGET_KB:.0f}kB ratio={ratio:.3f} better=lower")

    process, url, log = _start_stack()
    try:
        info = httpx.get(f"{url}/_local/info").json()
        _seed(info, TIPS)
        token = auth.issue_token(UNIT, "officer", subject=f"officer@{UNIT}")
        headers = {"Authorization": f"Bearer {token}"}
        httpx.get(f"{url}/v1/tips", params={"limit": 50}, headers=headers).raise_for_status()  # warm
        floor = []
        for _ in range(RUNS):
            began = time.perf_counter()
            page = httpx.get(f"{url}/v1/tips", params={"limit": 50}, headers=headers, timeout=60)
            floor.append((time.perf_counter() - began) * 1000)
            assert len(page.json()["items"]) == 50
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is missing: the console bench needs Node.js 20.19+")
        measured = subprocess.run(
            [node, "scripts/bench-inbox.mjs", f"{url}/", token, str(RUNS)],
            cwd=ROOT / "console",
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        result = json.loads(measured.stdout.strip().splitlines()[-1])
        ours, bare = statistics.median(result["times"]), statistics.median(floor)
        print(
            f"bench console_inbox_first_page: ours={ours:.0f}ms floor={bare:.0f}ms ratio={ours / bare:.2f} "
            f"better=lower ({TIPS} tips in the unit, {result['rows']} rows shown, median of {RUNS})"
        )
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
