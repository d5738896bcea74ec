"""One clock: every function reads wall time from `tipline.clock`, so a test moves it for a whole flow."""

from __future__ import annotations

import re
from pathlib import Path

from tipline import clock

CODE = Path(__file__).resolve().parents[2] / "functions" / "tipline"
WALL_CLOCK = re.compile(r"\btime\.time\(|\bdatetime\.(now|utcnow|today)\(|\bdate\.today\(")


def test_no_function_reads_the_wall_clock_but_the_clock_module() -> None:
    offenders = [
        f"{path.relative_to(CODE)}:{number}"
        for path in CODE.rglob("*.py")
        if path.name != "clock.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if WALL_CLOCK.search(line)
    ]
    assert offenders == []


def test_a_set_source_moves_time_for_every_reader_and_is_restored() -> None:
    before = clock.now_s()
    with clock.use(lambda: 1_543_908_534.74):
        assert clock.now_ms() == 1_543_908_534_740
        assert clock.now_s() == 1_543_908_534.74
    assert clock.now_s() >= before
