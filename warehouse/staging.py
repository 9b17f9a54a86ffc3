"""A run's staging area: its own DuckDB file, so extraction never holds the warehouse writer slot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lgsp import duck
from lgsp.settings import Settings


class Staging:
    """Files of one run under $LGSP_HOME/staging/<dataset>/<run_id>/: the staged rows and a manifest."""

    def __init__(self, settings: Settings, dataset: str, run_id: str) -> None:
        self.settings = settings
        self.dataset = dataset
        self.run_id = run_id
        self.dir = settings.staging_dir / dataset / run_id.replace(":", "_").replace("+", "_")

    @property
    def db_path(self) -> Path:
        return self.dir / "stage.duckdb"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return duck.connect(
            self.db_path,
            memory_limit=self.settings.duckdb_memory_limit,
            threads=self.settings.duckdb_threads,
            temp_dir=self.dir / "tmp",
            read_only=read_only,
        )

    def reset(self) -> None:
        """Start the run's staging afresh (a retried task must not append to a half-written stage)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def load(self, reader: pa.RecordBatchReader) -> int:
        """Stream the extracted batches into the `staged` table; returns rows staged."""
        con = self.connect()
        try:
            con.register("extracted", reader)
            con.execute("CREATE TABLE staged AS SELECT * FROM extracted")
            con.unregister("extracted")
            return self._finish(con)
        finally:
            con.close()

    def load_scan(self, scan: Any) -> int:
        """Let DuckDB copy a source it can read (a connector's `Scan`) straight into `staged`."""
        import duckdb

        con = self.connect()
        try:
            scan.attach(con)
            try:
                con.execute(f"CREATE TABLE staged AS {scan.sql}", list(scan.params))
            except duckdb.Error as exc:
                raise scan.error(exc) from exc
            con.execute("DETACH src")
            return self._finish(con)
        finally:
            con.close()

    @staticmethod
    def _finish(con: duckdb.DuckDBPyConnection) -> int:
        con.execute("CREATE TABLE failures (row BIGINT, check_key VARCHAR, reason VARCHAR)")
        return int(con.execute("SELECT count(*) FROM staged").fetchone()[0])  # type: ignore[index]

    def staged_types(self, con: duckdb.DuckDBPyConnection, table: str = "staged") -> dict[str, str]:
        return {name: str(kind) for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()}

    def write_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into the run's manifest (what each step tells the next)."""
        manifest = self.read_manifest()
        manifest.update(fields)
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        tmp.replace(self.manifest_path)
        return manifest

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
