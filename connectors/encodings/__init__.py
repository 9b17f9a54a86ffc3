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

from lgsp.connectors.encodings.common import ACCEPT, LEGACY, MIN_WORDS, SAMPLE_BYTES, Decoded, EncodingError, canonical
from lgsp.connectors.encodings.fonts import encode, nfc, read_legacy
from lgsp.connectors.encodings.repair import as_windows_1252, fix_cells, fix_text, mojibake
from lgsp.connectors.encodings.words import is_vietnamese_word, score

__all__ = [  # what the rest of the hub uses
    "SAMPLE_BYTES", "Decoded", "EncodingError", "canonical", "decode", "encode", "fix_cells", "fix_text",
    "is_vietnamese_word",
]  # fmt: skip


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
        share, weighed, frequent = score(read_legacy(sample, encoding, scoring=True)[0])  # bad bytes: invalid words
        ranked.append((encoding, round(share, 3), frequent, weighed))
    return sorted(ranked, key=lambda r: (r[1], r[2], -LEGACY.index(r[0])), reverse=True)


def _scores(ranked: list[tuple[str, float, int, int]]) -> tuple[tuple[str, float], ...]:
    return tuple((r[0], r[1]) for r in ranked)


def _listed(ranked: list[tuple[str, float, int, int]]) -> str:
    return ", ".join(f"{r[0]} {r[1]:.2f}" for r in ranked)


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
    text, bad = read_legacy(data, best)
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
    text = nfc(raw)
    if text != raw:
        notes += ("decomposed (NFD) characters composed to NFC",)
    legacy = None if text.isascii() else mojibake(_sample(text.encode()).decode())
    legacy_bytes = as_windows_1252(text) if legacy else None
    if legacy and legacy_bytes is not None:
        notes += (f"the text was typed in {legacy} (a .VnTime/VNI font) and saved as Unicode: repaired",)
        return Decoded(read_legacy(legacy_bytes, legacy)[0], name, 1.0, (), notes, legacy)
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
            return Decoded(nfc(data.decode(name)), name)
        except UnicodeDecodeError as error:
            raise EncodingError(f"declared {name} but byte {error.start} cannot be read: {error.reason}") from None
    _refuse_binary(data)
    text, undefined = read_legacy(data, name)
    if data.isascii():
        return Decoded(text, name, 1.0, (), ("all bytes are ASCII",))
    sample = _sample(data)
    ranked = _rank(sample)
    mine, weighed = next((r[1], r[3]) for r in ranked if r[0] == name)
    others = [(r[0], r[1]) for r in ranked if r[0] != name]
    try:
        others.append(("utf-8", score(nfc(sample.decode("utf-8")))[0]))
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
