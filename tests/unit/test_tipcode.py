"""Tip codes: unguessable, unambiguous, self-checking."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from tipline.intake import tipcode


def test_a_code_carries_at_least_40_random_bits_and_a_check_symbol() -> None:
    assert math.log2(len(tipcode.ALPHABET)) * tipcode.DATA_CHARS >= 40
    code = tipcode.new_code()
    assert len(code) == tipcode.DATA_CHARS + 1
    assert tipcode.check_symbol(code[:-1]) == code[-1]


def test_codes_do_not_repeat_in_practice() -> None:
    codes = {tipcode.new_code() for _ in range(20_000)}
    assert len(codes) == 20_000


def test_citizens_can_type_it_loosely() -> None:
    code = tipcode.new_code()
    shown = tipcode.display(code)
    assert "-" in shown
    assert tipcode.normalise(shown.lower()) == code
    assert tipcode.normalise(" " + shown.replace("-", " ") + " ") == code
    assert tipcode.normalise(shown.replace("1", "I").replace("0", "O")) == code


@given(
    st.text(alphabet=tipcode.ALPHABET, min_size=9, max_size=9),
    st.integers(0, 8),
    st.sampled_from(tipcode.ALPHABET),
)
def test_any_single_substitution_is_caught(data: str, position: int, replacement: str) -> None:
    code = data + tipcode.check_symbol(data)
    typo = code[:position] + replacement + code[position + 1 :]
    if typo != code:
        assert tipcode.normalise(typo) is None


def test_ordinary_text_is_not_a_code() -> None:
    for text in ("xin chào", "29A-12345", "0912345678", "", "cháy nhà"):
        assert tipcode.normalise(text) is None
