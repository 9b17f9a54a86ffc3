"""Sở NN&MT's automatic monitoring stations (Sở TN&MT's until the 2025 merger): hourly air and surface-water
readings, the high-volume source."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from lgsp_sandbox import dirt
from lgsp_sandbox.common import BUILD, DIRT, from_seconds, rng, seconds, timestamp_text
from lgsp_sandbox.schema import TABLES

DEPARTMENT = 4
SPEC = TABLES["env_readings"]
BLOCK = 200_000
"""Rows per generated block; also the unit of seeding, so the data never depends on how a loader batches it."""
LAST_HOUR = datetime(2025, 12, 31, 23, 0, 0)
"""The series ends here; a larger scale reaches further back in time."""
DIRT_KINDS = ("null", "out_of_range", "duplicate_key", "bad_date")  # no Vietnamese text here to decompose


@dataclass(frozen=True)
class Parameter:
    name: str
    medium: str
    unit: str
    limit: float
    """QCVN 05:2023/BTNMT (air; 24-hour for PM, 1-hour otherwise) or QCVN 08-MT:2015/BTNMT column B1 (water).
    For DO the limit is a minimum, for pH the upper end of the 5.5-9 range."""
    typical: float
    spread: float
    """Log-normal sigma, or the standard deviation for the normally distributed pH and DO."""
    decimals: int


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("PM2.5", "air", "µg/m³", 50.0, 22.0, 0.45, 1),
    Parameter("PM10", "air", "µg/m³", 100.0, 38.0, 0.40, 1),
    Parameter("NO2", "air", "µg/m³", 200.0, 18.0, 0.50, 1),
    Parameter("SO2", "air", "µg/m³", 350.0, 9.0, 0.50, 1),
    Parameter("CO", "air", "µg/m³", 30_000.0, 650.0, 0.40, 0),
    Parameter("O3", "air", "µg/m³", 200.0, 55.0, 0.35, 1),
    Parameter("pH", "water", "-", 9.0, 7.3, 0.35, 2),
    Parameter("DO", "water", "mg/L", 4.0, 6.2, 0.80, 2),
    Parameter("COD", "water", "mg/L", 30.0, 14.0, 0.35, 1),
    Parameter("BOD5", "water", "mg/L", 15.0, 6.0, 0.40, 1),
    Parameter("TSS", "water", "mg/L", 50.0, 18.0, 0.50, 1),
)
NORMAL = frozenset({"pH", "DO"})

# Air stations (KK: không khí) sit in towns and industrial zones; water stations (NM: nước mặt) on the rivers
# Thạch Hãn, Hiếu, Bến Hải, Nhật Lệ, Gianh, Kiến Giang and Son.
STATIONS: tuple[str, ...] = (
    *(f"QT-KK-{i:02d}" for i in range(1, 19)),
    *(f"QT-NM-{i:02d}" for i in range(1, 13)),
)


def _series() -> tuple[np.ndarray, np.ndarray]:
    """(station index, parameter index) of each series, in the order they report within an hour."""
    station, parameter = [], []
    for s, code in enumerate(STATIONS):
        medium = "air" if "-KK-" in code else "water"
        for p, par in enumerate(PARAMETERS):
            if par.medium == medium:
                station.append(s)
                parameter.append(p)
    return np.array(station), np.array(parameter)


SERIES_STATION, SERIES_PARAMETER = _series()
SERIES = len(SERIES_STATION)


def _shape(parameter: np.ndarray, hour_of_day: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Daily and seasonal pattern: traffic peaks for PM/NO2/CO, afternoon ozone, dry-season dust, rainy-season TSS."""
    h = hour_of_day.astype(float)
    traffic = 0.8 + 0.35 * np.exp(-((h - 7.5) ** 2) / 4) + 0.45 * np.exp(-((h - 19.0) ** 2) / 6)
    ozone = 0.5 + 0.9 * np.exp(-((h - 14.0) ** 2) / 8)
    dry = 1.0 + 0.3 * np.cos(2 * np.pi * (month - 1) / 12)
    rainy = np.where((month >= 9) & (month <= 12), 1.6, 1.0)
    shape = np.ones(len(parameter))
    shape = np.where(_is(parameter, "PM2.5", "PM10", "NO2", "CO"), traffic * dry, shape)
    shape = np.where(_is(parameter, "O3"), ozone, shape)
    return np.where(_is(parameter, "TSS"), rainy, shape)


