"""Deliberate, deterministic dirt for source tables: nulls, out-of-range values, duplicate keys, bad dates, NFD."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KINDS: tuple[str, ...] = ("null", "out_of_range", "duplicate_key", "bad_date", "nfd")

BAD_DATES: tuple[str, ...] = ("2024-02-30", "31/13/2024", "N/A")
BAD_TIMESTAMPS: tuple[str, ...] = ("2024-02-30 08:00:00", "31/13/2024 08:00", "N/A")


def pick(rng: np.random.Generator, n: int, share: float, kinds: Sequence[str]) -> dict[str, np.ndarray]:
    """Disjoint sorted row indices per kind of dirt; round(n * share) rows in all, kinds dealt out in turn."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"dirty_share must be between 0 and 1, got {share}")
    count = round(n * share)
    chosen = rng.choice(n, size=count, replace=False) if count else np.empty(0, dtype=np.int64)
    return {kind: np.sort(chosen[i :: len(kinds)]) for i, kind in enumerate(kinds)}


def replace(table: pa.Table, column: str, rows: np.ndarray, values: pa.Array | Sequence[object]) -> pa.Table:
    """The table with column[rows[i]] = values[i]; rows must be sorted ascending."""
    if len(rows) == 0:
        return table
    pos = table.schema.get_field_index(column)
    field = table.schema.field(pos)
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[rows] = True
    old = table.column(pos).combine_chunks()
    new = pc.replace_with_mask(old, pa.array(mask), pa.array(values, type=field.type))
    return table.set_column(pos, field, new)


def nulls(table: pa.Table, column: str, rows: np.ndarray) -> pa.Table:
    """Nulls in a column that a clean row always has."""
    return replace(table, column, rows, pa.nulls(len(rows), table.schema.field(column).type))


def bad_dates(table: pa.Table, column: str, rows: np.ndarray, *, timestamp: bool = False) -> pa.Table:
    """Dates that do not exist or are not ISO: '2024-02-30', '31/13/2024', 'N/A'."""
    pool = BAD_TIMESTAMPS if timestamp else BAD_DATES
    return replace(table, column, rows, [pool[i % len(pool)] for i in range(len(rows))])


def duplicate_keys(table: pa.Table, key: str, rows: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """Copy the key of another (kept) row onto each of rows, as legacy systems without constraints allow."""
    if len(rows) == 0:
        return table
    others = np.setdiff1d(np.arange(table.num_rows), rows)
    sources = rng.choice(others, size=len(rows), replace=True)
    return replace(table, key, rows, table.column(key).take(pa.array(sources)))


def nfd(table: pa.Table, columns: Sequence[str], rows: np.ndarray) -> pa.Table:
    """Decomposed (NFD) Vietnamese text that looks identical but does not compare equal; columns dealt in turn."""
    for i, column in enumerate(columns):
        part = rows[i :: len(columns)]
        values = table.column(column).take(pa.array(part)).to_pylist()
        table = replace(table, column, part, [None if v is None else unicodedata.normalize("NFD", v) for v in values])
    return table
