"""Scheduled upkeep of the warehouse on DuckLake: what a publish leaves for later, done at once.

A publish only appends to the shared `meta` tables (a delete there would conflict with every other
dataset's publish committing at the same time), and every commit is a snapshot whose files stay for
time travel. `maintain` holds the whole warehouse's lock (publishes wait for it, and it for them),
so its deletes conflict with nothing: it prunes what no reader needs, expires snapshots older than
`keep`, merges small adjacent files and deletes the files no snapshot kept names any more, and
those a writer that died left without a snapshot naming them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lgsp.core.settings import Settings
from lgsp.warehouse import changes
from lgsp.warehouse.errors import WarehouseError
from lgsp.warehouse.lake import ALIAS, retry_conflicts
from lgsp.warehouse.store import Warehouse, utcnow


@dataclass(frozen=True)
class Upkeep:
    """What one pass did: meta rows pruned, snapshots expired, data files deleted (those of expired
    snapshots, and orphans no snapshot named)."""

    meta_rows: int
    snapshots: int
    files_deleted: int
    orphans_deleted: int = 0


# Entries every reader of their dataset has passed, never a dataset's latest (lgsp.warehouse.changes.prune
# on the DuckDB file); and the cursor rows a later one of the same dataset replaced.
_PRUNE_CHANGES = """
DELETE FROM meta.changes AS c
WHERE c.seq < (SELECT max(m.seq) FROM meta.changes AS m WHERE m.dataset_id = c.dataset_id)
  AND c.seq <= coalesce((SELECT min(r.seq) FROM meta.derived_reads AS r WHERE r.input_id = c.dataset_id), c.seq)
"""
_PRUNE_STATE = """
DELETE FROM meta.state AS s
WHERE s.updated_at < (SELECT max(t.updated_at) FROM meta.state AS t WHERE t.dataset_id = s.dataset_id)
"""


def maintain(settings: Settings, keep: dt.timedelta, grace: dt.timedelta = dt.timedelta(hours=1)) -> Upkeep:
    """One pass of upkeep on the lake: snapshots older than `keep` can no longer be travelled to
    (a release cut from one keeps its files, not its snapshot); files are deleted `grace` after
    their snapshots expired, so a reader still on one finishes. Raises WarehouseError for a
    warehouse that is not a lake."""
    if keep < dt.timedelta(0) or grace < dt.timedelta(0):
        raise WarehouseError(
            "thời gian giữ snapshot không được âm / the time snapshots are kept cannot be negative", field="keep"
        )
    warehouse = Warehouse(settings)
    if warehouse.lake is None:
        raise WarehouseError(
            "kho dữ liệu là một tệp DuckDB, không có gì để bảo trì / the warehouse is one DuckDB file: "
            "nothing to maintain (LGSP_LAKE_CATALOG is not set)",
            field="LGSP_LAKE_CATALOG",
        )
    with warehouse.writer() as con:
        changes.ensure(con)

        def prune() -> int:
            con.execute("BEGIN TRANSACTION")
            try:
                pruned = sum(int((con.execute(sql).fetchone() or (0,))[0]) for sql in (_PRUNE_CHANGES, _PRUNE_STATE))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return pruned

        pruned = retry_conflicts(prune)
        expired = con.execute(
            f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => ?::TIMESTAMP)", [utcnow() - keep]
        ).fetchall()
        con.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
        # Counted from now: files are scheduled for deletion when their last snapshot expires.
        deleted = con.execute(
            f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => ?::TIMESTAMP)", [utcnow() - grace]
        ).fetchall()
        # Files no snapshot ever named: a writer that died between writing its files and its commit.
        # Only those older than `grace`: a publish under way may be writing its files right now.
        orphans = con.execute(
            f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => ?::TIMESTAMP)", [utcnow() - grace]
        ).fetchall()
    return Upkeep(meta_rows=pruned, snapshots=len(expired), files_deleted=len(deleted), orphans_deleted=len(orphans))