def _is(parameter: np.ndarray, *names: str) -> np.ndarray:
    """Which rows (by parameter index) measure one of `names`."""
    return np.array([p.name in names for p in PARAMETERS])[parameter]


def rows(seed: int, g: np.random.Generator, first_id: int, n: int, first_hour: datetime, offset: int = 0) -> pa.Table:
    """Clean readings: row r (from `offset`) is series r % SERIES at hour r // SERIES after first_hour.

    The seed fixes each station's level; g draws the hourly noise.
    """
    station_factor = rng(seed, DEPARTMENT, BUILD, 0).lognormal(0.0, 0.25, size=len(STATIONS))
    r = np.arange(offset, offset + n, dtype=np.int64)
    series = r % SERIES
    station, parameter = SERIES_STATION[series], SERIES_PARAMETER[series]
    moment = seconds(first_hour) + (r // SERIES) * 3600
    hour_of_day = (moment // 3600) % 24
    month = moment.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    typical = np.array([p.typical for p in PARAMETERS])[parameter]
    spread = np.array([p.spread for p in PARAMETERS])[parameter]
    normal = _is(parameter, *NORMAL)
    z = g.standard_normal(n)
    value = np.where(
        normal,
        typical + spread * z,
        typical * station_factor[station] * _shape(parameter, hour_of_day, month) * np.exp(spread * z),
    )
    scale = 10.0 ** np.array([p.decimals for p in PARAMETERS])[parameter]
    value = np.round(np.maximum(value, 0.0) * scale) / scale
    cols = {
        "reading_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        "station_code": pa.array(STATIONS).take(pa.array(station)),
        "parameter": pa.array([p.name for p in PARAMETERS]).take(pa.array(parameter)),
        "value": pa.array(value),
        "limit_value": pa.array(np.array([p.limit for p in PARAMETERS])[parameter]),
        "unit": pa.array([p.unit for p in PARAMETERS]).take(pa.array(parameter)),
        "measured_at": timestamp_text(moment),
    }
    return pa.table(cols, schema=SPEC.arrow_schema)


def first_hour(scale: int) -> datetime:
    """Where a series of `scale` readings starts so that it ends at LAST_HOUR."""
    hours = max(1, math.ceil(scale / SERIES))
    return from_seconds(seconds(LAST_HOUR) - (hours - 1) * 3600)


def generate(seed: int, *, scale: int, dirty_share: float) -> Iterator[pa.Table]:
    """`scale` readings in blocks of BLOCK rows, each block seeded on its own (memory stays flat)."""
    start = first_hour(scale)
    for b, lo in enumerate(range(0, scale, BLOCK)):
        n = min(BLOCK, scale - lo)
        table = rows(seed, rng(seed, DEPARTMENT, BUILD, b + 1), lo + 1, n, start, lo)
        d = rng(seed, DEPARTMENT, DIRT, b)
        picked = dirt.pick(d, n, dirty_share, DIRT_KINDS)
        table = dirt.nulls(table, "station_code", picked["null"])
        bad = picked["out_of_range"]
        values = table.column("value").take(pa.array(bad)).to_numpy()
        table = dirt.replace(table, "value", bad, np.where(np.arange(len(bad)) % 2 == 0, -values - 1.0, 1e9))
        table = dirt.duplicate_keys(table, "reading_id", picked["duplicate_key"], d)
        table = dirt.bad_dates(table, "measured_at", picked["bad_date"], timestamp=True)
        yield table


def added(seed: int, g: np.random.Generator, first_id: int, n: int, after: datetime) -> pa.Table:
    """n readings continuing the series in the hours after `after` (the last hour already stored)."""
    start = from_seconds(seconds(after) // 3600 * 3600 + 3600)
    return rows(seed, g, first_id, n, start)


def changed(g: np.random.Generator, row: dict[str, object]) -> dict[str, object]:
    """A QA/QC correction of the value; there is no updated_at, so cursor-based loads do not see it."""
    value = row["value"]
    if not isinstance(value, (int, float)):
        return {"value": 0.0}
    return {"value": round(abs(float(value)) * g.uniform(0.9, 1.1), 2)}
