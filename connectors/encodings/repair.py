"""Cells that hold TCVN3 or VNI text shown as Windows-1252 ('Tæng sè' is 'Tổng số'), repaired."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from lgsp.connectors.encodings.common import REPAIR, REPAIR_GAIN, EncodingError, canonical
from lgsp.connectors.encodings.fonts import nfc, read_legacy
from lgsp.connectors.encodings.words import score


def as_windows_1252(value: str) -> bytes | None:
    """The bytes a legacy font's text had before it was shown as `value` (Windows-1252 characters, or
    Latin-1 C1 controls for bytes 0x80-0x9F), or None when `value` holds other characters."""
    out = bytearray()
    for char in value:
        try:
            out += bytes([ord(char)]) if "\x80" <= char <= "\x9f" else char.encode("cp1252")
        except UnicodeEncodeError:
            return None
    return bytes(out)


def mojibake(text: str, encoding: str | None = None) -> str | None:
    """The legacy encoding (tcvn3, vni) whose text `text` is, shown as Windows-1252; None if it is not."""
    data = None if text.isascii() else as_windows_1252(text)
    if data is None:
        return None
    now, weighed, _ = score(text)
    if not weighed or (now == 1.0 and encoding is None):
        return None
    if encoding:
        if canonical(encoding) not in ("tcvn3", "vni"):
            raise EncodingError(f"cells can be repaired from tcvn3 or vni, not {encoding}")
        share = score(read_legacy(data, canonical(encoding), scoring=True)[0])[0]
        return canonical(encoding) if share >= now and share > 0 else None
    shares = sorted(((score(read_legacy(data, c, scoring=True)[0])[0], c) for c in ("tcvn3", "vni")), reverse=True)
    (best, candidate), (second, _) = shares
    return candidate if best >= REPAIR and best - now >= REPAIR_GAIN and best > second else None


def fix_text(value: str, encoding: str | None = None) -> tuple[str, str | None]:
    """(NFC text, legacy encoding repaired or None) for a cell already decoded as Unicode.

    A cell is repaired only when it is Windows-1252 characters that read clearly better as TCVN3 or
    VNI ("Tæng sè" → "Tổng số"); correct Vietnamese, English and "café" stay as they are. With
    `encoding` (the one the other cells of the sheet were in, see `fix_cells`) a cell is repaired
    unless that makes it look less Vietnamese, so short cells like "sè" are repaired too."""
    text = nfc(value)
    legacy = mojibake(text, encoding)
    data = as_windows_1252(text) if legacy else None
    return (read_legacy(data, legacy)[0], legacy) if legacy and data is not None else (text, None)


def fix_cells(values: Iterable[str]) -> tuple[list[str], str | None]:
    """Repair a column or sheet of cells: the legacy encoding most cells clearly were is then applied
    to the short, ambiguous cells too, unless as many cells hold Unicode Vietnamese that Windows-1252
    cannot show (then the sheet is Unicode and only clear cases were repaired)."""
    cells = [nfc(v) for v in values]
    found = Counter(legacy for _, legacy in map(fix_text, cells) if legacy)
    unicode_cells = sum(not c.isascii() and as_windows_1252(c) is None for c in cells)
    if not found or found.most_common(1)[0][1] <= unicode_cells:
        return [fix_text(c)[0] for c in cells], None
    legacy = found.most_common(1)[0][0]
    return [fix_text(c, legacy)[0] for c in cells], legacy
