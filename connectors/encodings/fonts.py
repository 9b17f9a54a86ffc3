"""The legacy fonts' tables (TCVN3 of the ABC fonts, VNI Windows, Windows-1258): bytes to text and back."""

from __future__ import annotations

import re
import unicodedata

from lgsp.connectors.encodings.common import LEGACY, EncodingError, canonical

TONES = "\u0300\u0309\u0303\u0301\u0323"  # grave, hook above, tilde, acute, dot below: the tables' order
BASES = "aăâeêioôơuưy"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def toned(base: str) -> list[str]:
    return [nfc(base + tone) for tone in TONES]


# TCVN 5712:1993 VN3 (ABC fonts): the five toned lowercase forms of each vowel, in TONES order.
_TCVN3_TONED = (
    b"\xb5\xb6\xb7\xb8\xb9",  # a
    b"\xbb\xbc\xbd\xbe\xc6",  # ă
    b"\xc7\xc8\xc9\xca\xcb",  # â
    b"\xcc\xce\xcf\xd0\xd1",  # e
    b"\xd2\xd3\xd4\xd5\xd6",  # ê
    b"\xd7\xd8\xdc\xdd\xde",  # i
    b"\xdf\xe1\xe2\xe3\xe4",  # o
    b"\xe5\xe6\xe7\xe8\xe9",  # ô
    b"\xea\xeb\xec\xed\xee",  # ơ
    b"\xef\xf1\xf2\xf3\xf4",  # u
    b"\xf5\xf6\xf7\xf8\xf9",  # ư
    b"\xfa\xfb\xfc\xfd\xfe",  # y
)
_TCVN3_LETTERS = dict(zip("ĂÂÊÔƠƯĐăâêôơưđ", range(0xA1, 0xAF), strict=True))
# The VN1 capitals that sit where VN3 has no letter (decoded only: ABC software never wrote them).
_TCVN_VN1_CAPITALS = {
    "Ă": b"\xaf\xba\xbf\xc0",
    "Â": b"\xc1\xc2\xc3\xc4",
    "Ê": b"\xc5\xcd\xd9\xda",
    "Ô": b"\xdb\xe0\xf0\xff",
}

_CP1252_PUNCTUATION = {bytes([b]).decode("cp1252", "replace"): bytes([b]) for b in range(0x80, 0xA0)}
_CP1252_PUNCTUATION.pop("\ufffd")  # 0x81 0x8D 0x8F 0x90 0x9D: not defined

_TCVN3_ENCODE: dict[str, bytes] = {chr(b): bytes([b]) for b in range(0x80)} | _CP1252_PUNCTUATION | {"\xa0": b"\xa0"}
_TCVN3_ENCODE |= {letter: bytes([b]) for letter, b in _TCVN3_LETTERS.items()}
_TCVN3_DECODE: dict[int, str] = {b: bytes([b]).decode("cp1252", "replace") for b in range(0x80, 0xA0)} | {0xA0: "\xa0"}
_TCVN3_DECODE |= {b: letter for letter, b in _TCVN3_LETTERS.items()} | dict(
    zip(b"\xb0\xb1\xb2\xb3\xb4", TONES, strict=True)
)
for _base, _codes in zip(BASES, _TCVN3_TONED, strict=True):
    for _letter, _code in zip(toned(_base), _codes, strict=True):
        _TCVN3_ENCODE[_letter] = _TCVN3_ENCODE[_letter.upper()] = bytes([_code])  # .VnTimeH: lowercase code
        _TCVN3_DECODE[_code] = _letter
_TCVN3_SCORING = _TCVN3_DECODE | {code: "\ufffd" for codes in _TCVN_VN1_CAPITALS.values() for code in codes}
for _capital, _codes in _TCVN_VN1_CAPITALS.items():
    _TCVN3_DECODE |= dict(zip(_codes, toned(_capital), strict=False))
_TONED_LOWER = frozenset(letter for base in BASES for letter in toned(base))

# VNI Windows: a base letter followed by one mark byte (shown here as Windows-1252 characters).
_VNI_MARKS = {
    "": "øûõùï",  # tone on a, e, o, u, y, ơ, ư
    "^": "àåãáä",  # circumflex and tone on a, e, o
    "(": "èúüéë",  # breve and tone on a
}
_VNI_ENCODE: dict[str, str] = {"â": "aâ", "ê": "eâ", "ô": "oâ", "ă": "aê", "ơ": "ô", "ư": "ö", "đ": "ñ"}
for _base, _vni, _kind in (
    *((b, b, "") for b in "aeouy"),
    ("ơ", "ô", ""),
    ("ư", "ö", ""),
    *((nfc(b + "\u0302"), b, "^") for b in "aeo"),
    ("ă", "a", "("),
):
    _VNI_ENCODE |= {letter: _vni + mark for letter, mark in zip(toned(_base), _VNI_MARKS[_kind], strict=True)}
