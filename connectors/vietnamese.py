"""Numbers and dates as Vietnamese departments write them, read without guessing silently.

`9.748` is nine thousand seven hundred forty-eight and `103,97` a decimal, yet the same report
prints `96,876` as a thousands group and `38.05 Mbps` as a decimal. A value whose reading depends
on the convention is marked ambiguous and resolved by the column's declared type and the other
values of the file (`resolve_column`); qualifiers (`hơn 2.000`) are kept apart, not lost.
(The file-drop connector of the national-API issue builds on this.)
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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
# Words of scale report writers put after a number: `1,2 triệu` is 1 200 000.
SCALES = {"trăm": 2, "nghìn": 3, "ngàn": 3, "triệu": 6, "tr": 6, "tỷ": 9, "tỉ": 9}
_SCIENTIFIC = re.compile(r"^([+-]?)(\d+(?:[.,]\d+)?)e([+-]?\d{1,3})$")  # 1,23E+11: Excel's CSV in a Vietnamese locale
PLACEHOLDERS = {"", "...", "…", "(blank)", "-", "--", "—", "n/a", "na", "x", "không có"}
_NUMBER = re.compile(r"^([+-]?)(\d[\d.,\s]*\d|\d)(.*)$")
_FRACTION = re.compile(r"^(\d+)\s*/\s*(\d+)$")
_SCALE = re.compile(r"^\s*(" + "|".join(sorted(SCALES, key=len, reverse=True)) + r")\.?(?=\s|$)(.*)$")
_RANGE = re.compile(r"^\s*([-–—~÷]|đến\b|tới\b)\s*\d")
_FOOTNOTE = re.compile(r"^\s*(\*+|\(\s*[\w*]{1,3}\s*\)|\[\s*\w{1,3}\s*\]|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)")


@dataclass(frozen=True)
class ParsedNumber:
    """A number read from text. `value` is the Vietnamese reading; `alternative` is the other
    reading when the text is ambiguous (e.g. `96,876`), else None. `scale` is the word of scale
    that multiplied the digits (`triệu`), which a contract must allow. `error` says, in
    Vietnamese and English, why the text cannot be read as one exact number."""

    text: str
    value: float | None
    qualifier: str | None = None
    unit: str | None = None
    alternative: float | None = None
    fraction: tuple[int, int] | None = None
    error: str | None = None
    scale: str | None = None
    exact: Decimal | None = None  # `value` without the float's rounding (BIGINT keys and counts stay exact)
    exact_alternative: Decimal | None = None
    typed: bool = False
    """Held as a number by a workbook, not written: it says nothing of how the file writes numbers."""

    @property
    def ambiguous(self) -> bool:
        return self.alternative is not None

    def decimal(self, alternative: bool = False) -> Decimal | None:
        """A reading as an exact decimal."""
        exact, value = (self.exact_alternative, self.alternative) if alternative else (self.exact, self.value)
        if exact is not None:
            return exact
        return None if value is None else Decimal(repr(value))


def _digits(text: str, decimal: str | None) -> Decimal:
    thousands = {".", ","} - ({decimal} if decimal else set())
    cleaned = text
    for mark in thousands:
        cleaned = cleaned.replace(mark, "")
    if decimal:
        cleaned = cleaned.replace(decimal, ".")
    return Decimal(cleaned)


def _read(body: str) -> tuple[Decimal, Decimal | None]:
    """(Vietnamese reading, other reading or None) of digits with . and , marks, exactly."""
    if re.search(r"\s", body):  # 1 305 471: a space groups thousands, and nothing else
        whole = re.split(r"[.,]", body)[0] if not re.fullmatch(r"[\d\s]+", body) else body
        groups = whole.split()
        if len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:]):
            raise ValueError(
                f"'{body}' có khoảng trắng giữa các chữ số / has spaces between digits that are not thousands groups"
            )
        body = re.sub(r"\s+", "", body)
    dots, commas = body.count("."), body.count(",")
    if dots and commas:  # both: the last one is the decimal mark
        return _digits(body, "," if body.rfind(",") > body.rfind(".") else "."), None
    if dots + commas == 0:
        return Decimal(body), None
    mark = "." if dots else ","
    head, _, tail = body.rpartition(mark)
    groups_ok = all(len(g) == 3 for g in body.split(mark)[1:]) and len(body.split(mark)[0]) <= 3
    if dots + commas > 1:  # 1.305.471 or 1,305,471: thousands groups
        if not groups_ok:
            raise ValueError(f"'{body}' có dấu phân cách hàng nghìn đặt sai chỗ / has misplaced thousands separators")
        return _digits(body, None), None
    if len(tail) != 3 or not groups_ok:  # 103,97 or 38.05: a decimal either way
        return Decimal(head + "." + tail), None
    # One mark followed by three digits: 9.748 or 96,876. Vietnamese: '.' groups, ',' decimals.
    grouped, decimal = Decimal(head + tail), Decimal(head + "." + tail)
    return (grouped, decimal) if mark == "." else (decimal, grouped)


def _not_a_number(raw: str) -> str:
    return f"'{raw}' không phải là số / is not a number"


def _range(raw: str) -> str:
    return f"'{raw}' là một khoảng giá trị, không phải một số / is a range, not one number"


def parse_number(text: str | None) -> ParsedNumber:
    """Read one cell; never raises (a value that cannot be read exactly has `error`)."""
    return _parse("" if text is None else str(text))


@functools.lru_cache(maxsize=1 << 16)
def _parse(text: str) -> ParsedNumber:
    """parse_number, remembered: a department's columns repeat their values (prices, counts), and
    the reading of a text never changes (ParsedNumber is immutable)."""
    raw = unicodedata.normalize("NFC", text).strip()
    lowered = raw.lower()
    if lowered in PLACEHOLDERS:
        return ParsedNumber(raw, None)
    qualifier = None
    for word, meaning in QUALIFIERS.items():
        if lowered.startswith(word + " ") or lowered == word:
            qualifier, lowered = meaning, lowered[len(word) :].strip()
            break
    if lowered.startswith("từ ") and re.search(r"\b(đến|tới)\b", lowered):
        return ParsedNumber(raw, None, qualifier, error=_range(raw))
    if match := _FRACTION.match(lowered):
        num, den = int(match.group(1)), int(match.group(2))
        if den == 0:
            return ParsedNumber(raw, None, qualifier, error=f"'{raw}' chia cho 0 / divides by zero")
        return ParsedNumber(raw, num / den, qualifier, fraction=(num, den))
    if science := _SCIENTIFIC.match(lowered):
        sign, mantissa, exponent = science.groups()
        exact = Decimal(mantissa.replace(",", ".")).scaleb(int(exponent)) * (-1 if sign == "-" else 1)
        return ParsedNumber(raw, float(exact), qualifier, exact=exact)
    match = _NUMBER.match(lowered)
    if not match:
        return ParsedNumber(raw, None, qualifier, error=_not_a_number(raw))
    sign, body, rest = match.groups()
    if _RANGE.match(rest):
        return ParsedNumber(raw, None, qualifier, error=_range(raw))
    if _FOOTNOTE.match(rest):
        return ParsedNumber(
            raw, None, qualifier, error=f"'{raw}' có dấu chú thích sau số / has a footnote mark after the number"
        )
    scale = None
    if scaled := _SCALE.match(rest):
        scale, rest = scaled.group(1), scaled.group(2)
        if re.search(r"\d", rest) or _SCALE.match(rest):  # 1 tỷ 500 triệu, 1 triệu 2, 1,5 nghìn tỷ
            return ParsedNumber(
                raw, None, qualifier, scale=scale,
                error=f"'{raw}' ghép nhiều từ chỉ quy mô, không đọc chính xác được / combines words of scale "
                "and cannot be read exactly: write the whole number",
            )  # fmt: skip
    if rest and not re.match(r"^(\s|%|[^\W\d_])", rest):  # 3x4 is a product, 5/7/2024 a date: not a number
        return ParsedNumber(raw, None, qualifier, error=_not_a_number(raw))
    try:
        value, other = _read(body)
    except ValueError as exc:
        return ParsedNumber(raw, None, qualifier, error=str(exc))
    except InvalidOperation:
        return ParsedNumber(raw, None, qualifier, error=_not_a_number(raw))
    factor = Decimal(-1 if sign == "-" else 1)
    unit = rest.strip() or None
    if scale is not None:
        power = Decimal(10) ** SCALES[scale]
        if other is not None:  # '1.200 triệu': 1 200 triệu or 1,2 triệu, a thousandfold apart
            return ParsedNumber(
                raw,
                None,
                qualifier,
                unit,
                scale=scale,
                error=f"'{raw}' đọc được hai cách ({_plain(value * power)} hoặc {_plain(other * power)}) / "
                "can be read two ways",
            )
        value = value * power
    return ParsedNumber(
        raw,
        float(factor * value),
        qualifier,
        unit,
        None if other is None else float(factor * other),
        scale=scale,
        exact=factor * value,
        exact_alternative=None if other is None else factor * other,
    )


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 1200000, 1.5."""
    return format(value.normalize(), "f")


