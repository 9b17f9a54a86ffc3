"""The shared DuckDB warehouse: one writer at a time, metadata schemas, run history and state."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterator
from enum import Enum
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from lgsp.core import duck
from lgsp.core.settings import Settings
from lgsp.warehouse.errors import WarehouseBusy, WarehouseError
from lgsp.warehouse.lake import Lake, log_wait, retry_conflicts
from lgsp.warehouse.runs import PUBLISHED, STORED, RunRecord

_META = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE TABLE IF NOT EXISTS meta.runs (
    run_id VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    mode VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    status VARCHAR NOT NULL,
    rows_extracted BIGINT,
    rows_published BIGINT,
    rows_quarantined BIGINT,
    rows_warned BIGINT,
    cursor_from VARCHAR,
    cursor_to VARCHAR,
    report VARCHAR,
    error VARCHAR,
    PRIMARY KEY (dataset_id, run_id)
);
ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS rows_rejected BIGINT;
ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS rows_superseded BIGINT;
ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS rows_deleted BIGINT;
CREATE TABLE IF NOT EXISTS meta.state (
    dataset_id VARCHAR PRIMARY KEY,
    cursor_column VARCHAR,
    cursor VARCHAR,
    run_id VARCHAR,
    updated_at TIMESTAMP
);
ALTER TABLE meta.state ADD COLUMN IF NOT EXISTS deletes_cursor VARCHAR;
CREATE TABLE IF NOT EXISTS meta.lineage (
    dataset_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    input_id VARCHAR NOT NULL,
    input_run_id VARCHAR,
    PRIMARY KEY (dataset_id, run_id, input_id)
);
"""

RUN_COLUMNS = STORED  # meta.runs holds the stored fields of RunRecord, in its order


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# The meta tables _META makes: a lake reader makes them (in its rolled-back transaction) if one is missing.
_META_TABLES = set(re.findall(r"CREATE TABLE IF NOT EXISTS meta\.(\w+)", _META))


