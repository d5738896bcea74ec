"""Print the officer API's OpenAPI document, straight from its resolver (no stack, no network).

``python -m tipline_local.openapi > console/src/api/openapi.json`` (``make console-api`` runs it and
regenerates the console's types from it); tests/unit/test_console_api_types.py fails when the committed
document differs from the API's.
"""

from __future__ import annotations

import json
import os
import sys


def document() -> dict[str, object]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-southeast-1")  # importing the handler builds no client
    from tipline.handlers.officer_api import openapi_document

    loaded: dict[str, object] = json.loads(openapi_document())
    return loaded


def main() -> int:
    sys.stdout.write(json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
