"""The console's API types are generated from the officer API's OpenAPI document: the committed copy
(console/src/api/openapi.json) must be the API's own, or the console and the API have drifted.

The other half (console/src/api/schema.d.ts is what openapi-typescript makes of that copy) is the
console's unit test console/test/api-types.test.ts, run by `make test` too.
"""

from __future__ import annotations

import json
from pathlib import Path

from tipline_local import openapi

COMMITTED = Path(__file__).resolve().parents[2] / "console" / "src" / "api" / "openapi.json"


def test_the_consoles_copy_of_the_openapi_document_is_the_apis() -> None:
    committed = json.loads(COMMITTED.read_text("utf-8"))
    assert committed == openapi.document(), (
        "the officer API changed: run `make console-api` and commit console/src/api/"
    )