class Warehouse:
    """$LGSP_HOME/warehouse.duckdb. DuckDB allows one writer process, so writers take a file lock.
    With LGSP_LAKE_CATALOG set, a DuckLake instead (lgsp.warehouse.lake): the same connections,
    serialised per dataset."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.warehouse_path
        self.lock = FileLock(str(self.path) + ".lock")
        self.lake = Lake(settings) if settings.lake else None

    def exists(self) -> bool:
        """Whether there is a warehouse to read: the DuckDB file, or a lake (always: its catalog
        is made on first use)."""
        return self.lake is not None or self.path.exists()

    def hide(self, text: str) -> str:
        """`text` (an error's) without the lake catalog's password or the S3 secret: for errors
        caught inside a writer, before they are recorded (those leaving it are masked already)."""
        return self.lake.hide(text) if self.lake is not None else text

    def stamp(self) -> tuple[int, ...]:
        """Changes whenever a writer commits (the file's and its log's times and sizes, or the
        lake's newest snapshot id), without opening the warehouse: caches ask it before reading."""
        if self.lake is not None:
            return (self.lake.latest_snapshot() or 0,)
        out: list[int] = []
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = p.stat()
                out += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                out += [0, 0]
        return tuple(out)

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duck.connect(
                self.path,
                memory_limit=self.settings.duckdb_memory_limit,
                threads=self.settings.duckdb_threads,
                temp_dir=self.settings.home / "tmp",
                read_only=read_only,
            )
        except (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException) as exc:
            reason = str(exc).splitlines()[0]
            if "could not set lock" in reason.lower() or "conflicting lock" in reason.lower():
                raise WarehouseBusy(f"{self.path} is held by another process: {reason}", file=str(self.path)) from None
            raise WarehouseError(
                f"không mở được kho dữ liệu / the warehouse cannot be opened ({reason}). Khôi phục từ bản "
                "sao lưu, hoặc chuyển tệp sang chỗ khác rồi chạy lại các bộ dữ liệu / Restore it from a backup "
                "copy, or move it aside and run every dataset again (lgsp run …) to rebuild it from the sources; "
                f"the releases in {self.settings.home / 'releases'} are not affected",
                file=str(self.path),
            ) from None

    @contextlib.contextmanager
    def writer(self, timeout: float = 600, dataset: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The single writer connection; waits up to `timeout` s for another writer to finish (a
        wait is logged, with its seconds in the record's `waited`: how long other writers held it up).
        On a lake, a writer naming its `dataset` waits only for writers of that dataset (and for
        those naming none)."""
        if self.lake is not None:
            with self.lake.writer(dataset, timeout) as con:
                retry_conflicts(lambda: duck.create_schema(con, _META))
                yield con
            return
        asked = time.perf_counter()
        try:
            self.lock.acquire(timeout=timeout)
        except Timeout:
            raise WarehouseBusy(f"another process is writing {self.path}; waited {timeout:.0f} s") from None
        log_wait(time.perf_counter() - asked, "khoá ghi kho dữ liệu", "the warehouse writer lock")
        try:
            con = self._connect()
            try:
                duck.create_schema(con, _META)
                yield con
            finally:
                con.close()
        finally:
            self.lock.release()

    @contextlib.contextmanager
    def reader(self, timeout: float = 600) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection for reading; it takes the writer lock too, because DuckDB
        refuses any other process while one holds the file open for writing. On a lake, no lock:
        one snapshot, read in a transaction that is rolled back."""
        if self.lake is not None:
            with self.lake.reader() as con:
                have = {
                    r[0]
                    for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'meta'").fetchall()
                }
                if not _META_TABLES <= have:  # a lake no writer of this version has used yet
                    duck.create_schema(con, _META)  # (in the reader's transaction: rolled back)
                yield con
            return
        with self.writer(timeout) as con:
            yield con

    # -- runs and state -------------------------------------------------------------------------

    @staticmethod
    def record_run(con: duckdb.DuckDBPyConnection, run: RunRecord) -> None:
        """Write a run's record, replacing its earlier one. DELETE then INSERT, not INSERT OR REPLACE:
        a DuckLake table has no key, and a DELETE that finds nothing (a run's first record, as a
        publish writes it) does not conflict with another dataset's publish committing at once."""
        values = [v.value if isinstance(v, Enum) else v for v in (getattr(run, c) for c in RUN_COLUMNS)]
        con.execute("DELETE FROM meta.runs WHERE dataset_id = ? AND run_id = ?", [run.dataset_id, run.run_id])
        con.execute(
            f"INSERT INTO meta.runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})",
            values,
        )

    @staticmethod
    def cursor(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str | None:
        row = con.execute(
            "SELECT cursor FROM meta.state WHERE dataset_id = ? ORDER BY updated_at DESC LIMIT 1", [dataset_id]
        ).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def record_state(
        con: duckdb.DuckDBPyConnection,
        dataset_id: str,
        cursor_column: str,
        run_id: str,
        cursor: str | None,
        deletes_cursor: str | None,
    ) -> None:
        """Move a dataset's incremental cursors (a None keeps that cursor where it was). On a DuckLake
        a new row is added (the latest is read): updating one would conflict with every other
        dataset's publish that commits at the same time."""
        if duck.is_lake(con):
            con.execute(
                "INSERT INTO meta.state (dataset_id, cursor_column, cursor, run_id, updated_at, deletes_cursor) "
                "SELECT ?, ?, coalesce(?, (SELECT cursor FROM meta.state WHERE dataset_id = ? "
                "ORDER BY updated_at DESC LIMIT 1)), ?, ?, coalesce(?, (SELECT deletes_cursor FROM meta.state "
                "WHERE dataset_id = ? ORDER BY updated_at DESC LIMIT 1))",
                [dataset_id, cursor_column, cursor, dataset_id, run_id, utcnow(), deletes_cursor, dataset_id],
            )
            return
        con.execute(
            "INSERT INTO meta.state (dataset_id, cursor_column, cursor, run_id, updated_at, deletes_cursor) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dataset_id) DO UPDATE SET cursor_column = excluded.cursor_column, "
            "cursor = coalesce(excluded.cursor, cursor), run_id = excluded.run_id, "
            "updated_at = excluded.updated_at, deletes_cursor = coalesce(excluded.deletes_cursor, deletes_cursor)",
            [dataset_id, cursor_column, cursor, run_id, utcnow(), deletes_cursor],
        )

    @staticmethod
    def deletes_cursor(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str | None:
        """The last tombstone cursor a run applied (incremental.deletes, mode tombstones), or None."""
        row = con.execute(
            "SELECT deletes_cursor FROM meta.state WHERE dataset_id = ? ORDER BY updated_at DESC LIMIT 1", [dataset_id]
        ).fetchone()
        return None if row is None else row[0]

    def runs(self, dataset_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        with self.reader() as con:
            sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM meta.runs"
            params: list[Any] = []
            if dataset_id:
                sql += " WHERE dataset_id = ?"
                params.append(dataset_id)
            sql += " ORDER BY started_at DESC LIMIT ?"
            params.append(limit)
            return [_record(r) for r in con.execute(sql, params).fetchall()]

    def run(self, dataset_id: str, run_id: str) -> RunRecord | None:
        """One run's record, or None."""
        with self.reader() as con:
            return Warehouse.run_record(con, dataset_id, run_id)

    @staticmethod
    def run_record(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> RunRecord | None:
        """One run's record through an open connection, or None."""
        row = con.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM meta.runs WHERE dataset_id = ? AND run_id = ?",
            [dataset_id, run_id],
        ).fetchone()
        return None if row is None else _record(row)

    @staticmethod
    def latest_published(con: duckdb.DuckDBPyConnection, dataset_id: str) -> RunRecord | None:
        """The run whose rows the published table holds now (published or partial, the last to
        end), or None when no run of the dataset has published. A run held for review ends when it
        is held, but a later run that publishes discards it, so the last to end is still the one.
        A retraction or correction (mode `edit`) is not a run of the source: the run before it is."""
        row = con.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM meta.runs WHERE dataset_id = ? AND list_contains(?, status) "
            "AND mode IS DISTINCT FROM 'edit' "
            "ORDER BY ended_at DESC NULLS LAST, started_at DESC NULLS LAST, run_id DESC LIMIT 1",
            [dataset_id, [s.value for s in PUBLISHED]],
        ).fetchone()
        return None if row is None else _record(row)

    @staticmethod
    def record_lineage(
        con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, inputs: dict[str, str | None]
    ) -> None:
        """Which run of each input a derived dataset's run read (replacing a retried run's)."""
        con.execute("DELETE FROM meta.lineage WHERE dataset_id = ? AND run_id = ?", [dataset_id, run_id])
        for input_id, input_run in sorted(inputs.items()):
            con.execute("INSERT INTO meta.lineage VALUES (?, ?, ?, ?)", [dataset_id, run_id, input_id, input_run])

    @staticmethod
    def lineage(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> dict[str, str | None]:
        """Input id → the input run a derived dataset's run read; empty for any other run."""
        rows = con.execute(
            "SELECT input_id, input_run_id FROM meta.lineage WHERE dataset_id = ? AND run_id = ? ORDER BY input_id",
            [dataset_id, run_id],
        ).fetchall()
        return {str(r[0]): r[1] for r in rows}

    def latest_runs(self) -> dict[str, RunRecord]:
        """The most recent run of every dataset, by dataset id."""
        with self.reader() as con:
            rows = con.execute(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM meta.runs "
                "QUALIFY row_number() OVER (PARTITION BY dataset_id ORDER BY started_at DESC) = 1"
            ).fetchall()
        return {r[1]: _record(r) for r in rows}


def _record(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord.model_validate(dict(zip(RUN_COLUMNS, row, strict=True)))
