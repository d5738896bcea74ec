"""The load test in a small configuration (`make loadtest` runs the full 20,000)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tipline_local.loadtest import LOST_ANSWER, Report, Unexpected, duplicate_of, explain

ROOT = Path(__file__).resolve().parents[2]
COUNT = 200


@pytest.mark.e2e
def test_a_small_load_through_the_local_stack_keeps_every_invariant() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tipline_local.loadtest",
            "--count",
            str(COUNT),
            "--clients",
            "4",
            "--time-limit",
            "120",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}"},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    report = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert report[-1] == "invariants: HOLD"
    # Requests not sent before --time-limit are skipped: the invariants must hold on all 200.
    [sent] = [line for line in report if line.startswith("webhooks sent: ")]
    assert sent.split()[2] == str(COUNT), sent
    assert any(line.startswith("latency: p50") for line in report)
    assert "unexpected: none" in run.stdout
    kept = next(line.split(": ", 1)[1] for line in report if line.startswith("stack log: "))
    assert "ready in" in Path(kept).read_text("utf-8"), "the stack's log is kept"
    Path(kept).unlink()


def _log(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "stack.log"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return str(path)


def test_an_unexpected_answer_is_shown_with_the_log_lines_around_its_request(tmp_path: Path) -> None:
    lines = [f"line {n}" for n in range(40)]
    lines[20] = "front: WebhookFunction POST /webhooks/zalo failed (X at a.py:1); answered 500 (request R-42)"
    report = Report(log_path=_log(tmp_path, lines))
    report.unexpected["valid->500"] += 1
    report.unexpected_requests.append(Unexpected("valid", 500, "R-42"))
    shown = "\n".join(explain(report))
    assert "valid->500, request R-42" in shown
    assert "answered 500 (request R-42)" in shown
    assert "line 19" in shown and "line 21" in shown, "the lines around it"
    assert "line 2\n" not in shown and "line 39" not in shown, "not the whole log"
    assert report.invariants_hold is False


def test_a_duplicate_is_attributed_to_its_cause_from_the_log(tmp_path: Path) -> None:
    announced = json.dumps(
        {"level": "WARNING", "message": LOST_ANSWER, "reply_id": "rep-1", "cause": "timeout"}
    )
    log = ["x", announced, "y"]
    copies = [{"message_id": "z1", "at": 100.0}, {"message_id": "z2", "at": 160.0}]
    lost = duplicate_of(copies, {"z2": "rep-1"}, log)
    assert (lost.reply_id, lost.copies, lost.gap_s, lost.at_least_once) == ("rep-1", 2, 60.0, True)
    assert "lost after the message went out (timeout)" in lost.cause
    unexplained = duplicate_of(copies, {"z2": "rep-2"}, log)
    assert not unexplained.at_least_once

    report = Report(accepted_unique=2, stored_messages=2, acknowledged_citizens=2, drained=True)
    report.duplicates = [lost]
    assert report.invariants_hold, "the sender's announced at-least-once edge is reported apart"
    report.duplicates = [lost, unexplained]
    assert not report.invariants_hold