_VNI_ENCODE |= dict(zip(toned("i"), "ìæóíò", strict=True)) | {"ỵ": "î"}  # i and ỵ are single bytes
_VNI_ENCODE |= {letter.upper(): vni.upper() for letter, vni in _VNI_ENCODE.items()}
_VNI_SINGLES = {vni: letter for letter, vni in _VNI_ENCODE.items() if len(vni) == 1}
_VNI_PAIRS = {vni: letter for letter, vni in _VNI_ENCODE.items() if len(vni) == 2 and vni.islower()} | {"yï": "ỵ"}
_VNI_MARK_CHARS = "âê" + "".join(_VNI_MARKS.values())
_VNI_MARK_CHARS += _VNI_MARK_CHARS.upper()
_VNI_TOKEN = re.compile(f"([aeouyôöAEOUYÔÖ]?)([{_VNI_MARK_CHARS}])|([{''.join(_VNI_SINGLES)}])")

# --- reading -----------------------------------------------------------------------------------


def _restore_capitals(text: str) -> str:
    """Upper-case the lowercase-only TCVN3 letters of words typed in capitals: a run of words with no
    lowercase letter that has capitals on both sides of such a letter ("CéNG HßA X·" → "CỘNG HÒA XÃ").
    A run is broken by a lowercase word, a field separator or a new line; "UBND x·" stays "UBND xã"."""
    if _TONED_LOWER.isdisjoint(text):
        return text
    parts = re.split(r'([\n\r\t,;|"]|[^\S\n\r\t]+)', text)  # word, separator, word, ...
    run: list[int] = []
    strong = False
    for i, part in enumerate([*parts, "\n"]):
        letters = [c for c in part if c.isalpha()]
        upper = sum(c.isupper() for c in letters)
        if i % 2 == 0 and letters and upper and not any(c.islower() and c not in _TONED_LOWER for c in letters):
            run.append(i)
            strong = strong or (upper >= 2 and not _TONED_LOWER.isdisjoint(part))
        elif (i % 2 == 1 and not part.isspace()) or "\n" in part or (i % 2 == 0 and letters):
            for j in run if strong else ():
                parts[j] = parts[j].upper()
            run, strong = [], False
    return "".join(parts)


def _read_vni(text: str, orphan: str | None = None) -> tuple[str, int]:
    """VNI text (as Windows-1252 shows it) to Unicode; a mark byte after a letter that cannot take
    it is kept as is (or replaced by `orphan`) and counted."""
    orphans = 0

    def letter(match: re.Match[str]) -> str:
        nonlocal orphans
        base, mark, single = match.groups()
        if single:
            return _VNI_SINGLES[single]
        found = _VNI_PAIRS.get((base + mark).lower()) if base else None
        if found:
            return found.upper() if base.isupper() else found
        orphans += 1
        return base + (mark if orphan is None else orphan)

    return _VNI_TOKEN.sub(letter, text), orphans


def read_legacy(data: bytes, encoding: str, *, scoring: bool = False) -> tuple[str, int]:
    """(NFC text, count of bytes the encoding does not define or cannot place) for a legacy reading."""
    if encoding == "tcvn3":
        text = data.decode("latin-1").translate(_TCVN3_SCORING if scoring else _TCVN3_DECODE)
        return _restore_capitals(nfc(text)), text.count("\ufffd")
    if encoding == "vni":
        text = data.decode("cp1252", "replace")
        undefined = text.count("\ufffd")
        text, orphans = _read_vni(text, "\ufffd" if scoring else None)
        return nfc(text), undefined + (orphans if scoring else 0)
    text = data.decode("cp1258", "replace")
    return nfc(text), text.count("\ufffd")


def encode(text: str, encoding: str, errors: str = "strict") -> bytes:
    """`text` as bytes in `tcvn3`, `vni` or `windows-1258`, as the programs of the time wrote them
    (Windows-1258: precomposed where the code page has the letter, else letter + tone-mark byte).
    Other names are encoded by Python. Raises EncodingError for a character the encoding lacks
    unless `errors="replace"` (then "?")."""
    name = canonical(encoding)
    text = nfc(text)
    if name not in LEGACY:
        return text.encode(name, errors)
    out = bytearray()
    for position, char in enumerate(text):
        piece = _encode_char(char, name)
        if piece is None:
            if errors != "replace":
                raise EncodingError(f"{name} has no code for {char!r} (U+{ord(char):04X}) at character {position}")
            piece = b"?"
        out += piece
    return bytes(out)


def _encode_char(char: str, name: str) -> bytes | None:
    if name == "tcvn3":
        return _TCVN3_ENCODE.get(char)
    if name == "vni":
        if char in _VNI_ENCODE:
            return _VNI_ENCODE[char].encode("cp1252")
        other = char < "\x80" or char in _CP1252_PUNCTUATION or "\xa0" <= char < "\xc0"  # VNI uses 0xC0-0xFF
        return char.encode("cp1252") if other else None
    try:
        return char.encode("cp1258")
    except UnicodeEncodeError:
        parts = unicodedata.normalize("NFD", char)
        tone = "".join(c for c in parts if c in TONES)
        base = nfc("".join(c for c in parts if c not in TONES))
        try:
            return (base + tone).encode("cp1258") if len(tone) == 1 and base != char else None
        except UnicodeEncodeError:
            return None
