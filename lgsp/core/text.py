"""Vietnamese text as people type it: with or without diacritics, in any case and punctuation.

Shared by the file drops (headers), administrative-unit matching and the portal's search.
"""

from __future__ import annotations

import re
import unicodedata


def without_diacritics(text: str) -> str:
    """'Hải Thượng, Đông Hà' → 'Hai Thuong, Dong Ha': how people type when their keyboard won't."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def plain_words(text: str) -> str:
    """Lower-case words without diacritics or punctuation: 'GIÁ TRỊ:' → 'gia tri'."""
    return " ".join(re.findall(r"[0-9a-z]+", without_diacritics(text).casefold()))
