"""Keyword rules on message text: menu sections, urgent reports, advisory opt-out/opt-in."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tipline.intake.texts import MENU_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, fold


def _whole(text: str, phrases: Iterable[str]) -> bool:
    folded = fold(text).strip(" .!?")
    return folded in {fold(p) for p in phrases}


def menu_section(text: str) -> str | None:
    """The menu section a message asks for, when the whole message is a menu keyword."""
    for section, phrases in MENU_KEYWORDS.items():
        if _whole(text, phrases):
            return section
    return None


def is_opt_out(text: str) -> bool:
    return _whole(text, OPT_OUT_KEYWORDS)


def is_opt_in(text: str) -> bool:
    return _whole(text, OPT_IN_KEYWORDS)


def is_urgent(text: str, keywords: Iterable[str]) -> bool:
    """True when a keyword occurs as whole words (so 'cháy' matches, 'cháy' inside another word does not)."""
    folded = fold(text)
    for keyword in keywords:
        pattern = r"(?<!\w)" + re.escape(fold(keyword)) + r"(?!\w)"
        if re.search(pattern, folded):
            return True
    return False
