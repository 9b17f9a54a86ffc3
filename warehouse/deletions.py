"""Rows deleted at the source (`incremental.deletes`), as a merging run's publish removes them.

Extract leaves the keys the source deleted in the run's deletes table, in the run's own file (a
soft-delete marker's rows or tombstones; for a key diff, every key the source still has). The
publishing transaction brings them into the warehouse (a key diff's as the published keys the
source no longer has), where they are narrowed to the published rows the run really removes (a key never published, or one the run
brings again, removes nothing), counted for the run record and `refresh.max_shrink`, kept in the
change feed as `deleted`, and deleted together with the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse.staging import Staging

# The deletes table of tombstones keeps each one's own cursor: a published row newer than its
# tombstone (inserted again after the deletion) is not deleted by it.
TOMBSTONE_CURSOR = "_lgsp_deleted_at"


@dataclass(frozen=True)
class Deletions:
    """What extract tells publish about a run's deletions."""

    name: str  # the run's deletes table: in its file, then in the warehouse's schema main while it publishes
    mode: str  # soft_delete | key_diff | tombstones
    cursor_to: str | None = None  # tombstones: the last tombstone cursor read (applied with the run)

    @property
    def table(self) -> str:
        return f"main.{quote(self.name)}"

    @classmethod
    def from_notes(cls, notes: dict[str, Any], staging: Staging) -> Deletions | None:
        found = notes.get("deletes")
        if not isinstance(found, dict):
            return None
        return cls(staging.deletes, str(found["mode"]), found.get("cursor_to"))


def _on(contract: Contract, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in contract.primary_key)


def bring_in(con: duckdb.DuckDBPyConnection, contract: Contract, deletions: Deletions, source: str) -> None:
    """Copy the run's deletes table (`source`, in its file) into the warehouse; a key diff's holds the
    keys the source has, so what comes in is the published keys that are not among them."""
    if deletions.mode != "key_diff":
        con.execute(f"CREATE TABLE {deletions.table} AS SELECT * FROM {source}")
        return
    keys = ", ".join(f"p.{quote(k)}" for k in contract.primary_key)
    con.execute(
        f"CREATE TABLE {deletions.table} AS SELECT {keys} FROM main.{quote(contract.id)} AS p "
        f"ANTI JOIN {source} AS s ON {_on(contract, 'p', 's')}"
    )


def settle(con: duckdb.DuckDBPyConnection, contract: Contract, deletions: Deletions, stage: str) -> int:
    """Keep in the deletes table only keys of published rows that the run does not bring again (its
    staged rows win: the row was inserted again after it was deleted); returns the published rows
    they remove. A missing table (a marker that marked nothing, in a run that made none) removes none."""
    if not duck.table_exists(con, "main", deletions.name):
        return 0
    target = f"main.{quote(contract.id)}"
    keys = ", ".join(f"t.{quote(k)}" for k in contract.primary_key)
    on = _on(contract, "t", "d") + _not_newer(con, contract, deletions)
    # The published table is probed against the (few) deleted keys, never hashed itself.
    gone = quote("_lgsp_gone")
    con.execute(
        f"CREATE TEMP TABLE {gone} AS SELECT {keys} FROM {target} AS t SEMI JOIN {deletions.table} AS d "
        f"ON {on} WHERE NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {_on(contract, 's', 't')})"
    )
    con.execute(f"DELETE FROM {deletions.table}")
    con.execute(f"INSERT INTO {deletions.table} BY NAME SELECT * FROM {gone}")
    con.execute(f"DROP TABLE {gone}")
    found = con.execute(f"SELECT count(*) FROM {deletions.table}").fetchone()
    return int(found[0]) if found else 0  # keys are unique in the published table: one row each


def _not_newer(con: duckdb.DuckDBPyConnection, contract: Contract, deletions: Deletions) -> str:
    """For tombstones whose cursor is of the rows' cursor type: the row is not newer than its
    tombstone (else it was inserted again after it: a tombstone read again at the cursor's
    boundary must not delete it). Other tombstones, and other modes, apply as they are."""
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {deletions.table})").fetchall())
    cursor = contract.incremental.cursor if contract.incremental else None
    if (
        cursor is None
        or TOMBSTONE_CURSOR not in types
        or types[TOMBSTONE_CURSOR] != contract.column(cursor).duckdb_type
    ):
        return ""
    return f" AND t.{quote(cursor)} <= d.{quote(TOMBSTONE_CURSOR)}"


def remove(con: duckdb.DuckDBPyConnection, contract: Contract, deletions: Deletions) -> int:
    """Delete the settled keys' rows from the published table (inside the publishing transaction)."""
    target = f"main.{quote(contract.id)}"
    done = con.execute(
        f"DELETE FROM {target} AS t USING {deletions.table} AS d WHERE {_on(contract, 't', 'd')}"
    ).fetchone()
    return int(done[0]) if done else 0


def hold(
    con: duckdb.DuckDBPyConnection, contract: Contract, deletions: Deletions | None, stage: str, held: str, rows: str
) -> None:
    """A merging run held for review waits as the whole dataset it would publish (the published rows
    it neither replaces nor deletes, and its own), so that confirming it replaces the table as any
    held run does. `rows` selects the stage's publishable columns."""
    target = f"main.{quote(contract.id)}"
    gone = f"NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {_on(contract, 's', 't')})"
    if deletions is not None and duck.table_exists(con, "main", deletions.name):
        gone += f" AND NOT EXISTS (SELECT 1 FROM {deletions.table} AS d WHERE {_on(contract, 'd', 't')})"
    con.execute(f"CREATE TABLE main.{quote(held)} AS SELECT * FROM {target} AS t WHERE {gone}")
    con.execute(f"INSERT INTO main.{quote(held)} BY NAME {rows} FROM {stage}")
    con.execute(f"DROP TABLE {stage}")


def drop(con: duckdb.DuckDBPyConnection, deletions: Deletions | None) -> None:
    if deletions is not None:
        con.execute(f"DROP TABLE IF EXISTS {deletions.table}")
