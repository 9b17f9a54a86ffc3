"""How Vietnamese a text looks: which words are well-formed Vietnamese syllables, and what share of a text is."""

from __future__ import annotations

import re
from functools import lru_cache

from lgsp.connectors.encodings.fonts import BASES, TONES, toned

_SPLIT_TONE = {letter: (base, tone) for base in BASES for letter, tone in zip(toned(base), TONES, strict=True)}
_ONSETS = ("ngh", "ng", "gh", "gi", "kh", "nh", "ph", "th", "tr", "ch", "qu", *"bcdđghklmnprstvx", "")
_CODAS = ("ch", "nh", "ng", *"cmnptk", "")
_OPEN = set(
    "ai ao au ay âu ây eo êu ia iu oi ôi ơi ua ui ưa ưi ưu uơ oai oao oay oeo uây uôi ươi ươu uya uyu iêu yêu y".split()
)
_BOTH = set("a e ê i o ô ơ u ư oa oe uê uy".split())
_CLOSED = set("ă â oă uâ iê yê uô ươ uyê oo".split())
_FRONT = ("e", "ê", "i", "y")
_ALPHABET = frozenset("abcdeghiklmnopqrstuvxyăâêôơưđ")  # toneless: f j w z are not Vietnamese
_CONSONANTS = frozenset("bcdđfghjklmnpqrstvwxz")
_FREQUENT = frozenset(
    "của và các tỉnh xã phường sở năm người đồng được có không trong những với cho một là theo đã về thành phố "
    "huyện quận thị số tổng việt ủy nhân dân hội đơn vị giá tiền ngày tháng cộng hòa hoà chủ nghĩa độc lập tự "
    "hạnh phúc trị tĩnh sơn bình quảng hà nội đà nẵng thôn bản ấp tổ phòng báo cáo kế hoạch tài chính giáo "
    "dục đào tạo tế giao thông vận tải nguyên môi trường công nghệ tin truyền học sinh điện lượng".split()
)
_WORDS = re.compile(r"[\s!-/:-@\[-`{-~“”‘’–—…•„‚‹›]+")


@lru_cache(maxsize=65536)
def is_vietnamese_word(word: str) -> bool:
    """Whether `word` is one well-formed Vietnamese syllable: onset, rhyme and at most one tone mark,
    spelled by the rules (k/gh/ngh before e ê i, c/g/ng elsewhere, only sắc or nặng on -c -ch -p -t)."""
    if not (word.islower() or word.isupper() or (word[0].isupper() and word[1:].islower()) or len(word) == 1):
        return False
    bases, tone = [], ""
    for char in word.lower():
        base, mark = _SPLIT_TONE.get(char, (char, ""))
        if mark and tone:
            return False
        tone = tone or mark
        bases.append(base)
    plain = "".join(bases)
    if not _ALPHABET.issuperset(plain):
        return False
    for onset in _ONSETS:
        if not plain.startswith(onset):
            continue
        for coda in _CODAS:
            nucleus = plain[len(onset) : len(plain) - len(coda)]
            if not nucleus or not plain.endswith(coda):
                continue
            glided = [nucleus, "u" + nucleus] if onset == "qu" else [nucleus]  # qu-ynh is q + uynh
            rhymes = [n for n in glided if n in _BOTH or (n in _OPEN and not coda) or (n in _CLOSED and coda)]
            if not rhymes:
                continue
            front = nucleus.startswith(_FRONT)
            if (
                (onset in ("k", "gh", "ngh") and not front)
                or (onset in ("c", "ng") and front)
                or (onset == "g" and nucleus[0] in "eê")
            ):
                continue
            if coda in ("ch", "nh") and rhymes[-1] not in ("a", "ê", "i", "oa", "uy", "uê"):
                continue
            if coda in ("c", "ch", "p", "t", "k") and tone and tone in TONES[:3]:
                continue
            return True
    return False


def score(text: str) -> tuple[float, int, int]:
    """(share of Vietnamese words, words weighed, frequent Vietnamese words) among the words of `text`
    that hold a non-ASCII letter; ASCII words and numbers read the same in every encoding."""
    weighed = valid = frequent = 0
    for word in _WORDS.split(text):
        if word.isascii() or any("0" <= c <= "9" for c in word) or _CONSONANTS.issuperset(word.lower()):
            continue  # the same in every reading, a number, or an abbreviation like QĐ, HĐND
        if not any(c.isalpha() for c in word):
            continue
        weighed += 1
        if is_vietnamese_word(word):
            valid += 1
            frequent += word.lower() in _FREQUENT
    return (valid / weighed if weighed else 0.0), weighed, frequent
