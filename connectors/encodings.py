"""Vietnamese text in the encodings departments still send, read as Unicode NFC.

Old systems, and Excel sheets typed with the ABC (.VnTime, TCVN3) or VNI (VNI-Times) fonts, still
deliver bytes that are not Unicode, and Unicode files arrive decomposed (NFD) as well as composed.
`decode` turns a file's bytes into NFC text: UTF-8/UTF-16 when the bytes are, else the reading
(Windows-1258, TCVN3 or VNI) that looks most like Vietnamese; it refuses to guess when none does.
`fix_text` repairs a cell that holds TCVN3/VNI text shown as Windows-1252 ("Tæng sè" is "Tổng số").
`encode` writes text the way those systems did, for tests and the sandbox.

TCVN3 capitals: the ABC fonts (TCVN 5712:1993 table VN3) have codes for the capitals Ă Â Ê Ô Ơ Ư Đ
only; a capital with a tone mark was typed with the lowercase code and shown as a capital by a
".VnTimeH" font. So `encode(..., "tcvn3")` writes the lowercase code, and reading restores capitals in
a field typed in capitals ("CéNG HßA" → "CỘNG HÒA") and keeps lowercase elsewhere ("Êp" → "ấp",
not "Ấp"). Bytes 0x80-0x9F read as Windows-1252 punctuation (what ABC files hold there); the VN1
capitals in 0xA1-0xFF that VN3 leaves free (0xC4 "Ấ", ...) and the combining marks 0xB0-0xB4 are read.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lgsp.connectors.errors import ConnectorError

LEGACY = ("tcvn3", "vni", "windows-1258")  # the order breaks ties: ABC files are the most common
ACCEPT = 0.7  # share of Vietnamese words a reading needs to be believed
REPAIR = 0.8  # ... and a repaired cell, which must also beat the cell as it is by REPAIR_GAIN
REPAIR_GAIN = 0.25
MIN_WORDS = 3  # fewer words with non-ASCII letters than this tell the encodings apart only weakly
SAMPLE_BYTES = 256 * 1024  # detection reads lines with non-ASCII bytes up to this much

_ALIASES = {
    **dict.fromkeys(("utf-8", "utf8", "utf-8-sig"), "utf-8"),
    **dict.fromkeys(("utf-16", "utf16"), "utf-16"),
    **dict.fromkeys(("windows-1258", "cp1258", "1258", "win-1258"), "windows-1258"),
    **dict.fromkeys(("tcvn3", "tcvn", "tcvn-3", "tcvn5712", "tcvn-5712", "abc", "vn3", ".vntime", "vntime"), "tcvn3"),
    **dict.fromkeys(("vni", "vni-windows", "vni-win", "vni-times"), "vni"),
    **dict.fromkeys(("ascii", "us-ascii"), "ascii"),
}


class EncodingError(ConnectorError, ValueError):
    """Bytes that cannot be read as the declared encoding, or as any encoding with confidence.

    `scores` holds each reading tried and how Vietnamese it looked (0..1), best first."""

    def __init__(self, message: str, *, scores: tuple[tuple[str, float], ...] = (), **where: Any) -> None:
        super().__init__(message, **where)
        self.scores = scores


@dataclass(frozen=True)
class Decoded:
    """Text read from bytes. `encoding` is what the bytes were (`utf-8`, `utf-16`, `windows-1258`,
    `tcvn3`, `vni`, `ascii`); `confidence` the share of Vietnamese words of that reading (1.0 for
    Unicode and ASCII); `scores` every legacy reading tried, best first; `repaired_from` the legacy
    font encoding when Unicode bytes held TCVN3/VNI text shown as Windows-1252."""

    text: str
    encoding: str
    confidence: float = 1.0
    scores: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()
    repaired_from: str | None = None


# --- the tables --------------------------------------------------------------------------------
_TONES = "\u0300\u0309\u0303\u0301\u0323"  # grave, hook above, tilde, acute, dot below: the tables' order
_BASES = "aăâeêioôơuưy"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _toned(base: str) -> list[str]:
    return [_nfc(base + tone) for tone in _TONES]


# TCVN 5712:1993 VN3 (ABC fonts): the five toned lowercase forms of each vowel, in _TONES order.
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
    zip(b"\xb0\xb1\xb2\xb3\xb4", _TONES, strict=True)
)
for _base, _codes in zip(_BASES, _TCVN3_TONED, strict=True):
    for _letter, _code in zip(_toned(_base), _codes, strict=True):
        _TCVN3_ENCODE[_letter] = _TCVN3_ENCODE[_letter.upper()] = bytes([_code])  # .VnTimeH: lowercase code
        _TCVN3_DECODE[_code] = _letter
_TCVN3_SCORING = _TCVN3_DECODE | {code: "\ufffd" for codes in _TCVN_VN1_CAPITALS.values() for code in codes}
for _capital, _codes in _TCVN_VN1_CAPITALS.items():
    _TCVN3_DECODE |= dict(zip(_codes, _toned(_capital), strict=False))
_TONED_LOWER = frozenset(letter for base in _BASES for letter in _toned(base))

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
    *((_nfc(b + "\u0302"), b, "^") for b in "aeo"),
    ("ă", "a", "("),
):
    _VNI_ENCODE |= {letter: _vni + mark for letter, mark in zip(_toned(_base), _VNI_MARKS[_kind], strict=True)}
_VNI_ENCODE |= dict(zip(_toned("i"), "ìæóíò", strict=True)) | {"ỵ": "î"}  # i and ỵ are single bytes
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


def _read(data: bytes, encoding: str, *, scoring: bool = False) -> tuple[str, int]:
    """(NFC text, count of bytes the encoding does not define or cannot place) for a legacy reading."""
    if encoding == "tcvn3":
        text = data.decode("latin-1").translate(_TCVN3_SCORING if scoring else _TCVN3_DECODE)
        return _restore_capitals(_nfc(text)), text.count("\ufffd")
    if encoding == "vni":
        text = data.decode("cp1252", "replace")
        undefined = text.count("\ufffd")
        text, orphans = _read_vni(text, "\ufffd" if scoring else None)
        return _nfc(text), undefined + (orphans if scoring else 0)
    text = data.decode("cp1258", "replace")
    return _nfc(text), text.count("\ufffd")


# --- how Vietnamese a text looks ---------------------------------------------------------------
_SPLIT_TONE = {letter: (base, tone) for base in _BASES for letter, tone in zip(_toned(base), _TONES, strict=True)}
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
            if coda in ("c", "ch", "p", "t", "k") and tone and tone in _TONES[:3]:
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


def _sample(data: bytes) -> bytes:
    """The file, or its lines with non-ASCII bytes up to SAMPLE_BYTES when it is larger."""
    if len(data) <= SAMPLE_BYTES:
        return data
    lines, size = [], 0
    for match in re.finditer(rb"[^\n]*[\x80-\xff][^\n]*", data):
        lines.append(match.group())
        size += len(lines[-1])
        if size >= SAMPLE_BYTES:
            break
    return b"\n".join(lines)


def _rank(sample: bytes) -> list[tuple[str, float, int, int]]:
    """(encoding, score, frequent words, words weighed) for each legacy reading, best first."""
    ranked = []
    for encoding in LEGACY:
        share, weighed, frequent = score(_read(sample, encoding, scoring=True)[0])  # bad bytes: invalid words
        ranked.append((encoding, round(share, 3), frequent, weighed))
    return sorted(ranked, key=lambda r: (r[1], r[2], -LEGACY.index(r[0])), reverse=True)


def _scores(ranked: list[tuple[str, float, int, int]]) -> tuple[tuple[str, float], ...]:
    return tuple((r[0], r[1]) for r in ranked)


def _listed(ranked: list[tuple[str, float, int, int]]) -> str:
    return ", ".join(f"{r[0]} {r[1]:.2f}" for r in ranked)


# --- the public surface ------------------------------------------------------------------------


def canonical(encoding: str) -> str:
    """The hub's name for an encoding a contract may declare (`TCVN3`, `cp1258`, `VNI-Windows`, ...);
    other names Python knows pass through as Python's name. Raises EncodingError for unknown names."""
    name = encoding.strip().lower().replace("_", "-")
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise EncodingError(
            f"unknown encoding '{encoding}'; use one of {', '.join(sorted(set(_ALIASES.values())))}"
        ) from None


