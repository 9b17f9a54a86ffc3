"""Sở KH&CN's digital-transformation indicators (Sở TT&TT's until the 2025 merger): the real CSV published by
three provinces, loaded as-is."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from lgsp_sandbox.schema import TABLES

SPEC = TABLES["ict_indicators"]
CSV = Path(__file__).resolve().parents[1] / "data" / "ict_indicators" / "provincial_ict_indicators.csv"


def csv_path() -> Path:
    """The indicators CSV, shipped with the sandbox (a copy of the provinces' published file)."""
    return CSV


def generate(seed: int, *, scale: int, dirty_share: float) -> Iterator[pa.Table]:
    """Every row of the CSV in file order, numbered from 1; real data, so no seed, scale or added dirt."""
    del seed, scale, dirty_share
    with csv_path().open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    cols: dict[str, list[object]] = {name: [] for name in SPEC.column_names}
    for number, record in enumerate(records, start=1):
        cols["indicator_id"].append(number)
        for name in SPEC.column_names[1:]:
            cols[name].append(int(record[name]) if name == "line" else record[name])
    yield pa.table(cols, schema=SPEC.arrow_schema)
