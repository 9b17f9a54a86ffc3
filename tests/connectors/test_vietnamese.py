"""Vietnamese number and date formats, from the provinces' own reports (DOMAIN.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lgsp.connectors.vietnamese import parse_date, parse_number, resolve_column


@pytest.mark.parametrize(
    ("text", "value", "qualifier", "unit", "ambiguous"),
    [
        ("9.748", 9748, None, None, True),  # Vietnamese thousands group (or 9.748 in English)
        ("103,97", 103.97, None, None, False),
        ("1.305.471", 1305471, None, None, False),
        ("1,305,471", 1305471, None, None, False),
        ("1.305.471,5", 1305471.5, None, None, False),
        ("96,876", 96.876, None, None, True),  # decimal in Vietnamese, a group in English
        ("38.05 Mbps", 38.05, None, "mbps", False),
        ("hơn 2.000", 2000, "more_than", None, True),
        ("gần 500", 500, "nearly", None, False),
        ("khoảng 1.200 người", 1200, "about", "người", True),
        ("ước 45,5", 45.5, "estimated", None, False),
        ("-12", -12, None, None, False),
        ("103,97%", 103.97, None, "%", False),
    ],
)
def test_numbers(text: str, value: float, qualifier: str | None, unit: str | None, ambiguous: bool) -> None:
    parsed = parse_number(text)
    assert parsed.error is None
    assert parsed.value == pytest.approx(value)
    assert (parsed.qualifier, parsed.unit, parsed.ambiguous) == (qualifier, unit, ambiguous)


@pytest.mark.parametrize("text", ["...", "(blank)", "", None, "  -  ", "…"])
def test_placeholders_are_null(text: str | None) -> None:
    parsed = parse_number(text)
    assert parsed.value is None and parsed.error is None


def test_fractions_keep_both_parts() -> None:
    parsed = parse_number("14/17")
    assert parsed.fraction == (14, 17) and parsed.value == pytest.approx(14 / 17)
    assert parse_number("45/45").value == 1.0
    assert parse_number("3/0").error == "'3/0' chia cho 0 / divides by zero"


@pytest.mark.parametrize("text", ["C", "1-2", "abc", "1.23.4"])
def test_unreadable_values_say_why(text: str) -> None:
    parsed = parse_number(text)
    assert parsed.value is None and parsed.error and text in parsed.error


def test_ambiguous_cells_follow_the_declared_type_and_the_file() -> None:
    # An integer column takes the grouped reading: 96,876 and 15,000 are thousands.
    values, decided, unsure = resolve_column([parse_number(t) for t in ["96,876", "12", "15,000", "1,000"]], "integer")
    assert values == [96876, 12, 15000, 1000] and decided == [0, 2, 3] and unsure == []
    # A file that writes decimals with '.' (38.05, 1.5): its ',' groups thousands.
    values, decided, _ = resolve_column([parse_number(t) for t in ["38.05", "96,876", "1.5", "72.926"]], "number")
    assert values[1] == 96876 and values[3] == Decimal("72.926") and decided == [1, 3]
    # A file that writes decimals with ',' (103,97): its '.' groups thousands.
    values, decided, _ = resolve_column([parse_number(t) for t in ["103,97", "9.748"]], "number")
    assert values == [Decimal("103.97"), 9748] and decided == [1]


def test_one_stray_decimal_is_not_evidence_enough() -> None:
    """A single '2.5' among '15.000' cells must not turn them all into 15: they cannot be read exactly."""
    values, decided, unsure = resolve_column([parse_number(t) for t in ["15.000", "20.000", "45.500", "2.5"]], "number")
    assert unsure == [0, 1, 2] and values == [None, None, None, Decimal("2.5")] and decided == []
    # both kinds of decimals in one column: no convention at all
    _, _, unsure = resolve_column([parse_number(t) for t in ["1,5", "2.25", "3.75", "9.748"]], "number")
    assert unsure == [3]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,23E+11", Decimal("123000000000")),  # Excel's CSV in a Vietnamese locale
        ("5e3", Decimal("5000")),
        ("1 305 471", Decimal("1305471")),
        ("1 305 471,5", Decimal("1305471.5")),
        ("9.007.199.254.740.993", Decimal("9007199254740993")),  # past a float's exact integers
    ],
)
def test_numbers_read_exactly(text: str, value: Decimal) -> None:
    parsed = parse_number(text)
    assert parsed.error is None and parsed.decimal() == value


@pytest.mark.parametrize(
    "text",
    ["12 34", "2024 2025", "1 5", "1 tỷ 500 triệu", "1 triệu 2", "1,5 nghìn tỷ", "1.234 (*)"],
)
def test_numbers_that_cannot_be_read_exactly_say_why(text: str) -> None:
    parsed = parse_number(text)
    assert parsed.value is None and parsed.error and text in parsed.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15/03/2024", dt.date(2024, 3, 15)), ("2024-03-15", dt.date(2024, 3, 15)), ("15.03.2024", dt.date(2024, 3, 15)),
     ("31/02/2024", None), ("...", None), ("Q3/2024", None)],
)  # fmt: skip
def test_dates_day_first(text: str, expected: dt.date | None) -> None:
    assert parse_date(text) == expected
