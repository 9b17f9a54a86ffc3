"""Which charts a dataset gets, read from its contract's columns and its latest release.

Roles come from the column types: a date (or a timestamp other than a bookkeeping one such as
`updated_at`) is the time axis; numbers and integers outside the primary key are measures
(integers are counts and are summed, numbers are averaged); a text column with a few distinct
values is a category. Values in different units are never added up: when a dataset has a `unit`
column, the chart keeps to one value of the column that decides the unit (one parameter, one
item), which the reader can change. The data is the release's Parquet file read with DuckDB,
aggregated to at most `MAX_POINTS` points or `MAX_BARS` bars, and cached per file and choice.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import duckdb

from lgsp.core.duck import literal, quote
from lgsp.schemas.contract import Column, ColumnType, Contract

MAX_POINTS = 120
MAX_BARS = 20
MAX_CATEGORIES = 50  # a column with more distinct values is not a category
MAX_FACET_VALUES = 500
BOOKKEEPING = {"updated_at", "created_at", "modified_at", "deleted_at", "ingested_at"}
NOT_MEASURES = {"id", "line", "year", "month", "row"}
NUMERIC = (ColumnType.integer, ColumnType.number)
T = TypeVar("T")


@dataclass
class Chart:
    kind: str  # "time" or "bars"
    measure: Column
    axis: Column  # the time column or the category column
    aggregate: str  # "avg" or "sum"
    points: list[tuple[Any, float]]


@dataclass
class ChartSet:
    """The charts of a release and the choices that made them (shown as a form)."""

    measures: list[Column] = field(default_factory=list)
    measure: Column | None = None
    facet: Column | None = None
    facet_values: list[str] = field(default_factory=list)
    facet_value: str | None = None
    charts: list[Chart] = field(default_factory=list)


def time_column(columns: list[Column]) -> Column | None:
    dates = [c for c in columns if c.type is ColumnType.date]
    stamps = [c for c in columns if c.type is ColumnType.timestamp and c.name not in BOOKKEEPING]
    found = dates or stamps
    return found[0] if found else None


def measures(contract: Contract, columns: list[Column]) -> list[Column]:
    """Numeric columns that measure something: not keys, identifiers, line numbers or years."""
    key = set(contract.primary_key)
    return [
        c
        for c in columns
        if c.type in NUMERIC
        and c.name not in key
        and c.name not in NOT_MEASURES
        and not c.name.endswith(("_id", "_no", "_code"))
    ]


class ReleaseQueries(Generic[T]):
    """What the charts and the map share: one in-memory DuckDB reading release files (a cursor a
    query), and answers kept for the last `KEPT` choices (keys name the files' digests)."""

    KEPT = 256

    def __init__(self) -> None:
        self._con = duckdb.connect(config={"autoinstall_known_extensions": False})
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], T] = OrderedDict()

    def _cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = make()
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self.KEPT:
                self._cache.popitem(last=False)
        return found

    def _query(self, sql: str, args: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            cur = self._con.cursor()
        try:
            return cur.execute(sql, args or []).fetchall()
        finally:
            cur.close()


class Charts(ReleaseQueries[ChartSet]):
    """Builds ChartSets from a release's Parquet file."""

    def build(
        self, contract: Contract, columns: list[Column], parquet: str, digest: str, choice: dict[str, str]
    ) -> ChartSet:
        key = (contract.id, digest, choice.get("measure", ""), choice.get("chart_for", ""))
        return self._cached(key, lambda: self._build(contract, columns, parquet, choice))

    def _build(self, contract: Contract, columns: list[Column], parquet: str, choice: dict[str, str]) -> ChartSet:
        source = f"read_parquet({literal(parquet)})"
        out = ChartSet(measures=measures(contract, columns))
        if not out.measures:
            return out
        time = time_column(columns)
        texts = [c for c in columns if c.type is ColumnType.string]
        distinct = {}
        if texts:
            row = self._query(f"SELECT {', '.join(f'count(DISTINCT {quote(c.name)})' for c in texts)} FROM {source}")
            distinct = {c.name: n for c, n in zip(texts, row[0], strict=True)}
        unit = next((c for c in texts if c.name == "unit"), None)
        where, args = "", []
        if unit is not None and distinct["unit"] > 1:
            out.facet = self._facet(source, texts, distinct)
        if out.facet is not None:
            counted = self._query(
                f"SELECT {quote(out.facet.name)} AS v, count(*) AS n FROM {source} WHERE v IS NOT NULL "
                f"GROUP BY v ORDER BY v LIMIT {MAX_FACET_VALUES}"
            )
            out.facet_values = [str(v) for v, _ in counted]
            most = max(counted, key=lambda r: r[1])[0] if counted else None
            wanted = choice.get("chart_for")
            out.facet_value = wanted if wanted in out.facet_values else (str(most) if most is not None else None)
            where, args = f"WHERE CAST({quote(out.facet.name)} AS VARCHAR) = ?", [out.facet_value]
        by_name = {c.name: c for c in out.measures}
        preferred = sorted(
            out.measures, key=lambda c: c.type is not (ColumnType.number if time else ColumnType.integer)
        )
        out.measure = by_name.get(choice.get("measure", "")) or preferred[0]
        aggregate = "sum" if out.measure.type is ColumnType.integer else "avg"
        value = f"{aggregate}({quote(out.measure.name)})"
        if time is not None:
            points = self._series(source, time, value, where, args)
            if len(points) > 1:  # one point is no trend
                out.charts.append(Chart("time", out.measure, time, aggregate, points))
        skip = {"unit", out.facet.name if out.facet else ""}
        categories = [c for c in texts if c.name not in skip and 2 <= distinct[c.name] <= MAX_CATEGORIES]
        if categories:
            # the fewest groups; between a code and a name with as many, the name reads better
            category = min(categories, key=lambda c: (distinct[c.name], c.name.endswith("_code")))
            rows = self._query(
                f"SELECT CAST({quote(category.name)} AS VARCHAR) AS k, {value} AS v FROM {source} {where} "
                f"GROUP BY k HAVING k IS NOT NULL AND v IS NOT NULL ORDER BY v DESC, k LIMIT {MAX_BARS}",
                args,
            )
            if rows:
                out.charts.append(Chart("bars", out.measure, category, aggregate, [(k, float(v)) for k, v in rows]))
        return out

    def _facet(self, source: str, texts: list[Column], distinct: dict[str, int]) -> Column | None:
        """The text column with the fewest values that decides the unit (each value one unit)."""
        candidates = [c for c in texts if c.name != "unit" and distinct[c.name] > 1]
        if not candidates:
            return None
        pairs = ", ".join(f"count(DISTINCT ({quote(c.name)}, unit))" for c in candidates)
        row = self._query(f"SELECT {pairs} FROM {source}")[0]
        deciding = [c for c, n in zip(candidates, row, strict=True) if n == distinct[c.name]]
        return min(deciding, key=lambda c: distinct[c.name]) if deciding else None

    def _series(
        self, source: str, time: Column, value: str, where: str, args: list[Any]
    ) -> list[tuple[dt.date, float]]:
        """The finest of the raw values, days, months or years that keeps to MAX_POINTS points."""
        t = quote(time.name)
        grains = ["raw", "day", "month", "year"] if time.type is ColumnType.timestamp else ["raw", "month", "year"]
        counts = self._query(
            f"SELECT count(DISTINCT {t}), count(DISTINCT date_trunc('day', {t})), "
            f"count(DISTINCT date_trunc('month', {t})), count(DISTINCT date_trunc('year', {t})) "
            f"FROM {source} {where}",
            args,
        )[0]
        by_grain = dict(zip(["raw", "day", "month", "year"], counts, strict=True))
        grain = next((g for g in grains if by_grain[g] <= MAX_POINTS), "year")
        bucket = t if grain == "raw" else f"date_trunc('{grain}', {t})"
        if time.type is ColumnType.date and grain != "raw":
            bucket = f"CAST({bucket} AS DATE)"
        rows = self._query(
            f"SELECT {bucket} AS k, {value} AS v FROM {source} {where} GROUP BY k "
            f"HAVING k IS NOT NULL AND v IS NOT NULL ORDER BY k LIMIT {MAX_POINTS}",
            args,
        )
        return [(k, float(v)) for k, v in rows]
