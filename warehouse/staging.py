"""A run's staging: its rows wait, already typed, in a stage table beside the published one.

The stage lives in the warehouse file so that publishing is a rename, not a second copy of the
data. Sources DuckDB can scan are copied straight in; streamed sources (SQLAlchemy, APIs, files)
land first in a run-local DuckDB file, which needs no warehouse lock while a slow source trickles
in, and are then moved in one fast copy. A manifest file carries what each step tells the next.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
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


class Staging:
    """Staging of one run of one dataset: manifest under $LGSP_HOME/staging/<dataset>/<run>/,
    rows in the warehouse table main.`_lgsp_stage__<dataset>__<key>`."""

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
    def stage(self) -> str:
        return f"main.{quote(self.table)}"

    @property
    def failures_table(self) -> str:
        return f"main.{quote(self.failures)}"

    @property
    def misfits_table(self) -> str:
        """The raw text of values that did not fit their declared type: `row` (the stage's row
        id) and one column per contract column that had any."""
        return f"main.{quote(self.misfits)}"

    @property
    def deletes_table(self) -> str:
        """The keys the source deleted (incremental.deletes), typed as the primary key: written by
        extract, before the rows are read, and applied by publish."""
        return f"main.{quote(self.deletes)}"

    def has_deletes(self, con: duckdb.DuckDBPyConnection) -> bool:
        return duck.table_exists(con, "main", self.deletes)

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    # -- loading ----------------------------------------------------------------------------------

    def reset(self, con: duckdb.DuckDBPyConnection) -> None:
        """Start the run afresh (a retried task must not append to a half-written stage)."""
        self.drop(con)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def load_scan(self, con: duckdb.DuckDBPyConnection, contract: Contract, scan: Any, merge: bool = False) -> int:
        """Let DuckDB copy a source it can read (a connector's `Scan`) straight into the stage; the
        scan attaches what it reads (`attach`) and lets go of it after (`detach`). `merge`: the run
        merges into the published rows, so rows the source marks deleted become deletions."""
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

    @property
    def spool_path(self) -> Path:
        """The run-local DuckDB file a stream lands in (table `spooled`) before the stage."""
        return self.dir / "spool.duckdb"

    def spool(self, reader: pa.RecordBatchReader) -> Path:
        """Stream batches into the run-local file, without the warehouse lock; returns the file."""
        path = self.spool_path
        local = duck.connect(path, memory_limit=self.settings.duckdb_memory_limit, temp_dir=self.dir / "tmp")
        try:
            with duck.registered(local, "extracted", reader):
                local.execute("CREATE TABLE spooled AS SELECT * FROM extracted")
        finally:
            local.close()
        return path

    def load_spool(self, con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, merge: bool = False) -> int:
        """Move a spooled run into the stage in one copy, then delete the spool (`merge` as for `load_scan`)."""
        con.execute(f"ATTACH {duck.literal(str(path))} AS spool (READ_ONLY)")
        try:
            types = duck.source_types(con, "SELECT * FROM spool.spooled")
            self._create(con, contract, "spool.spooled", [], types, merge)
        finally:
            con.execute("DETACH spool")
        path.unlink()
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
        incoming = quote("_lgsp_incoming")  # a temporary table: it ends with the connection
        flag = quote("_lgsp_is_deleted")
        con.execute(f"CREATE TEMP TABLE {incoming} AS SELECT {select}, {marked} AS {flag} FROM {rows}", params)
        keys = ", ".join(quote(k) for k in contract.primary_key)
        present = " AND ".join(f"{quote(k)} IS NOT NULL" for k in contract.primary_key)
        con.execute(
            f"CREATE TABLE {self.deletes_table} AS SELECT DISTINCT {keys} FROM {incoming} WHERE {flag} AND {present}"
        )
        con.execute(f"CREATE TABLE {self.stage} AS SELECT * EXCLUDE ({flag}) FROM {incoming} WHERE NOT {flag}")
        con.execute(f"DROP TABLE {incoming}")

    def chunk_sink(self, warehouse: Any, contract: Contract) -> Callable[[str], int]:
        """A sink for connectors that stage their rows chunk by chunk (`select` gives text or
        typed source columns): each chunk is typed into the stage under a short writer lock, so
        a long pull never holds the warehouse. Returns the rows each chunk added."""

        def sink(select: str) -> int:
            with warehouse.writer() as con:
                con.execute("SET threads = 1")  # runs in the caller's thread: the connector sets its pace
                types = duck.source_types(con, select)
                typed = f"SELECT {projection.stage_select(contract, types)} FROM ({select})"
                if not duck.table_exists(con, "main", self.table):
                    con.execute(f"CREATE TABLE {self.stage} AS {typed}")
                    return int(con.execute(f"SELECT count(*) FROM {self.stage}").fetchone()[0])  # type: ignore[index]
                return int((con.execute(f"INSERT INTO {self.stage} {typed}").fetchone() or (0,))[0])

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
        """Remove the run's tables from the warehouse (they may hold personal data)."""
        tables = (self.stage, self.failures_table, self.misfits_table, self.deletes_table)
        for table in (*tables, changes.groups_table(self.dataset)):
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
