"""Each indicator's observations: its rows in the published datasets the register names."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from lgsp.core.duck import quote, table_exists
from lgsp.schemas.indicators import Indicator, IndicatorSource
from lgsp.warehouse.projection import ORIGIN, SUBMISSION


@dataclass(frozen=True)
class Observation:
    """One value of an indicator as one source reported it."""

    indicator: str
    dataset: str
    area: str | None
    period: str
    value: float | None
    unit: str
    submission: int | None  # the file drop's submission (meta.submissions.id); None for other sources
    origin: str | None  # where the row came from, e.g. file:line

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _columns(con: duckdb.DuckDBPyConnection, dataset: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?",
        [dataset],
    ).fetchall()
    return {r[0] for r in rows}


def _select(indicator: Indicator, source: IndicatorSource, present: set[str]) -> tuple[str, list[Any]]:
    """The SELECT of one source's observations, and its parameters."""

    def col(name: str | None, cast: str = "VARCHAR") -> str:
        return f"CAST({quote(name)} AS {cast})" if name and name in present else f"CAST(NULL AS {cast})"

    conditions, params = [], []
    for column, wanted in source.where.items():
        texts = wanted if isinstance(wanted, list) else [wanted]
        conditions.append(f"CAST({quote(column)} AS VARCHAR) IN ({', '.join('?' for _ in texts)})")
        params.extend(texts)
    unit = f"coalesce({col(source.unit)}, ?)" if source.unit else "?"
    sql = (
        f"SELECT ? AS indicator, ? AS dataset, {col(source.area)} AS area, {col(source.period)} AS period, "
        f"{col(source.value, 'DOUBLE')} AS value, {unit} AS unit, {col(SUBMISSION, 'BIGINT')} AS submission, "
        f"{col(ORIGIN)} AS origin FROM main.{quote(source.dataset)} WHERE {' AND '.join(conditions)}"
    )
    return sql, [indicator.code, source.dataset, indicator.unit, *params]  # in the order of the ?s


def observations(con: duckdb.DuckDBPyConnection, register: Iterable[Indicator]) -> list[Observation]:
    """Every observation of these indicators in the published tables, by indicator, dataset, area
    and period. A source whose dataset was never published, or lacks a column its `where` names
    (a contract changed since the register was checked), has none."""
    out: list[Observation] = []
    for indicator in register:
        found: list[Observation] = []
        for source in indicator.sources:
            if not table_exists(con, "main", source.dataset):
                continue
            present = _columns(con, source.dataset)
            if any(column not in present for column in source.where) or source.value not in present:
                continue
            sql, params = _select(indicator, source, present)
            found.extend(Observation(*row) for row in con.execute(sql, params).fetchall())
        named = same_areas(o.area for o in found)  # per indicator: the same names whichever are asked for
        out.extend(dataclasses.replace(o, area=named.get(o.area, o.area)) if o.area in named else o for o in found)
    return sorted(out, key=lambda o: (o.indicator, o.dataset, o.area or "", o.period))


def plain(text: str) -> str:
    """Text without diacritics or case: 'Quảng Trị' → 'quang tri' (đ is d)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def same_area(a: str | None, b: str | None) -> bool:
    """Whether two area names name one area: equal, or one written without diacritics reads as the other."""
    if a is None or b is None:
        return a == b
    return a == b or ((a.isascii() or b.isascii()) and plain(a) == plain(b))


def same_areas(areas: Iterable[str | None]) -> dict[str, str]:
    """Area names as departments type them → the name they are grouped under: one written without
    diacritics ('Quang Tri', an old keyboard's habit) is the one name with diacritics that reads the
    same ('Quảng Trị'). Names that differ in their diacritics stay apart: 'Hòa Bình' is not 'Hóa Bình'."""
    named = {a for a in areas if a}
    accented: dict[str, list[str]] = {}
    for area in named:
        if not area.isascii():
            accented.setdefault(plain(area), []).append(area)
    out = {}
    for area in named:
        candidates = accented.get(plain(area), []) if area.isascii() else []
        if len(candidates) == 1:
            out[area] = candidates[0]
    return out