def resolve_column(cells: list[ParsedNumber], declared: str) -> tuple[list[Decimal | None], list[int], list[int]]:
    """Decide ambiguous cells (`9.748`, `96,876`) by the declared type and the column's other values.

    An integer column takes the grouped reading (9748, 96876). Otherwise the file's own convention
    decides, when it is clear: decimals written with ',' (103,97) or none written at all keep the
    Vietnamese reading; two or more decimals written with '.' (38.05) and none with ',' take the
    other one. A single '.' decimal, or both kinds, is not evidence enough: those cells cannot be
    read exactly. Returns the exact values, the row indexes that needed a decision, and those that
    could not be decided (their value is None).
    """
    decided: list[int] = []
    unsure: list[int] = []
    written = [c for c in cells if not c.ambiguous and not c.typed]
    comma_decimal = sum(1 for c in written if re.search(r"\d,\d{1,2}(?!\d)", c.text))
    dot_decimal = sum(1 for c in written if re.search(r"\d\.\d{1,2}(?!\d)", c.text))
    english = dot_decimal >= 2 and comma_decimal == 0
    clear = english or dot_decimal == 0
    values: list[Decimal | None] = []
    for i, cell in enumerate(cells):
        if not cell.ambiguous or cell.value is None or cell.alternative is None:
            values.append(cell.decimal())
            continue
        readings = [r for r in (cell.decimal(), cell.decimal(alternative=True)) if r is not None]
        if declared == "integer":
            decided.append(i)
            values.append(max(readings))  # the grouped reading: 15,000 is fifteen thousand
        elif clear:
            decided.append(i)
            values.append(cell.decimal(alternative=english))
        else:
            unsure.append(i)
            values.append(None)
    return values, decided, unsure


_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y")


@functools.lru_cache(maxsize=1 << 14)
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
