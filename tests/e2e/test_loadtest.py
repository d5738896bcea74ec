"""The load test in a small configuration (`make loadtest` runs the full 20,000)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
