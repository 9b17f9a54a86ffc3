"""Deletions at a SQL source (`incremental.deletes`): the keys a merging run must remove, read before
its rows.

`key_diff` reads the source's primary keys only (DuckDB's scanner, or a keys-only SELECT through
SQLAlchemy): publishing removes the published keys that are not among them; `tombstones` reads the source's own list of
deleted keys at or past the last tombstone cursor applied. Either way the keys land in the run's
deletes table (in the run's own file), typed as the primary key, and publishing removes them in the transaction that
merges the rows. A soft-delete marker needs no read of its own: it comes with the rows.

Reading the keys before the rows means that a row inserted (or inserted again) meanwhile is in the
rows, and the rows win: publishing never deletes a key the run also brings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import duckdb

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register_deletions
from lgsp.connectors.sql import SqlConfig, _sqlalchemy_reader, scan
from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.columns import DUCKDB_TYPES
from lgsp.schemas.contract import ColumnType, Contract, DeleteMode
from lgsp.warehouse import projection
from lgsp.warehouse.deletions import TOMBSTONE_CURSOR


@contextlib.contextmanager
def _source(
    config: SqlConfig, state: dict[str, Any] | None, con: duckdb.DuckDBPyConnection
) -> Iterator[tuple[str, list[Any], dict[str, str]]]:
    """The source's rows as something `con` can select from: (relation, parameters, column types).
    DuckDB's scanner is attached to `con`; a SQLAlchemy source is streamed in as Arrow."""
    plan = scan(config, state)
    if plan is not None:
        plan.attach(con)
        try:
            try:
                types = duck.source_types(con, plan.base_sql)
                sql, params = plan.query(types)
                yield f"({sql})", params, types
            except duckdb.Error as exc:
                raise plan.error(exc) from exc
        finally:
            plan.detach(con)
        return
    name = "_lgsp_deletion_source"
    with duck.registered(con, name, _sqlalchemy_reader(config, state)):
        yield name, [], {c: "VARCHAR" for c in config.columns}


def _typed_keys(contract: Contract, types: dict[str, str]) -> str:
    return ", ".join(f"{projection.typed(contract.column(k), types[k])} AS {quote(k)}" for k in contract.primary_key)


def _key_diff(config: SqlConfig, contract: Contract, con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    """Every key the source has now (the published keys not among them are gone: lgsp.warehouse.deletions)."""
    keys_only = config.model_copy(
        update={"columns": list(contract.primary_key), "cursor": None, "deleted_column": None}
    )
    with _source(keys_only, None, con) as (rows, params, types):
        con.execute(f"CREATE TABLE {table} AS SELECT {_typed_keys(contract, types)} FROM {rows}", params)
    return {"mode": DeleteMode.key_diff.value, "source_keys": _count(con, table)}


def _tombstones(
    config: SqlConfig, contract: Contract, con: duckdb.DuckDBPyConnection, table: str | None, cursor_from: str | None
) -> dict[str, Any]:
    """The keys the source's tombstones list at or past `cursor_from`, and the last tombstone cursor;
    with no `table` (a full load, which deletes nothing) only the last tombstone cursor."""
    deletes = contract.incremental.deletes if contract.incremental else None
    assert deletes is not None and deletes.cursor is not None
    kind = DUCKDB_TYPES[ColumnType(deletes.tombstone_cursor_type.value)]
    columns = list(dict.fromkeys([*contract.primary_key, deletes.cursor]))
    tombstones = config.model_copy(
        update={
            "table": deletes.table,
            "db_schema": deletes.db_schema,
            "query": deletes.query,
            "columns": columns,
            "cursor": deletes.cursor,
            "cursor_type": kind,
            "deleted_column": None,
        }
    )
    present = " AND ".join(f"{quote(k)} IS NOT NULL" for k in contract.primary_key)
    if table is None:  # the tombstones a full load already reflects must not delete rows inserted again since
        with _source(tombstones, None, con) as (rows, params, _types):
            found = con.execute(
                f"SELECT CAST(max(TRY_CAST({quote(deletes.cursor)} AS {kind})) AS VARCHAR) FROM {rows}", params
            ).fetchone()
        return {"mode": DeleteMode.tombstones.value, "cursor_from": None, "cursor_to": found[0] if found else None}
    with _source(tombstones, {"cursor": cursor_from} if cursor_from else None, con) as (rows, params, types):
        con.execute(
            f"CREATE TABLE {table} AS SELECT {_typed_keys(contract, types)}, "
            f"TRY_CAST({quote(deletes.cursor)} AS {kind}) AS {TOMBSTONE_CURSOR} FROM {rows}",
            params,
        )
    unreadable = _count(con, f"SELECT count(*) FROM {table} WHERE {TOMBSTONE_CURSOR} IS NULL")
    if unreadable:
        raise ConnectorError(
            f"{unreadable} bia mộ có {deletes.cursor} không đọc được là {kind} / {unreadable} tombstones have a "
            f"{deletes.cursor} that cannot be read as {kind} (incremental.deletes.cursor_type)",
            dataset=contract.id,
            connector=config.connection,
        )
    rows_cursor = contract.column(contract.incremental.cursor).duckdb_type if contract.incremental else None
    if cursor_from and rows_cursor != kind:
        # The source is asked for tombstones at or past the last one applied, so one sharing its
        # cursor with it is not missed; a row inserted again since is protected by comparing its
        # own cursor (lgsp.warehouse.deletions). A tombstone cursor of another type (a sequence
        # number against the rows' timestamp) cannot be compared: the tombstones at the boundary,
        # which the last run applied, are left out instead.
        con.execute(f"DELETE FROM {table} WHERE {TOMBSTONE_CURSOR} <= TRY_CAST(? AS {kind})", [cursor_from])
    read = _count(con, table)
    found = con.execute(f"SELECT CAST(max({TOMBSTONE_CURSOR}) AS VARCHAR) FROM {table}").fetchone()
    cursor_to = found[0] if found and found[0] is not None else cursor_from
    con.execute(f"DELETE FROM {table} WHERE NOT ({present})")
    return {
        "mode": DeleteMode.tombstones.value,
        "tombstones": read,
        "cursor_from": cursor_from,
        "cursor_to": cursor_to,
    }


def _count(con: duckdb.DuckDBPyConnection, table_or_sql: str) -> int:
    sql = table_or_sql if table_or_sql.lstrip().upper().startswith("SELECT") else f"SELECT count(*) FROM {table_or_sql}"
    return int(con.execute(sql).fetchone()[0])  # type: ignore[index]


@register_deletions("sql")
def read_deletions(
    config: SqlConfig, contract: Contract, con: duckdb.DuckDBPyConnection, table: str | None, cursor_from: str | None
) -> dict[str, Any]:
    """Write the keys the source deleted (for a key diff, the keys it has) into `table` (created here,
    typed as the primary key) for a contract whose `incremental.deletes` is key_diff or tombstones;
    returns what the run's notes keep (the mode, how many keys, the tombstone cursors).

    Raises ConnectorError when the source cannot be read: the run fails and nothing is deleted.
    """
    deletes = contract.incremental.deletes if contract.incremental else None
    if deletes is None or deletes.mode is DeleteMode.soft_delete:
        raise ValueError(f"{contract.id}: incremental.deletes is not key_diff or tombstones")
    if deletes.mode is DeleteMode.key_diff:
        if table is None:
            raise ValueError(f"{contract.id}: a key diff needs the run's deletes table")
        return _key_diff(config, contract, con, table)
    return _tombstones(config, contract, con, table, cursor_from)
