"""Translate template.yaml to plain CloudFormation with the SAM translator, offline.

Used by `make validate` (checkov scans the transformed template too, because it misses
over-broad statements inside SAM `Policies`), by the policy tests and by the deploy rehearsal.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tipline_local.template import TEMPLATE_PATH, load_template


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only when a function names one; ours do not."""

    def load(self) -> dict[str, str]:
        return {}


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Point local code paths at S3, as `sam package` would, so the translator accepts them."""
    globals_function = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = f"s3://packaged/{globals_function['CodeUri'].strip('/')}.zip"
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for field in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(field), str) and not properties[field].startswith("s3://"):
                properties[field] = f"s3://packaged/{properties[field].strip('/')}.zip"
    return template


def transformed(path: Path = TEMPLATE_PATH, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-southeast-1")
    template = _as_packaged(load_template(path))
    result: dict[str, Any] = transform(template, parameters or {}, _NoManagedPolicies())
    return result


def main() -> None:
    json.dump(transformed(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
