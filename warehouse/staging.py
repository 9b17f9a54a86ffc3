"""A run's staging: its rows wait, already typed, in a DuckDB file of the run's own.

Every step before publishing works in that file (`$LGSP_HOME/staging/<dataset>/<run>/lgsp_run.duckdb`)
without the warehouse's writer lock: a long scan, a slow API or the validation of one dataset never
holds up another dataset's publish. Sources DuckDB can scan are copied straight in; streamed
sources (SQLAlchemy, files) are spooled there first, and chunked ones (APIs) typed chunk by chunk.
Publishing attaches the file read-only and copies the rows it publishes into the warehouse in its
one transaction. A manifest file carries what each step tells the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract
from lgsp.warehouse import changes, projection
from lgsp.warehouse.runs import RunManifest

STAGE_PREFIX = "_lgsp_stage__"
RUN_DB = "lgsp_run"  # the run file's catalogue: its own name when opened, its alias when attached


class Staging:
    """Staging of one run of one dataset: manifest and rows under $LGSP_HOME/staging/<dataset>/<run>/,
    the rows in table `_lgsp_stage__<dataset>__<key>` of the run's file. Table names are qualified
    with the run file's catalogue (`lgsp_run.main.…`), so the same SQL works in the run file's own
    connection and in the warehouse's with the file attached."""

    def __init__(self, settings: Settings, dataset: str, run_id: str) -> None:
        self.settings = settings
        self.dataset = dataset
        self.run_id = run_id
        key = hashlib.sha1(run_id.encode()).hexdigest()[:12]
        self.dir = settings.staging_dir / dataset / key
        self.table = f"{STAGE_PREFIX}{dataset}__{key}"
        self.failures = f"_lgsp_failures__{dataset}__{key}"
        self.misfits = f"_lgsp_misfits__{dataset}__{key}"
        self.deletes = f"_lgsp_deletes__{dataset}__{key}"

    @property
    def path(self) -> Path:
        """The run's DuckDB file."""
        return self.dir / f"{RUN_DB}.duckdb"

    @staticmethod
    def _in_run(name: str) -> str:
        return f"{RUN_DB}.main.{quote(name)}"

    @property
    def stage(self) -> str:
        return self._in_run(self.table)

    @property
    def incoming(self) -> str:
        """The rows a publish keeps, copied into the warehouse inside its transaction (never
        outliving it: they become the table, are merged into it, or are held for review)."""
        return f"main.{quote(self.table)}"

    @property
    def failures_table(self) -> str:
        return self._in_run(self.failures)

    @property
    def misfits_table(self) -> str:
        """The raw text of values that did not fit their declared type: `row` (the stage's row
        id) and one column per contract column that had any."""
        return self._in_run(self.misfits)

    @property
    def deletes_table(self) -> str:
        """The keys the source deleted (incremental.deletes), typed as the primary key, written by
        extract before the rows are read (for a key diff: every key the source still has)."""
        return self._in_run(self.deletes)

    def has_deletes(self, con: duckdb.DuckDBPyConnection) -> bool:
        return duck.table_exists(con, "main", self.deletes, database=RUN_DB)

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    # -- the run's file ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the run's file alone (no warehouse lock: the file is the run's own)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        con = duck.connect(
            self.path,
            memory_limit=self.settings.duckdb_memory_limit,
            threads=self.settings.duckdb_threads,
            temp_dir=self.dir / "tmp",
        )
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def attached(self, con: duckdb.DuckDBPyConnection, read_only: bool = False) -> Iterator[None]:
        """The run's file attached to a warehouse connection, as `lgsp_run`."""
        mode = " (READ_ONLY)" if read_only else ""
        con.execute(f"ATTACH {duck.literal(str(self.path))} AS {RUN_DB}{mode}")
        try:
            yield
        finally:
            con.execute(f"DETACH {RUN_DB}")

    def exists(self) -> bool:
        return self.path.exists()

    # -- loading ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start the run afresh (a retried task must not append to a half-written stage)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def load_scan(self, con: duckdb.DuckDBPyConnection, contract: Contract, scan: Any, merge: bool = False) -> int:
        """Let DuckDB copy a source it can read (a connector's `Scan`) straight into the stage; the
        scan attaches what it reads (`attach`) and lets go of it after (`detach`). `merge`: the run
        merges into the published rows, so rows the source marks deleted become deletions. `con` is
        the run file's own connection, or the warehouse's with the file attached for a scan that
        reads the warehouse (a derived dataset)."""
        scan.attach(con)
        try:
            try:
                types = duck.source_types(con, scan.base_sql)
                sql, params = scan.query(types)
                self._create(con, contract, f"({sql})", params, types, merge)
            except duckdb.Error as exc:
                raise scan.error(exc) from exc
        finally:
            scan.detach(con)
        return self._finish(con)

    def spool(
        self, con: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader, contract: Contract, merge: bool = False
    ) -> int:
        """Stream batches into the run's file as they come (a slow source types nothing while it
        trickles in), then type them into the stage in one copy (`merge` as for `load_scan`)."""
        spooled = self._in_run("_lgsp_spooled")
        with duck.registered(con, "extracted", reader):
            con.execute(f"CREATE TABLE {spooled} AS SELECT * FROM extracted")
        types = duck.source_types(con, f"SELECT * FROM {spooled}")
        self._create(con, contract, spooled, [], types, merge)
        con.execute(f"DROP TABLE {spooled}")
        return self._finish(con)

    def _create(
        self,
        con: duckdb.DuckDBPyConnection,
        contract: Contract,
        rows: str,
        params: list[Any],
        types: dict[str, str],
        merge: bool,
    ) -> None:
        """The stage from `rows`, typed. With a soft-delete marker, the rows it marks are not staged:
        a full pull leaves them out (the dataset is replaced), a merge keeps their keys as deletions."""
        select = projection.stage_select(contract, types)
        if projection.DELETED not in types:
            con.execute(f"CREATE TABLE {self.stage} AS SELECT {select} FROM {rows}", params)
            return
        deletes = contract.incremental.deletes if contract.incremental else None
        assert deletes is not None, "a marker column is read only for incremental.deletes"
        marked = projection.marked_deleted(deletes.deleted_when.value)
        if not merge:
            con.execute(f"CREATE TABLE {self.stage} AS SELECT {select} FROM {rows} WHERE NOT ({marked})", params)
            return
        incoming = self._in_run("_lgsp_incoming")
        flag = quote("_lgsp_is_deleted")
        con.execute(f"CREATE TABLE {incoming} AS SELECT {select}, {marked} AS {flag} FROM {rows}", params)
        keys = ", ".join(quote(k) for k in contract.primary_key)
        present = " AND ".join(f"{quote(k)} IS NOT NULL" for k in contract.primary_key)
        con.execute(
            f"CREATE TABLE {self.deletes_table} AS SELECT DISTINCT {keys} FROM {incoming} WHERE {flag} AND {present}"
        )
        con.execute(f"CREATE TABLE {self.stage} AS SELECT * EXCLUDE ({flag}) FROM {incoming} WHERE NOT {flag}")
        con.execute(f"DROP TABLE {incoming}")

    def chunk_sink(self, con: duckdb.DuckDBPyConnection, contract: Contract) -> Callable[[str], int]:
        """A sink for connectors that stage their rows chunk by chunk (`select` gives text or
        typed source columns): each chunk is typed into the stage as it comes. The connector may
        call it from a thread of its own (one call at a time). Returns the rows each chunk added."""

        def sink(select: str) -> int:
            cur = con.cursor()
            try:
                types = duck.source_types(cur, select)
                typed = f"SELECT {projection.stage_select(contract, types)} FROM ({select})"
                if not duck.table_exists(cur, "main", self.table, database=RUN_DB):
                    cur.execute(f"CREATE TABLE {self.stage} AS {typed}")
                    return int(cur.execute(f"SELECT count(*) FROM {self.stage}").fetchone()[0])  # type: ignore[index]
                return int((cur.execute(f"INSERT INTO {self.stage} {typed}").fetchone() or (0,))[0])
            finally:
                cur.close()

        return sink

    def finish(self, con: duckdb.DuckDBPyConnection) -> int:
        """Close a chunked load: the run's failures table, and the rows staged."""
        return self._finish(con)

    def _finish(self, con: duckdb.DuckDBPyConnection) -> int:
        """Move the raw text of misfit values out of the stage (which then holds only what it
        will publish) and create the run's failures table; returns the rows staged."""
        raws = projection.raw_columns(self.columns(con))
        if raws:
            texts = ", ".join(f"{quote(r)} AS {quote(r.removeprefix(projection.RAW_PREFIX))}" for r in raws)
            any_raw = " OR ".join(f"{quote(r)} IS NOT NULL" for r in raws)
            con.execute(
                f"CREATE TABLE {self.misfits_table} AS SELECT rowid AS row, {texts} FROM {self.stage} WHERE {any_raw}"
            )
            for raw in raws:  # row ids stay as they are: the misfits table keeps pointing at its rows
                con.execute(f"ALTER TABLE {self.stage} DROP COLUMN {quote(raw)}")
        else:
            con.execute(f"CREATE TABLE {self.misfits_table} (row BIGINT)")
        con.execute(f"CREATE TABLE {self.failures_table} (row BIGINT, check_key VARCHAR, reason VARCHAR)")
        return int(con.execute(f"SELECT count(*) FROM {self.stage}").fetchone()[0])  # type: ignore[index]

    def misfit_columns(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Contract columns with values that did not fit their type in this run."""
        return [r[0] for r in con.execute(f"DESCRIBE {self.misfits_table}").fetchall() if r[0] != "row"]

    def columns(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        return [r[0] for r in con.execute(f"DESCRIBE {self.stage}").fetchall()]

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        """Remove what the run may have left in the warehouse (a derived run's groups; the stage
        tables that runs of older versions kept there): they may hold personal data."""
        names = (self.table, self.failures, self.misfits, self.deletes)
        for table in (*(f"main.{quote(n)}" for n in names), changes.groups_table(self.dataset)):
            con.execute(f"DROP TABLE IF EXISTS {table}")

    # -- the manifest ---------------------------------------------------------------------------

    def write_manifest(self, manifest: RunManifest) -> RunManifest:
        """Keep the run's manifest (what each step tells the next), replacing it atomically."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(manifest.model_dump_json(indent=1, by_alias=True), encoding="utf-8")
        tmp.replace(self.manifest_path)
        return manifest

    def read_manifest(self) -> RunManifest | None:
        """The run's manifest, or None before extract wrote it."""
        if not self.manifest_path.exists():
            return None
        return RunManifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))

    def remove_files(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def remove_leftovers(self) -> list[Path]:
        """Remove the folders of this dataset's other runs: runs that died (killed, machine lost)
        before they could clean up, whose files may hold personal data. A dataset runs one at a time
        (Airflow's max_active_runs=1, `lgsp run`'s wait), so once a run has published, any other
        run's folder is a leftover. Returns the folders removed."""
        found = (
            [d for d in self.dir.parent.iterdir() if d.is_dir() and d != self.dir] if self.dir.parent.exists() else []
        )
        for folder in found:
            shutil.rmtree(folder, ignore_errors=True)
        return found
