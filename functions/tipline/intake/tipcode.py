"""Tip codes for humans: Crockford base32, 45 random bits, one check character.

Shown as ``ABCDE-FGHJK`` where the last character is the
Crockford mod-37 check symbol over the nine data characters. Citizens may type it in any case,
with or without the dash, and with I/L for 1 and O for 0.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ALPHABET = ALPHABET + "*~$=U"
DATA_CHARS = 9  # 45 random bits
_NORMALISE = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _value(data: str) -> int:
    number = 0
    for char in data:
        number = number * 32 + ALPHABET.index(char)
    return number


def check_symbol(data: str) -> str:
    return CHECK_ALPHABET[_value(data) % 37]


def new_code() -> str:
    data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_CHARS))
    return data + check_symbol(data)


def display(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def normalise(text: str) -> str | None:
    """The canonical code in ``text`` if it is a well-formed code with a valid check symbol."""
    compact = re.sub(r"[\s-]", "", text.strip().upper()).translate(_NORMALISE)
    if len(compact) != DATA_CHARS + 1:
        return None
    data, check = compact[:DATA_CHARS], compact[DATA_CHARS]
    if any(char not in ALPHABET for char in data) or check not in CHECK_ALPHABET:
        return None
    return compact if check_symbol(data) == check else None