def decode(data: bytes, declared: str | None = None) -> Decoded:
    """Read a file's bytes as NFC text, in the `declared` encoding (checked) or the detected one.

    Raises EncodingError when the bytes cannot be the declared encoding, or look more like another
    one, or (detecting) are neither UTF-8 nor any legacy encoding that reads as Vietnamese."""
    if declared is not None:
        return _decode_declared(data, canonical(declared))
    if data.startswith(codecs.BOM_UTF8):
        return _unicode(data, "utf-8-sig", "utf-8", ("UTF-8 byte-order mark removed",))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _unicode(data, "utf-16", "utf-16", ())
    if data.isascii():
        return Decoded(data.decode("ascii"), "ascii")
    _refuse_binary(data)
    try:
        return _unicode(data, "utf-8", "utf-8", ())
    except EncodingError:
        pass
    ranked = _rank(_sample(data))
    best, share, _, weighed = ranked[0]
    if share < ACCEPT:
        raise EncodingError(
            f"the bytes are not UTF-8 and read as Vietnamese in no legacy encoding ({_listed(ranked)}); "
            "if the file is right, declare its `encoding:` in the contract",
            scores=_scores(ranked),
        )
    if weighed < MIN_WORDS and ranked[1][1] == share:
        raise EncodingError(
            f"too few words to tell {best} from {ranked[1][0]} ({_listed(ranked)}): declare the encoding",
            scores=_scores(ranked),
        )
    notes = [f"detected {best} from {weighed} words ({_listed(ranked)})"]
    if weighed < MIN_WORDS or share - ranked[1][1] < 0.1:
        notes.append("little evidence: declare the encoding in the contract to be sure")
    text, bad = _read(data, best)
    notes += [f"{bad} bytes are not defined in {best} and were replaced"] if bad else []
    return Decoded(text, best, share, _scores(ranked), tuple(notes))


