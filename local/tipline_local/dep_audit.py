"""Dependency audit for `make validate`: pip-audit over the layer's pinned requirements.

pip-audit needs vulnerability data from PyPI's JSON API (or OSV). Where the machine cannot reach it
(only a package index mirror is available), every package comes back unaudited: then the audit is
reported as skipped, clearly, instead of passing silently or failing the build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tipline_local.template import ROOT

REQUIREMENTS = ROOT / "layers" / "requirements.txt"


def main() -> int:
    command = [
        str(Path(sys.executable).with_name("pip-audit")),
        "-r",
        str(REQUIREMENTS),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "-f",
        "json",
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        print(f"dependency audit failed to run:\n{run.stderr.strip()}")
        return 1
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"VULNERABLE {dependency['name']}=={dependency['version']}: {ids}")
    if vulnerable:
        return 1
    if not audited:
        print(
            f"dependency audit SKIPPED: no vulnerability data reachable for any of {len(dependencies)} "
            "pinned packages (this machine reaches a package index only). Run `make validate` where "
            "pypi.org's JSON API or osv.dev is reachable."
        )
        return 0
    print(
        f"dependency audit: no known vulnerabilities in {len(audited)} packages "
        f"({len(dependencies) - len(audited)} could not be audited)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
