"""Vietnamese text as the font-encoded programs of the 1990s–2000s wrote it: TCVN3 (ABC), VNI
Windows, and Windows-1258.

The sandbox keeps its own tables, written out from the standards, rather than borrow the hub's
decoder: a mistake shared by both would make every round-trip test pass and prove nothing.
"""

from __future__ import annotations

import unicodedata

# TCVN 5712:1993 VN3: each lower-case letter and its byte. The ABC capitals font (.VnTimeH) shows
# the same bytes as capitals, so a toned capital is written with its lower-case byte.
_TCVN3_LETTERS = "ăâêôơưđàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
_TCVN3_BYTES = bytes.fromhex(
    "a8a9aaabacadae"
    "b5b6b7b8b9"
    "bbbcbdbec6"
    "c7c8c9cacb"
    "cccecfd0d1"
    "d2d3d4d5d6"
    "d7d8dcddde"
    "dfe1e2e3e4"
    "e5e6e7e8e9"
    "eaebecedee"
    "eff1f2f3f4"
    "f5f6f7f8f9"
    "fafbfcfdfe"
)
_TCVN3 = dict(zip(_TCVN3_LETTERS, _TCVN3_BYTES, strict=True))
_TCVN3 |= {letter.upper(): code for letter, code in _TCVN3.items() if letter not in "ăâêôơưđ"}
_TCVN3 |= dict(zip("ĂÂÊÔƠƯĐ", bytes.fromhex("a1a2a3a4a5a6a7"), strict=True))

# VNI Windows: a base letter and a mark byte, written here as the Windows-1252 characters shown.
_VNI_LETTERS = "âêôăơưđàảãáạèẻẽéẹòỏõóọùủũúụỳỷỹýỵờởỡớợừửữứựầẩẫấậềểễếệồổỗốộằẳẵắặìỉĩíị"
_VNI_SPELLINGS = (
    "aâ eâ oâ aê ô ö ñ aø aû aõ aù aï eø eû eõ eù eï oø oû oõ où oï uø uû uõ uù uï yø yû yõ yù î "
    "ôø ôû ôõ ôù ôï öø öû öõ öù öï aà aå aã aá aä eà eå eã eá eä oà oå oã oá oä aè aú aü aé aë ì æ ó í ò"
).split()
_VNI = dict(zip(_VNI_LETTERS, _VNI_SPELLINGS, strict=True))
_VNI |= {letter.upper(): spelling.upper() for letter, spelling in _VNI.items()}

_TONE_MARKS = "\u0300\u0309\u0303\u0301\u0323"  # grave, hook above, tilde, acute, dot below
_CP1252_HIGH = {bytes([b]).decode("cp1252", "replace"): bytes([b]) for b in range(0x80, 0xA0)}
_CP1252_HIGH.pop("\ufffd")


def encode(text: str, encoding: str) -> bytes:
    """`text` in `tcvn3`, `vni` or `windows-1258` (precomposed where the code page has the letter,
    else letter + tone-mark byte, as Windows wrote it); other encodings by Python's codecs.
    Raises ValueError for a character the encoding lacks."""
    text = unicodedata.normalize("NFC", text)
    name = encoding.lower().replace("_", "-")
    if name not in ("tcvn3", "vni", "windows-1258", "cp1258"):
        return text.encode(encoding)
    out = bytearray()
    for char in text:
        out += _char(char, name)
    return bytes(out)


def _char(char: str, name: str) -> bytes:
    if char < "\x80":
        return char.encode("ascii")
    if name == "tcvn3":
        if char in _TCVN3:
            return bytes([_TCVN3[char]])
        if char in _CP1252_HIGH or char == "\xa0":
            return _CP1252_HIGH.get(char, b"\xa0")
    elif name == "vni":
        if char in _VNI:
            return _VNI[char].encode("cp1252")
        if char in _CP1252_HIGH or "\xa0" <= char < "\xc0":  # VNI's letters take 0xC0–0xFF
            return char.encode("cp1252")
    else:
        try:
            return char.encode("cp1258")
        except UnicodeEncodeError:  # the letter without its tone, then the tone's combining mark
            parts = unicodedata.normalize("NFD", char)
            tones = [c for c in parts if c in _TONE_MARKS]
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONE_MARKS))
            if len(tones) == 1 and base != char:
                try:
                    return (base + tones[0]).encode("cp1258")
                except UnicodeEncodeError:
                    pass
    raise ValueError(f"{name} has no code for {char!r} (U+{ord(char):04X})")
