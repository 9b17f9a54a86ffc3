"""Read-only copies of published tables for the sharing API, one per published run.

Shared and restricted datasets have no release files, and the server must not keep the
warehouse open (DuckDB allows one writer process, and readers from other processes conflict with
it). So each dataset's latest published run is copied once, under the warehouse lock, into
`$LGSP_HOME/cache/sharing/<dataset>-<run>.duckdb`, ordered by the primary key with `_id` (the
row's position) and an index on the key; requests read that copy. When the warehouse file
changes, `meta.runs` is read again (at most every `check_every` seconds, never waiting on a busy
writer) and a newer published run gets a new copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from filelock import FileLock

from lgsp.core import duck
from lgsp.core.duck import is_lake, literal, quote
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract
from lgsp.warehouse.errors import WarehouseError
from lgsp.warehouse.store import Warehouse

VIEW_ROWS = 200_000  # a grant letting more rows through is read with queries, not held in memory
MAX_VIEWS = 64


@dataclass(frozen=True)
class Snapshot:
    dataset: str
    run_id: str
    table: str  # the attached table to query
    rows: int
    path: Path

    @property
    def tag(self) -> str:
        """Names this copy in cursors (a position in one copy means nothing in another)."""
        return self.path.stem.rsplit("-", 1)[-1][:8]


class Snapshots:
    """One in-process DuckDB (one thread per query) with each dataset's current copy attached."""

    def __init__(self, settings: Settings, check_every: float = 2.0) -> None:
        self.settings = settings
        self.cache_dir = settings.home / "cache" / "sharing"
        self.check_every = check_every
        self._con = duckdb.connect(config={"autoinstall_known_extensions": False})
        self._con.execute("SET threads = 1")  # small queries: parallelism comes from concurrent requests
        self._con.execute("SET preserve_insertion_order = true")  # pages rely on scans in `_id` order
        self.shares: dict[tuple[object, ...], float] = {}
        self._lock = threading.Lock()  # guards the connection's catalogue (ATTACH, cursor)
        self._readers = threading.BoundedSemaphore(os.cpu_count() or 2)
        self._views: dict[tuple[object, ...], pa.Table | None] = {}
        self._building = threading.Lock()
        self._refreshing = threading.Lock()
        self._current: dict[str, Snapshot] = {}
        self._published: dict[str, str] | None = None  # dataset -> latest published run id
        self._stamp: tuple[int, ...] = ()
        self._checked = 0.0

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one request's queries. At most as many requests query at once as there
        are cores: more would only take turns on them, slower for all (the rest wait here)."""
        with self._readers:
            with self._lock:
                cur = self._con.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def _latest_runs(self, blocking: bool) -> None:
        """Read the latest published run of every dataset, if the warehouse changed."""
        now = time.monotonic()
        if self._published is not None and now - self._checked < self.check_every:
            return
        if not self._refreshing.acquire(blocking=blocking):
            return  # another request is looking; serve what we have
        try:
            self._checked = now
            warehouse = Warehouse(self.settings)
            try:
                stamp = warehouse.stamp()
                if stamp == self._stamp and self._published is not None:
                    return
                if not warehouse.exists():
                    self._published, self._stamp = {}, stamp
                    return
                with warehouse.reader(timeout=30 if blocking else 0.2) as con:
                    rows = con.execute(
                        "SELECT dataset_id, run_id FROM meta.runs WHERE status IN ('published', 'partial') "
                        "QUALIFY row_number() OVER (PARTITION BY dataset_id ORDER BY ended_at DESC) = 1"
                    ).fetchall()
            except WarehouseError as exc:
                if self._published is None or not exc.transient:
                    raise
                # A pipeline is publishing, or a lake's catalog is out of reach for a moment: keep
                # serving the current copies, look again soon.
                return
            self._published = {dataset: run for dataset, run in rows}
            # A lake: the snapshot read before, so a commit during the read is seen next time. The
            # file: its stamp after, as reading it (with the writer's connection) may touch it.
            self._stamp = stamp if warehouse.lake is not None else warehouse.stamp()
        finally:
            self._refreshing.release()

    def get(self, contract: Contract) -> Snapshot | None:
        """The current copy of a dataset's published table, or None if it was never published."""
        self._latest_runs(blocking=self._published is None)
        published = self._published or {}
        run_id = published.get(contract.id)
        if run_id is None:
            return None
        current = self._current.get(contract.id)
        if current is not None and current.run_id == run_id:
            return current
        try:
            snapshot = self._attach(contract, run_id)
        except WarehouseError as exc:
            if current is not None and exc.transient:
                return current  # the newer copy is made on a later request
            raise
        self._current[contract.id] = snapshot
        return snapshot

    def _attach(self, contract: Contract, run_id: str) -> Snapshot:
        digest = hashlib.sha256(f"{contract.id}\0{run_id}\0{','.join(contract.primary_key)}".encode()).hexdigest()[:16]
        alias = f"s_{contract.id}_{digest}"
        path = self.cache_dir / f"{contract.id}-{digest}.duckdb"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=120):
            if not path.exists():
                self._build(contract, path)
            with self._lock:
                attached = {r[0] for r in self._con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
                if alias not in attached:
                    self._con.execute(f"ATTACH {literal(str(path))} AS {alias} (READ_ONLY)")
                rows = self._con.execute(f"SELECT count(*) FROM {alias}.data").fetchone()[0]  # type: ignore[index]
        old = self._current.get(contract.id)
        if old is not None and old.path != path:
            # The older copy's file goes (queries still reading it keep their open file).
            old.path.unlink(missing_ok=True)
        return Snapshot(contract.id, run_id, f"{alias}.data", int(rows), path)

    def _build(self, contract: Contract, path: Path) -> None:
        """Copy main.<dataset> under the warehouse lock (briefly), ordered by the key."""
        building = path.with_suffix(".building")
        building.unlink(missing_ok=True)
        key = ", ".join(quote(k) for k in contract.primary_key)
        ordered = f"SELECT row_number() OVER (ORDER BY {key}) AS _id, * FROM main.{quote(contract.id)} ORDER BY {key}"
        with Warehouse(self.settings).reader(timeout=5) as con:
            if is_lake(con):
                # A lake's reader is one transaction, and one transaction writes one database: the
                # rows come over as Arrow batches into the copy's own connection.
                s = self.settings
                copy = duck.connect(building, memory_limit=s.duckdb_memory_limit, temp_dir=s.home / "tmp")
                try:
                    copy.execute("SET preserve_insertion_order = true")
                    copy.register("published", con.execute(ordered).fetch_record_batch())
                    copy.execute("CREATE TABLE data AS SELECT * FROM published")
                finally:
                    copy.close()
            else:
                con.execute(f"ATTACH {literal(str(building))} AS snap")
                try:
                    con.execute("SET preserve_insertion_order = true")
                    con.execute(f"CREATE TABLE snap.data AS {ordered}")
                finally:
                    con.execute("DETACH snap")
        con = duckdb.connect(str(building))
        try:
            con.execute(f"CREATE UNIQUE INDEX data_key ON data ({key})")  # record look-ups and cursors
        finally:
            con.close()
        building.rename(path)

    def view(self, snapshot: Snapshot, columns: tuple[str, ...], where: list[str], args: list[Any]) -> pa.Table | None:
        """The rows a grant lets through, its columns and `_id`, in key order, held in memory
        (Arrow), or None when there are more than VIEW_ROWS of them. A page of such a view is a
        slice: no query, no scan. Built once per copy and grant; the oldest views make room."""
        key = (snapshot.table, columns, tuple(where), tuple(args))
        found = self._views.get(key)
        if found is not None or key in self._views:
            return found
        with self._building:
            if key in self._views:
                return self._views[key]
            condition = f"WHERE {' AND '.join(where)}" if where else ""
            with self.reading() as cur:
                matching = cur.execute(f"SELECT count(*) FROM {snapshot.table} {condition}", args).fetchone()[0]  # type: ignore[index]
                table = None
                if matching <= VIEW_ROWS:
                    selected = ", ".join(quote(c) for c in ("_id", *columns))
                    result = cur.execute(
                        f"SELECT {selected} FROM {snapshot.table} {condition} ORDER BY _id", args
                    ).arrow()
                    table = result.read_all() if hasattr(result, "read_all") else result
            while len(self._views) >= MAX_VIEWS:
                self._views.pop(next(iter(self._views)))
            self._views[key] = table
            return table

    def close(self) -> None:
        self._con.close()
