"""Vietnamese names reduced the way people retype them, for building dirty data.

The sandbox's own small copy (it imports nothing from the hub): 'X. Hải Thượng' and 'Xã Hải Thượng'
are one unit's name, so a legacy name is only used when it says which unit it was.
"""

from __future__ import annotations

import re
import unicodedata

_TYPES = ("thanh pho trung uong", "thanh pho", "thi tran", "thi xa", "dac khu", "phuong", "huyen", "quan", "tinh", "xa")
_ABBREVIATIONS = {
    "p": "phuong",
    "x": "xa",
    "tt": "thi tran",
    "tx": "thi xa",
    "tp": "thanh pho",
    "h": "huyen",
    "q": "quan",
}


def without_diacritics(text: str) -> str:
    """'Hải Thượng' → 'Hai Thuong': how people type when their keyboard won't."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_key(name: str) -> str:
    """A unit name without case, diacritics, punctuation or its type word: 'X. Hải Thượng' → 'hai thuong'."""
    words = " ".join(re.findall(r"[0-9a-z]+", without_diacritics(name).casefold()))
    head, _, rest = words.partition(" ")
    if head in _ABBREVIATIONS and rest:
        words = f"{_ABBREVIATIONS[head]} {rest}"
    for kind in _TYPES:
        if words.startswith(kind + " "):
            rest = words[len(kind) + 1 :]
            return words if rest.isdigit() else rest
    return words
