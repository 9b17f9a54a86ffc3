"""Seeded randomness and fast ISO date/time text shared by the department generators."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
from faker import Faker

EPOCH = datetime(1970, 1, 1)

# Independent random streams: (seed, department, purpose) never overlap between departments or purposes.
BUILD, DIRT, MUTATE = 0, 1, 2


def rng(seed: int, *stream: int) -> np.random.Generator:
    """A numpy generator for one stream of one seed; the same arguments always give the same numbers."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def faker(seed: int, *stream: int) -> Faker:
    """A Vietnamese Faker seeded from the same stream scheme as rng()."""
    fake = Faker("vi_VN")
    fake.seed_instance(int(np.random.SeedSequence([seed, *stream]).generate_state(1)[0]))
    return fake


def seconds(moment: datetime) -> int:
    """Whole seconds since 1970-01-01 of a naive (local, Asia/Ho_Chi_Minh) timestamp."""
    return int((moment - EPOCH).total_seconds())


def from_seconds(secs: int) -> datetime:
    """The inverse of seconds()."""
    return EPOCH + timedelta(seconds=int(secs))


def days(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH.date()).days


def timestamp_text(secs: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD HH:MM:SS' strings for epoch seconds; formats each distinct value once (hourly series repeat)."""
    unique, inverse = np.unique(np.asarray(secs, dtype=np.int64), return_inverse=True)
    text = np.char.replace(np.datetime_as_string(unique.astype("datetime64[s]")), "T", " ")
    return pa.array(text.tolist(), type=pa.string()).take(pa.array(inverse.reshape(-1)))


def date_text(day_numbers: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD' strings for days since 1970-01-01."""
    unique, inverse = np.unique(np.asarray(day_numbers, dtype=np.int64), return_inverse=True)
    text = np.datetime_as_string(unique.astype("datetime64[D]"))
    return pa.array(text.tolist(), type=pa.string()).take(pa.array(inverse.reshape(-1)))


def parse_timestamp(text: str) -> datetime:
    """The inverse of timestamp_text for one value."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
