"""Numbers and dates as Vietnamese departments write them, read without guessing silently.

`9.748` is nine thousand seven hundred forty-eight and `103,97` a decimal, yet the same report
prints `96,876` as a thousands group and `38.05 Mbps` as a decimal. A value whose reading depends
on the convention is marked ambiguous and resolved by the column's declared type and the other
values of the file (`resolve_column`); qualifiers (`hơn 2.000`) are kept apart, not lost.
(The file-drop connector of the national-API issue builds on this.)
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

QUALIFIERS = {  # longest first when matching
    "ước tính": "estimated",
    "ước": "estimated",
    "khoảng": "about",
    "gần": "nearly",
    "hơn": "more_than",
    "trên": "more_than",
    "dưới": "less_than",
    "tối thiểu": "at_least",
    "tối đa": "at_most",
}
PLACEHOLDERS = {"", "...", "…", "(blank)", "-", "--", "—", "n/a", "na", "x", "không có"}
_NUMBER = re.compile(r"^([+-]?)(\d[\d.,\s]*\d|\d)(.*)$")
_FRACTION = re.compile(r"^(\d+)\s*/\s*(\d+)$")


@dataclass(frozen=True)
class ParsedNumber:
    """A number read from text. `value` is the Vietnamese reading; `alternative` is the other
    reading when the text is ambiguous (e.g. `96,876`), else None."""

    text: str
    value: float | None
    qualifier: str | None = None
    unit: str | None = None
    alternative: float | None = None
    fraction: tuple[int, int] | None = None
    error: str | None = None
    typed: bool = False
    """Held as a number by a workbook, not written: it says nothing of how the file writes numbers."""

    @property
    def ambiguous(self) -> bool:
        return self.alternative is not None


def _digits(text: str, decimal: str | None) -> float:
    thousands = {".", ","} - ({decimal} if decimal else set())
    cleaned = text
    for mark in thousands:
        cleaned = cleaned.replace(mark, "")
    if decimal:
        cleaned = cleaned.replace(decimal, ".")
    return float(cleaned)


def _read(body: str) -> tuple[float, float | None]:
    """(Vietnamese reading, other reading or None) of digits with . and , marks."""
    body = re.sub(r"\s+", "", body)
    dots, commas = body.count("."), body.count(",")
    if dots and commas:  # both: the last one is the decimal mark
        return _digits(body, "," if body.rfind(",") > body.rfind(".") else "."), None
    if dots + commas == 0:
        return float(body), None
    mark = "." if dots else ","
    head, _, tail = body.rpartition(mark)
    groups_ok = all(len(g) == 3 for g in body.split(mark)[1:]) and len(body.split(mark)[0]) <= 3
    if dots + commas > 1:  # 1.305.471 or 1,305,471: thousands groups
        if not groups_ok:
            raise ValueError(f"'{body}' has misplaced thousands separators")
        return _digits(body, None), None
    if len(tail) != 3 or not groups_ok:  # 103,97 or 38.05: a decimal either way
        return float(head + "." + tail), None
    # One mark followed by three digits: 9.748 or 96,876. Vietnamese: '.' groups, ',' decimals.
    grouped, decimal = float(head + tail), float(head + "." + tail)
    return (grouped, decimal) if mark == "." else (decimal, grouped)


def parse_number(text: str | None) -> ParsedNumber:
    """Read one cell; never raises (a value that cannot be read has `error`)."""
    raw = "" if text is None else unicodedata.normalize("NFC", str(text)).strip()
    lowered = raw.lower()
    if lowered in PLACEHOLDERS:
        return ParsedNumber(raw, None)
    qualifier = None
    for word, meaning in QUALIFIERS.items():
        if lowered.startswith(word + " ") or lowered == word:
            qualifier, lowered = meaning, lowered[len(word) :].strip()
            break
    if match := _FRACTION.match(lowered):
        num, den = int(match.group(1)), int(match.group(2))
        if den == 0:
            return ParsedNumber(raw, None, qualifier, error=f"'{raw}' divides by zero")
        return ParsedNumber(raw, num / den, qualifier, fraction=(num, den))
    match = _NUMBER.match(lowered)
    if not match:
        return ParsedNumber(raw, None, qualifier, error=f"'{raw}' is not a number")
    sign, body, rest = match.groups()
    if rest and not re.match(r"^(\s|%|[^\W\d_])", rest):  # 1-2 is a range, 3x4 a product: not a number
        return ParsedNumber(raw, None, qualifier, error=f"'{raw}' is not a number")
    try:
        value, other = _read(body)
    except ValueError as exc:
        return ParsedNumber(raw, None, qualifier, error=str(exc))
    factor = -1.0 if sign == "-" else 1.0
    unit = rest.strip() or None
    return ParsedNumber(raw, factor * value, qualifier, unit, None if other is None else factor * other)


def resolve_column(cells: list[ParsedNumber], declared: str) -> tuple[list[float | None], list[int]]:
    """Decide ambiguous cells by the declared type and the column's other values.

    An integer column takes the grouped reading. Otherwise the file's own convention wins: if its
    unambiguous cells use ',' as the decimal mark, or '.', ambiguous cells follow; with no evidence
    the Vietnamese reading stands. Returns the values and the row indexes that needed a decision.
    """
    decided: list[int] = []
    written = [c for c in cells if not c.ambiguous and not c.typed]
    comma_decimal = sum(1 for c in written if re.search(r"\d,\d{1,2}(?!\d)", c.text))
    dot_decimal = sum(1 for c in written if re.search(r"\d\.\d{1,2}(?!\d)", c.text))
    values: list[float | None] = []
    for i, cell in enumerate(cells):
        if not cell.ambiguous or cell.value is None or cell.alternative is None:
            values.append(cell.value)
            continue
        decided.append(i)
        integral = [v for v in (cell.value, cell.alternative) if float(v).is_integer()]
        if declared == "integer" and integral:
            values.append(integral[0])
        elif dot_decimal > comma_decimal:  # the file writes decimals the English way: the other reading
            values.append(cell.alternative)
        else:
            values.append(cell.value)
    return values, decided


_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y")


def parse_date(text: str | None) -> dt.date | None:
    """dd/mm/yyyy first (the Vietnamese order), then ISO and other separators; None if unreadable."""
    raw = (text or "").strip()
    if raw.lower() in PLACEHOLDERS:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None
