"""Every storage key is spelled in one module, and docs/data-model.md lists each of them."""

from __future__ import annotations

import re
from pathlib import Path

from tipline import keys

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "functions" / "tipline"
TOOLING = ROOT / "local"
# Where keys may be spelled: the key module and the stores that build items with it.
KEY_HOMES = (CODE / "keys.py", CODE / "adapters" / "store")
# A key literal ("TIP#", f"AUDIT#{...}") or an index picked by name ("gsi1", "gsi2pk").
SPELLED_KEY = re.compile(r"""(["'])[A-Z][A-Z_]*#|(["'])gsi[12](pk|sk)?\2""")


def test_every_key_format_is_in_the_data_model_document() -> None:
    document = (ROOT / "docs" / "data-model.md").read_text("utf-8")
    missing = [f for f in keys.KEY_FORMATS if f"`{f}`" not in document and f"={f}`" not in document]
    assert missing == []


def test_no_module_but_the_stores_spells_a_key_or_picks_an_index() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in [*CODE.rglob("*.py"), *TOOLING.rglob("*.py")]
        if not any(path == home or home in path.parents for home in KEY_HOMES)
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if SPELLED_KEY.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def test_entry_keys_sort_by_time_and_split_back() -> None:
    early, late = keys.entry_key(999, "a"), keys.entry_key(1_000, "a")
    assert early < late
    assert keys.split_entry_key(late) == ("0000000001000", "a")