def _refuse_binary(data: bytes) -> None:
    controls = sum(data.count(bytes([b])) for b in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20)))
    if b"\x00" in data or controls > len(data) // 20:
        raise EncodingError("the bytes hold NUL or control bytes: a binary file, not text")


def _unicode(data: bytes, codec: str, name: str, notes: tuple[str, ...]) -> Decoded:
    try:
        raw = data.decode(codec)
    except UnicodeDecodeError as error:
        raise EncodingError(f"not valid {name}: {error.reason} at byte {error.start}") from None
    text = _nfc(raw)
    if text != raw:
        notes += ("decomposed (NFD) characters composed to NFC",)
    legacy = None if text.isascii() else _mojibake(_sample(text.encode()).decode())
    legacy_bytes = _as_windows_1252(text) if legacy else None
    if legacy and legacy_bytes is not None:
        notes += (f"the text was typed in {legacy} (a .VnTime/VNI font) and saved as Unicode: repaired",)
        return Decoded(_read(legacy_bytes, legacy)[0], name, 1.0, (), notes, legacy)
    return Decoded(text, name, 1.0, (), notes)


def _decode_declared(data: bytes, name: str) -> Decoded:
    if name in ("utf-8", "utf-16", "ascii"):
        try:
            return _unicode(data, "utf-8-sig" if name == "utf-8" else name, name, ())
        except EncodingError as error:
            hint = ""
            if not data.isascii() and b"\x00" not in data:
                best, share, *_ = _rank(_sample(data))[0]
                hint = f"; it reads as Vietnamese in {best} ({share:.2f})" if share >= ACCEPT else ""
            raise EncodingError(f"declared {name} but {error.message}{hint}") from None
    if name not in LEGACY:
        try:
            return Decoded(_nfc(data.decode(name)), name)
        except UnicodeDecodeError as error:
            raise EncodingError(f"declared {name} but byte {error.start} cannot be read: {error.reason}") from None
    _refuse_binary(data)
    text, undefined = _read(data, name)
    if data.isascii():
        return Decoded(text, name, 1.0, (), ("all bytes are ASCII",))
    sample = _sample(data)
    ranked = _rank(sample)
    mine, weighed = next((r[1], r[3]) for r in ranked if r[0] == name)
    others = [(r[0], r[1]) for r in ranked if r[0] != name]
    try:
        others.append(("utf-8", score(_nfc(sample.decode("utf-8")))[0]))
    except UnicodeDecodeError:
        pass
    other, share = max(others, key=lambda o: o[1])
    elsewhere = share >= ACCEPT and share - mine >= 0.2
    if undefined or (mine < ACCEPT and elsewhere and weighed >= MIN_WORDS):
        why = f"{undefined} bytes are not defined in {name}" if undefined else f"the text is not Vietnamese in {name}"
        hint = f"; the bytes read as Vietnamese in {other} ({share:.2f}), not in {name} ({mine:.2f})"
        tried = tuple(sorted(((name, mine), *others), key=lambda t: -t[1]))
        raise EncodingError(f"declared {name} but {why}{hint if elsewhere else ''}", scores=tried)
    notes = () if mine >= ACCEPT else (f"the text does not look Vietnamese in {name} ({mine:.2f})",)
    return Decoded(text, name, mine, _scores(ranked), notes)


