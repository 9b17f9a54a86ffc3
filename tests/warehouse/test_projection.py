"""Typing raw source text: the fast paths give what the slow, general ones would."""

from __future__ import annotations

import datetime as dt

import pytest

from lgsp.core import duck
from lgsp.schemas.contract import Column
from lgsp.warehouse import projection

TIMESTAMPS = [
    "2024-01-01 10:00:00",
    "  2024-01-01 10:00:00 ",
    "2024-01-01T10:00:00",
    "2024-01-01 10:00",
    "2024-01-01",
    "2024-1-5 7:05:09",
    "2024-01-01 10:00:00.123456",
    "2024-01-01 10:00:00+07:00",
    "2024-01-01T10:00:00.5+07",
    "2024-01-01 10:00:00-0530",
    "2024-01-01T10:00:00Z",
    "2024-01-01 10:00:00Z",
    "2024-01-01 10:00:00 +07:00",
    "2024-01-01 10:00:00.250",
    "2024-01-01 10:00:00 UTC",
    "2024-01-01 10:00:00 Asia/Ho_Chi_Minh",
    "2024-02-30 10:00:00",
    "2024-01-01 25:00:00",
    "31/12/2024",
    "hôm qua",
    "",
    None,
]


@pytest.mark.parametrize("text", TIMESTAMPS)
def test_text_timestamps_keep_their_offset(text: str | None) -> None:
    """Text without an offset takes the plain cast; with one it is converted to UTC, as ICU does."""
    con = duck.connect()
    column = Column.model_validate({"name": "seen", "type": "timestamp", "description": {"vi": "lúc", "en": "at"}})
    expr = projection.typed(column, "VARCHAR")
    fast, reference = con.execute(
        f"SELECT {expr}, CAST(TRY_CAST(trim(seen) AS TIMESTAMPTZ) AS TIMESTAMP) FROM (SELECT ?::VARCHAR AS seen)",
        [text],
    ).fetchone()  # type: ignore[misc]
    assert fast == reference


def test_offsets_are_converted_to_utc() -> None:
    con = duck.connect()
    column = Column.model_validate({"name": "seen", "type": "timestamp", "description": {"vi": "lúc", "en": "at"}})
    expr = projection.typed(column, "VARCHAR")
    got = con.execute(f"SELECT {expr} FROM (SELECT '2024-01-01 10:00:00+07:00' AS seen)").fetchone()
    assert got == (dt.datetime(2024, 1, 1, 3, 0),)
