"""`make demo` finds the tip code in a citizen's acknowledgement whatever its check symbol."""

from __future__ import annotations

import pytest
from tipline.intake import tipcode
from tipline.intake.texts import ack_new_tip
from tipline_local.demo import _CODE


def _code_with_check(symbol: str) -> str:
    """The first code (counting up) whose check symbol is ``symbol``."""
    for number in range(10_000):
        data = "".join(tipcode.ALPHABET[(number >> (5 * i)) % 32] for i in reversed(range(9)))
        if tipcode.check_symbol(data) == symbol:
            return data + symbol
    raise AssertionError(symbol)


@pytest.mark.parametrize("symbol", list(tipcode.CHECK_ALPHABET))
def test_the_demo_reads_every_tip_code_from_an_acknowledgement(symbol: str) -> None:
    shown = tipcode.display(_code_with_check(symbol))
    found = _CODE.search(ack_new_tip(shown))
    assert found is not None and found.group(1) == shown
