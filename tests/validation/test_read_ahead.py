"""The read-ahead that feeds GX from a thread: it hands over errors and stops when told."""

from __future__ import annotations

import threading

import duckdb
import pytest

from lgsp.core import duck
from lgsp.validation.validate import _AHEAD, _narrow, _ReadAhead


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duck.connect()
    con.execute("CREATE TABLE t AS SELECT range AS k, range % 7 AS v FROM range(100000)")
    return con


def _start(reader: _ReadAhead) -> threading.Thread:
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    return thread


def test_frames_arrive_in_batches_with_the_row_ids(con: duckdb.DuckDBPyConnection) -> None:
    reader = _ReadAhead(con, [("rows", "SELECT rowid AS __row, k, v FROM t", 30_000)])
    thread = _start(reader)
    frames = list(reader.frames())
    thread.join(5)
    assert [kind for kind, _ in frames] == ["rows"] * 4
    assert sum(len(f) for _, f in frames) == 100_000
    assert sorted(i for _, f in frames for i in f.index) == list(range(100_000))


def test_a_failed_read_is_raised_to_the_consumer(con: duckdb.DuckDBPyConnection) -> None:
    plan = [("rows", "SELECT rowid AS __row, k FROM t", 30_000), ("run", "SELECT rowid AS __row, k FROM gone", None)]
    reader = _ReadAhead(con, plan)
    thread = _start(reader)
    seen = []
    with pytest.raises(duckdb.CatalogException, match="gone"):
        for kind, _ in reader.frames():
            seen.append(kind)
    thread.join(5)
    assert not thread.is_alive() and seen == ["rows"] * 4


def test_a_consumer_that_gives_up_stops_the_reader(con: duckdb.DuckDBPyConnection) -> None:
    """GX failing on the first frame must not leave the reader blocked on a full read-ahead."""
    reader = _ReadAhead(con, [("rows", "SELECT rowid AS __row, k FROM t", 1_000)])
    thread = _start(reader)
    for _ in reader.frames():
        break  # at most _AHEAD frames were read
    reader.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert reader.queue.qsize() <= _AHEAD + 1  # the frames read, and the end mark


def test_keys_narrow_only_when_they_fit_32_bits() -> None:
    import pyarrow as pa

    small = pa.table({"__row": [0, 1, 2], "k": pa.array([5, None, -(2**31)], pa.int64())})
    large = pa.table({"__row": [0, 1], "k": pa.array([1, 2**31], pa.int64())})
    text = pa.table({"__row": [0], "k": ["a"]})
    assert _narrow(small).schema.field("k").type == pa.int32() and _narrow(small).column("k").to_pylist() == [
        5,
        None,
        -(2**31),
    ]
    assert _narrow(large).schema.field("k").type == pa.int64()
    assert _narrow(small).schema.field("__row").type == pa.int64()
    assert _narrow(text).equals(text)
    assert _narrow(pa.table({"__row": pa.array([], pa.int64()), "k": pa.array([], pa.int64())})).num_rows == 0
