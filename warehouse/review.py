"""Runs held for review: a run that would have removed too many published rows waits, whole, in
the warehouse until someone confirms it (it is published then) or discards it.

The caller wraps each function in one transaction together with whatever else must agree (the
submissions' ledger), so a confirmation is published entirely or not at all.
"""

from __future__ import annotations

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse import changes, in_force, projection
from lgsp.warehouse.errors import WarehouseError
from lgsp.warehouse.publish import HELD_PREFIX, held_table
from lgsp.warehouse.runs import RunRecord, RunStatus
from lgsp.warehouse.store import RUN_COLUMNS, Warehouse, _record, utcnow


def held_runs(con: duckdb.DuckDBPyConnection, dataset_id: str | None = None) -> list[RunRecord]:
    """Runs waiting for review, oldest first."""
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM meta.runs WHERE status = 'held'"
    params = []
    if dataset_id:
        sql += " AND dataset_id = ?"
        params.append(dataset_id)
    rows = con.execute(sql + " ORDER BY ended_at", params).fetchall()
    return [r for r in map(_record, rows) if duck.table_exists(con, "main", held_table(r.dataset_id, r.run_id))]


def _held(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> tuple[RunRecord, str]:
    run = Warehouse.run_record(con, dataset_id, run_id)
    table = held_table(dataset_id, run_id)
    if run is None or run.status is not RunStatus.HELD or not duck.table_exists(con, "main", table):
        raise WarehouseError(
            f"không có lần chạy chờ xem xét / no run {run_id} of {dataset_id} is held for review", dataset=dataset_id
        )
    return run, table


def publish_held(con: duckdb.DuckDBPyConnection, contract: Contract, run_id: str, by: str) -> RunRecord:
    """Publish a held run as it was staged: its rows replace the dataset's, with the dataset's edits
    in force applied (lgsp.warehouse.edits)."""
    run, table = _held(con, contract.id, run_id)
    target = f"main.{quote(contract.id)}"
    columns = [r[0] for r in con.execute(f"DESCRIBE main.{quote(table)}").fetchall()]
    if run.mode == "incremental" and duck.table_exists(con, "main", contract.id):
        # A merging run waits as the whole dataset it makes: the published keys it lacks are its deletions.
        on = " AND ".join(f"t.{quote(k)} = h.{quote(k)}" for k in contract.primary_key)
        gone = con.execute(f"SELECT count(*) FROM {target} AS t ANTI JOIN main.{quote(table)} AS h ON {on}").fetchone()
        run.rows_deleted = int(gone[0]) if gone else 0
    con.execute(f"DROP TABLE IF EXISTS {target}")
    if projection.PROBLEMS in columns:
        con.execute(
            f"CREATE TABLE {target} AS SELECT * EXCLUDE ({quote(projection.PROBLEMS)}) FROM main.{quote(table)}"
        )
        con.execute(f"DROP TABLE main.{quote(table)}")
    else:
        con.execute(f"ALTER TABLE main.{quote(table)} RENAME TO {quote(contract.id)}")
    run.rows_published = int(con.execute(f"SELECT count(*) FROM {target}").fetchone()[0])  # type: ignore[index]
    changes.replaced(con, contract.id, run_id, "a run held for review, then confirmed")
    # Edits made while the run waited (or before it) stay in force, as at any publish.
    edited = in_force.apply(con, contract, target)
    run.status = RunStatus.PARTIAL if run.rows_rejected else RunStatus.PUBLISHED
    run.error = f"giữ lại rồi được {by} xác nhận / held, then confirmed by {by} at {utcnow():%Y-%m-%d %H:%M} UTC"
    if edited:
        run.error += f"; {in_force.note(edited)}"
    Warehouse.record_run(con, run)
    return run


def discard_held(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, by: str) -> RunRecord:
    """Drop a held run's rows; the published dataset stays as it is."""
    run, table = _held(con, dataset_id, run_id)
    con.execute(f"DROP TABLE main.{quote(table)}")
    run.status, run.rows_published = RunStatus.REJECTED, 0
    run.error = f"giữ lại rồi bị {by} bỏ / held, then discarded by {by} at {utcnow():%Y-%m-%d %H:%M} UTC"
    Warehouse.record_run(con, run)
    return run


__all__ = ["HELD_PREFIX", "discard_held", "held_runs", "publish_held"]
