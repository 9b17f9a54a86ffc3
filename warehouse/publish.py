"""Publish a validated run: quarantine, data, cursor and run record in one DuckDB transaction.

A reader never sees a half-loaded table, and a run killed mid-publish leaves the previous
version intact: DuckDB discards an uncommitted transaction when the process dies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from lgsp.duck import quote
from schemas.contract import Contract
from warehouse import projection
from warehouse.errors import WarehouseError
from warehouse.staging import Staging
from warehouse.store import Warehouse, utcnow

QUARANTINE_COLUMNS = "_run_id VARCHAR, _row BIGINT, _checks VARCHAR[], _reasons VARCHAR, _quarantined_at TIMESTAMP"


@dataclass(frozen=True)
class Outcome:
    status: str  # published | rejected
    rows_published: int
    rows_quarantined: int
    cursor_to: str | None


def _ensure_quarantine(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    table = f"quarantine.{quote(contract.id)}"
    data_columns = ", ".join(f"{quote(c.name)} VARCHAR" for c in contract.columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({QUARANTINE_COLUMNS}, {data_columns})")
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for column in contract.columns:
        if column.name not in have:  # the contract gained a column since the table was made
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(column.name)} VARCHAR")
    return table


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]  # type: ignore[index]
    )


def publish(
    warehouse_con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: dict[str, Any],
    *,
    rejected_by: list[str],
    incremental: bool,
) -> Outcome:
    """Publish (or, when `rejected_by` names failed error-severity checks, quarantine) a staged run.

    `run` is the meta.runs record to write; its counts and status are filled in here.
    Raises WarehouseError if the transaction fails; nothing is changed then.
    """
    con = warehouse_con
    con.execute(f"ATTACH '{staging.db_path}' AS stg (READ_ONLY)")
    try:
        types = {r[0]: str(r[1]) for r in con.execute("DESCRIBE stg.staged").fetchall()}
        missing = [c.name for c in contract.columns if c.name not in types]
        if missing:
            raise WarehouseError(f"staged rows lack declared columns {missing}", dataset=contract.id)
        con.execute("BEGIN TRANSACTION")
        try:
            outcome = _publish_in_transaction(con, contract, staging, run, types, rejected_by, incremental)
            run.update(
                status=outcome.status,
                rows_published=outcome.rows_published,
                rows_quarantined=outcome.rows_quarantined,
                cursor_to=outcome.cursor_to,
                ended_at=utcnow(),
            )
            Warehouse.record_run(con, run)
            con.execute("COMMIT")
            return outcome
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise WarehouseError(f"publish failed: {str(exc).splitlines()[0]}", dataset=contract.id) from exc
    finally:
        con.execute("DETACH stg")


def _publish_in_transaction(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: dict[str, Any],
    types: dict[str, str],
    rejected_by: list[str],
    incremental: bool,
) -> Outcome:
    quarantine = _ensure_quarantine(con, contract)
    raw = ", ".join(f"CAST(s.{quote(c.name)} AS VARCHAR) AS {quote(c.name)}" for c in contract.columns)
    now = utcnow()
    findings = (
        "SELECT row, list(DISTINCT check_key ORDER BY check_key) AS checks, "
        "string_agg(reason, '; ' ORDER BY check_key, reason) AS reasons FROM stg.failures GROUP BY row"
    )
    if rejected_by:
        prefix = "run rejected by " + ", ".join(rejected_by)
        con.execute(
            f"INSERT INTO {quarantine} BY NAME SELECT ? AS _run_id, s.rowid AS _row, "
            f"list_concat(['rejected'], coalesce(f.checks, [])) AS _checks, "
            f"? || coalesce('; ' || f.reasons, '') AS _reasons, ? AS _quarantined_at, {raw} "
            f"FROM stg.staged s LEFT JOIN ({findings}) f ON s.rowid = f.row",
            [run["run_id"], prefix, now],
        )
        quarantined = _count(con, f"SELECT count(*) FROM {quarantine} WHERE _run_id = ?", [run["run_id"]])
        return Outcome("rejected", 0, quarantined, None)

    con.execute(
        f"INSERT INTO {quarantine} BY NAME SELECT ? AS _run_id, s.rowid AS _row, f.checks AS _checks, "
        f"f.reasons AS _reasons, ? AS _quarantined_at, {raw} FROM stg.staged s JOIN ({findings}) f ON s.rowid = f.row",
        [run["run_id"], now],
    )
    quarantined = _count(con, f"SELECT count(*) FROM {quarantine} WHERE _run_id = ?", [run["run_id"]])
    good = (
        f"SELECT {projection.select_list(contract, types, 's.')} FROM stg.staged s "
        "ANTI JOIN (SELECT DISTINCT row FROM stg.failures) f ON s.rowid = f.row"
    )
    target = f"main.{quote(contract.id)}"
    if incremental and _table_exists(con, "main", contract.id):
        con.execute(f"CREATE OR REPLACE TEMP TABLE lgsp_delta AS {good}")
        match = " AND ".join(f"t.{quote(k)} = d.{quote(k)}" for k in contract.primary_key)
        con.execute(f"DELETE FROM {target} AS t USING lgsp_delta AS d WHERE {match}")
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM lgsp_delta")
        published = _count(con, "SELECT count(*) FROM lgsp_delta")
        con.execute("DROP TABLE lgsp_delta")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {good}")
        published = _count(con, f"SELECT count(*) FROM {target}")
    cursor_to = None
    if contract.incremental:
        cursor = contract.column(contract.incremental.cursor)
        expr = projection.typed(cursor, types[cursor.name], "s.")
        row = con.execute(f"SELECT CAST(max({expr}) AS VARCHAR) FROM stg.staged s").fetchone()
        cursor_to = row[0] if row and row[0] is not None else run.get("cursor_from")
        if cursor_to is not None:
            con.execute(
                "INSERT OR REPLACE INTO meta.state VALUES (?, ?, ?, ?, ?)",
                [contract.id, cursor.name, cursor_to, run["run_id"], now],
            )
    return Outcome("published", published, quarantined, cursor_to)


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    return int(con.execute(sql, params or []).fetchone()[0])  # type: ignore[index]