def _as_windows_1252(value: str) -> bytes | None:
    """The bytes a legacy font's text had before it was shown as `value` (Windows-1252 characters, or
    Latin-1 C1 controls for bytes 0x80-0x9F), or None when `value` holds other characters."""
    out = bytearray()
    for char in value:
        try:
            out += bytes([ord(char)]) if "\x80" <= char <= "\x9f" else char.encode("cp1252")
        except UnicodeEncodeError:
            return None
    return bytes(out)


def _mojibake(text: str, encoding: str | None = None) -> str | None:
    """The legacy encoding (tcvn3, vni) whose text `text` is, shown as Windows-1252; None if it is not."""
    data = None if text.isascii() else _as_windows_1252(text)
    if data is None:
        return None
    now, weighed, _ = score(text)
    if not weighed or (now == 1.0 and encoding is None):
        return None
    if encoding:
        if canonical(encoding) not in ("tcvn3", "vni"):
            raise EncodingError(f"cells can be repaired from tcvn3 or vni, not {encoding}")
        share = score(_read(data, canonical(encoding), scoring=True)[0])[0]
        return canonical(encoding) if share >= now and share > 0 else None
    shares = sorted(((score(_read(data, c, scoring=True)[0])[0], c) for c in ("tcvn3", "vni")), reverse=True)
    (best, candidate), (second, _) = shares
    return candidate if best >= REPAIR and best - now >= REPAIR_GAIN and best > second else None


def fix_text(value: str, encoding: str | None = None) -> tuple[str, str | None]:
    """(NFC text, legacy encoding repaired or None) for a cell already decoded as Unicode.

    A cell is repaired only when it is Windows-1252 characters that read clearly better as TCVN3 or
    VNI ("Tæng sè" → "Tổng số"); correct Vietnamese, English and "café" stay as they are. With
    `encoding` (the one the other cells of the sheet were in, see `fix_cells`) a cell is repaired
    unless that makes it look less Vietnamese, so short cells like "sè" are repaired too."""
    text = _nfc(value)
    legacy = _mojibake(text, encoding)
    data = _as_windows_1252(text) if legacy else None
    return (_read(data, legacy)[0], legacy) if legacy and data is not None else (text, None)


def fix_cells(values: Iterable[str]) -> tuple[list[str], str | None]:
    """Repair a column or sheet of cells: the legacy encoding most cells clearly were is then applied
    to the short, ambiguous cells too, unless as many cells hold Unicode Vietnamese that Windows-1252
    cannot show (then the sheet is Unicode and only clear cases were repaired)."""
    cells = [_nfc(v) for v in values]
    found = Counter(legacy for _, legacy in map(fix_text, cells) if legacy)
    unicode_cells = sum(not c.isascii() and _as_windows_1252(c) is None for c in cells)
    if not found or found.most_common(1)[0][1] <= unicode_cells:
        return [fix_text(c)[0] for c in cells], None
    legacy = found.most_common(1)[0][0]
    return [fix_text(c, legacy)[0] for c in cells], legacy


def encode(text: str, encoding: str, errors: str = "strict") -> bytes:
    """`text` as bytes in `tcvn3`, `vni` or `windows-1258`, as the programs of the time wrote them
    (Windows-1258: precomposed where the code page has the letter, else letter + tone-mark byte).
    Other names are encoded by Python. Raises EncodingError for a character the encoding lacks
    unless `errors="replace"` (then "?")."""
    name = canonical(encoding)
    text = _nfc(text)
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
        tone = "".join(c for c in parts if c in _TONES)
        base = _nfc("".join(c for c in parts if c not in _TONES))
        try:
            return (base + tone).encode("cp1258") if len(tone) == 1 and base != char else None
        except UnicodeEncodeError:
            return None
