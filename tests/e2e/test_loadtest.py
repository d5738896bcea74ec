"""The load test in a small configuration (`make loadtest` runs the full 20,000)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_a_small_load_through_the_local_stack_keeps_every_invariant() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tipline_local.loadtest",
            "--count",
            "200",
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
    assert any(line.startswith("latency: p50") for line in report)
    assert "unexpected: none" in run.stdout
