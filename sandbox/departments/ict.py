"""Sở TT&TT's digital-transformation indicators: the real CSV published by three provinces, loaded as-is."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from sandbox.schema import TABLES

SPEC = TABLES["ict_indicators"]
RELATIVE = Path("shared/data/ict_indicators/provincial_ict_indicators.csv")
ENV = "LGSP_SHARED_DIR"


def csv_path() -> Path:
    """The indicators CSV: $LGSP_SHARED_DIR/data/..., else shared/ next to the repository or one of its parents."""
    tail = RELATIVE.relative_to("shared")
    if os.environ.get(ENV):
        candidate = Path(os.environ[ENV]) / tail
        if candidate.is_file():
            return candidate
        raise FileNotFoundError(f"{ENV} is set but {candidate} does not exist")
    here = Path(__file__).resolve()
    searched = [parent / RELATIVE for parent in here.parents]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"the ICT indicators CSV was not found; set {ENV} to the shared directory or clone the repository next to "
        f"shared/. Searched: {', '.join(str(p) for p in searched)}"
    )


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
