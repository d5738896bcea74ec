"""`make mutate`: mutation testing of the core with mutmut, and the score of each core module.

mutmut names a mutant after its module, which it derives from the file's path with a leading
``src/`` taken off. Our package lives in ``functions/``, so the run happens in ``.mutate/`` (not in
git), where ``src`` links to ``functions`` and the rest of the checkout is linked beside it; mutmut
copies all of it to ``.mutate/mutants/``, mutates the copy, and for each mutant runs only the tests
that called the mutated function (pyproject.toml ``[tool.mutmut]`` says which tests: unit and
handler tests, never the local stack or the browser).

Each entry of ``MODULES`` is one score: mutmut's mutant names (``module.x_function__mutmut_N``)
matched by its patterns. ``ACCEPTED`` lists survivors that are equivalent or accepted; docs/testing.md
gives the reason for each. The score is (killed + timeouts + accepted) / mutants, and the run fails
when any module is below ``THRESHOLD``.

    python -m tipline_local.mutate                 # every module
    python -m tipline_local.mutate signature gate  # some of them (make mutate MODULES="...")
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGE = ROOT / ".mutate"
LINKS = {"src": "functions", "tests": "tests", "local": "local", "events": "events", "docs": "docs"}
FILES = ("pyproject.toml", "template.yaml", "samconfig.toml")
THRESHOLD = 0.90
WORKERS = 2  # the machine has two cores, shared

MODULES: dict[str, tuple[str, ...]] = {
    "signature": ("tipline.intake.signature.*",),
    "gate": ("tipline.intake.gate.*",),
    "intake": ("tipline.intake.service.*", "tipline.intake.keywords.*", "tipline.intake.subscription.*"),
    "scoping": ("tipline.access.*", "tipline.console.service.*"),
    "sender": (
        "tipline.zalo_rules.*",
        "tipline.replies.delivery.*",
        "tipline.adapters.zalo.x_classify__mutmut_*",
        "tipline.adapters.zalo.x__data__mutmut_*",
    ),
    "advisories": ("tipline.advisories.*",),
    "tokens": ("tipline.tokens.*",),
    "evidence": ("tipline.evidence.*",),
}

# Survivors that no test should kill: each is explained in docs/testing.md ("Accepted mutants").
ACCEPTED: frozenset[str] = frozenset()

KILLED = {1, 3, 36, 24, -24, 152, 255}  # mutmut's exit codes for killed and timed out


def stage() -> None:
    """``.mutate/`` with ``src`` -> ``functions`` and the files the tests read."""
    STAGE.mkdir(exist_ok=True)
    for name, target in LINKS.items():
        link = STAGE / name
        if not link.is_symlink():
            link.symlink_to(Path("..") / target)
    for name in FILES:
        link = STAGE / name
        if not link.is_symlink():
            link.symlink_to(Path("..") / name)


def results() -> dict[str, int | None]:
    """Every mutant's exit code, from the ``.meta`` files mutmut writes beside each mutated file."""
    codes: dict[str, int | None] = {}
    for meta in sorted((STAGE / "mutants" / "src").rglob("*.py.meta")):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def scores(modules: list[str], codes: dict[str, int | None]) -> tuple[list[str], list[str], bool]:
    """The report's lines, the survivors (not accepted) and whether every module reached the threshold."""
    lines = [f"{'module':<12} {'killed':>7} {'accepted':>8} {'survived':>8} {'mutants':>7} {'score':>7}"]
    survivors: list[str] = []
    passed = True
    for module in modules:
        names = [n for n in codes if any(fnmatch.fnmatchcase(n, p) for p in MODULES[module])]
        killed = sum(1 for n in names if codes[n] in KILLED)
        accepted = sum(1 for n in names if codes[n] not in KILLED and n in ACCEPTED)
        left = sorted(n for n in names if codes[n] not in KILLED and n not in ACCEPTED)
        survivors += left
        score = (killed + accepted) / len(names) if names else 0.0
        passed = passed and score >= THRESHOLD
        lines.append(
            f"{module:<12} {killed:>7} {accepted:>8} {len(left):>8} {len(names):>7} {score:>7.1%}"
            + ("" if score >= THRESHOLD else "  < 90%")
        )
    return lines, survivors, passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    args = parser.parse_args(argv)
    modules: list[str] = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; the modules: {', '.join(MODULES)}")
    stage()
    patterns = [p for m in modules for p in MODULES[m]]
    mutmut = Path(sys.executable).with_name("mutmut")
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [str(mutmut), "run", "--max-children", str(WORKERS), *patterns], cwd=STAGE, env=env, check=False
    )
    elapsed = time.monotonic() - started
    codes = results()
    lines, survivors, passed = scores(modules, codes)
    print(f"\nmutation score per module (mutmut; {elapsed / 60:.1f} min; threshold {THRESHOLD:.0%})")
    print("\n".join(lines))
    if survivors:
        print("\nsurvivors (`cd .mutate && ../.venv/bin/mutmut show NAME` shows one):")
        print("\n".join(f"  {name}: exit {codes[name]}" for name in survivors))
    if run.returncode != 0:
        print(f"mutmut exited with {run.returncode}")
        return run.returncode
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
