"""Publish a validated run: quarantine the failing rows and swap the stage in, atomically.

The stage already sits in the warehouse, typed, so publishing a full refresh is a rename, not a
copy. One transaction does everything readers can see (the quarantine rows, the table, the
cursor and the run record) at once: a run killed before it commits leaves the previous version,
and DuckDB discards an uncommitted transaction when the process dies.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse import projection
from lgsp.warehouse.errors import WarehouseError
from lgsp.warehouse.runs import RunRecord, RunStatus
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import Warehouse, utcnow

log = logging.getLogger(__name__)
QUARANTINE_COLUMNS = "_run_id VARCHAR, _row BIGINT, _checks VARCHAR[], _reasons VARCHAR, _quarantined_at TIMESTAMP"


@dataclass(frozen=True)
class Outcome:
    status: RunStatus  # published | rejected
    rows_published: int
    rows_quarantined: int
    cursor_to: str | None


def _ensure_quarantine(con: duckdb.DuckDBPyConnection, contract: Contract, hub_columns: list[str]) -> str:
    table = f"quarantine.{quote(contract.id)}"
    data_columns = ", ".join(f"{quote(c.name)} VARCHAR" for c in contract.columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({QUARANTINE_COLUMNS}, {data_columns})")
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for name in [c.name for c in contract.columns] + hub_columns:
        if name not in have:  # the contract gained a column since the table was made
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} VARCHAR")
    return table


def _drop_leftovers(con: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    """Drop stage tables of this dataset's earlier runs that died (killed, machine lost) before
    they could clean up: they may hold personal data. A dataset runs one at a time (Airflow's
    max_active_runs=1), so any other stage of it is a leftover."""
    pattern = f"_lgsp_(stage|failures|misfits|quarantine)__{re.escape(dataset_id)}__[0-9a-f]{{12}}"
    leftovers = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND regexp_full_match(table_name, ?)",
        [pattern],
    ).fetchall()
    for (name,) in leftovers:
        con.execute(f"DROP TABLE main.{quote(name)}")


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    return int(con.execute(sql, params or []).fetchone()[0])  # type: ignore[index]


def publish(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: RunRecord,
    *,
    rejected_by: list[str],
    incremental: bool,
) -> Outcome:
    """Publish (or, when `rejected_by` names failed error-severity checks, quarantine) a staged run.

    `run` is the meta.runs record to write; its counts and status are filled in here.
    Raises WarehouseError if a step fails; the published table is unchanged then.
    """
    try:
        merge = incremental and not rejected_by and duck.table_exists(con, "main", contract.id)
        hub_columns = projection.hub_columns(staging.columns(con))
        if merge:
            _add_new_columns(con, contract, hub_columns)
        return _swap(con, contract, staging, run, rejected_by, merge, hub_columns)
    except duckdb.Error as exc:
        raise WarehouseError(f"publish failed: {str(exc).splitlines()[0]}", dataset=contract.id) from exc


def _set_aside(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: RunRecord,
    rejected_by: list[str],
    quarantine: str,
    hub_columns: list[str],
) -> int:
    """Copy the failing rows (raw values as text) to the quarantine table, with the checks they
    failed and why, and take them out of the stage; returns how many."""
    stage, failures = staging.stage, staging.failures_table
    misfits = set(staging.misfit_columns(con))
    texts = ", ".join(
        f"COALESCE(m.{quote(c.name)}, CAST(s.{quote(c.name)} AS VARCHAR)) AS {quote(c.name)}"
        if c.name in misfits
        else f"CAST(s.{quote(c.name)} AS VARCHAR) AS {quote(c.name)}"
        for c in contract.columns
    )
    texts += "".join(f", s.{quote(h)}" for h in hub_columns)
    raw = f" LEFT JOIN {staging.misfits_table} m ON m.row = s._row" if misfits else ""
    # Sorting the lists after aggregating is much cheaper than ordered aggregates.
    findings = (
        "SELECT row, list_sort(list(DISTINCT check_key)) AS checks, "
        f"array_to_string(list_sort(list(reason)), '; ') AS reasons FROM {failures} GROUP BY row"
    )
    if rejected_by:
        found = con.execute(
            f"INSERT INTO {quarantine} BY NAME SELECT ? AS _run_id, s._row AS _row, "
            "list_concat(['rejected'], coalesce(f.checks, [])) AS _checks, "
            f"? || coalesce('; ' || f.reasons, '') AS _reasons, ? AS _quarantined_at, {texts} "
            f"FROM (SELECT rowid AS _row, * FROM {stage}) s LEFT JOIN ({findings}) f ON s._row = f.row{raw}",
            [run.run_id, "run rejected by " + ", ".join(rejected_by), utcnow()],
        ).fetchone()
        con.execute(f"DROP TABLE {stage}")
        return int(found[0]) if found else 0
    # Pick the failing rows by row id first, so the join runs over them only.
    found = con.execute(
        f"INSERT INTO {quarantine} BY NAME SELECT ? AS _run_id, s._row AS _row, "
        f"f.checks AS _checks, f.reasons AS _reasons, ? AS _quarantined_at, {texts} "
        f"FROM (SELECT rowid AS _row, * FROM {stage} WHERE rowid IN (SELECT row FROM {failures})) s "
        f"JOIN ({findings}) f ON s._row = f.row{raw}",
        [run.run_id, utcnow()],
    ).fetchone()
    if found and found[0]:
        con.execute(f"DELETE FROM {stage} WHERE rowid IN (SELECT row FROM {failures})")
    return int(found[0]) if found else 0


def _add_new_columns(con: duckdb.DuckDBPyConnection, contract: Contract, hub_columns: list[str]) -> None:
    """An incremental dataset whose contract gained a column gets it (empty for older rows)."""
    have = {r[0] for r in con.execute(f"DESCRIBE main.{quote(contract.id)}").fetchall()}
    wanted = [(c.name, c.duckdb_type) for c in contract.columns] + [(h, "VARCHAR") for h in hub_columns]
    for name, kind in wanted:
        if name not in have:
            con.execute(f"ALTER TABLE main.{quote(contract.id)} ADD COLUMN {quote(name)} {kind}")


def _swap(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: RunRecord,
    rejected_by: list[str],
    merge: bool,
    hub_columns: list[str],
) -> Outcome:
    """The one transaction readers see: quarantine rows, the new table, cursor and run record.
    A run killed before it commits leaves everything as it was, stage included."""
    target = f"main.{quote(contract.id)}"
    con.execute("BEGIN TRANSACTION")
    try:
        quarantine = _ensure_quarantine(con, contract, hub_columns)
        quarantined = _set_aside(con, contract, staging, run, rejected_by, quarantine, hub_columns)
        cursor_to = None
        if rejected_by:
            status, published = RunStatus.REJECTED, 0
        else:
            status, published = RunStatus.PUBLISHED, _count(con, f"SELECT count(*) FROM {staging.stage}")
            if contract.incremental:
                # The cursor moves to the last row published.
                cursor = quote(contract.incremental.cursor)
                cursor_to = con.execute(f"SELECT CAST(max({cursor}) AS VARCHAR) FROM {staging.stage}").fetchone()[0]  # type: ignore[index]
            if merge:
                match = " AND ".join(f"t.{quote(k)} = d.{quote(k)}" for k in contract.primary_key)
                con.execute(f"DELETE FROM {target} AS t USING {staging.stage} AS d WHERE {match}")
                con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {staging.stage}")
                con.execute(f"DROP TABLE {staging.stage}")
            else:
                con.execute(f"DROP TABLE IF EXISTS {target}")
                con.execute(f"ALTER TABLE {staging.stage} RENAME TO {quote(contract.id)}")
        if cursor_to is not None and contract.incremental:
            con.execute(
                "INSERT OR REPLACE INTO meta.state VALUES (?, ?, ?, ?, ?)",
                [contract.id, contract.incremental.cursor, cursor_to, run.run_id, utcnow()],
            )
        con.execute(f"DROP TABLE {staging.failures_table}")
        con.execute(f"DROP TABLE {staging.misfits_table}")
        _drop_leftovers(con, contract.id)
        run.status, run.rows_published, run.rows_quarantined = status, published, quarantined
        run.cursor_to, run.ended_at = cursor_to, utcnow()
        Warehouse.record_run(con, run)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT has rolled back already
            con.execute("ROLLBACK")
        raise
    # Fold the write-ahead log into the file now: a process killed after this (say, while it writes
    # the release) leaves nothing to replay; DuckDB 1.5 failed to replay this transaction's WAL
    # ("Conflict on tuple deletion") after a SIGKILL. The publish has committed either way, so a
    # checkpoint that fails (a full disk) is only logged: DuckDB checkpoints again on close.
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        log.warning("%s: checkpoint after publish failed (%s); the publish stands", contract.id, exc)
    return Outcome(status, published, quarantined, cursor_to)
