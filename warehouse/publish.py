"""Publish a validated run: quarantine the failing rows and swap the stage in, atomically.

The stage waits, typed, in the run's own file (lgsp.warehouse.staging), attached read-only: the
rows it keeps are copied into the warehouse once, and a full refresh then renames that copy into
place. One transaction does everything readers can see (the quarantine rows, the table, the
cursor and the run record) at once: a run killed before it commits leaves the previous version,
and DuckDB discards an uncommitted transaction when the process dies.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse import changes, deletions, edits, in_force, projection
from lgsp.warehouse import quarantine as quarantines
from lgsp.warehouse.deletions import Deletions
from lgsp.warehouse.errors import WarehouseError
from lgsp.warehouse.lake import retry_conflicts
from lgsp.warehouse.runs import PUBLISHED, RunRecord, RunStatus
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import Warehouse, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: RunStatus
    rows_published: int
    rows_quarantined: int
    cursor_to: str | None


# Called inside the publishing transaction once the quarantine is written and before the stage
# becomes the table (or is held): (connection, stage table or None when nothing is left of it,
# quarantine table, the run's status). Submissions write their outcome here, so the ledger never
# disagrees with what readers see; it answers True when a submission of the run was refused
# whole (every row quarantined), which makes a published run `partial`.
Settle = Callable[[duckdb.DuckDBPyConnection, str | None, str, RunStatus], bool]
HELD_PREFIX = "_lgsp_held__"


def held_table(dataset_id: str, run_id: str) -> str:
    """Where a held run's rows wait for review (in the warehouse: personal data stays there)."""
    return f"{HELD_PREFIX}{dataset_id}__{hashlib.sha1(run_id.encode()).hexdigest()[:12]}"


def _drop_leftovers(con: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    """Drop stage tables that runs of older versions kept in the warehouse and that died (killed,
    machine lost) before they could clean up: they may hold personal data. A dataset runs one at a
    time (Airflow's max_active_runs=1), so any other stage of it is a leftover. Runs now stage in
    files of their own, whose leftovers `Staging.remove_leftovers` removes."""
    pattern = f"_lgsp_(stage|failures|misfits|quarantine|deletes)__{re.escape(dataset_id)}__[0-9a-f]{{12}}"
    leftovers = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND regexp_full_match(table_name, ?)",
        [pattern],
    ).fetchall()
    for (name,) in leftovers:
        con.execute(f"DROP TABLE main.{quote(name)}")


def _drop_older_held(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> None:
    """A newer run decided the dataset: runs held before it can no longer be confirmed."""
    held = con.execute(
        "SELECT run_id FROM meta.runs WHERE dataset_id = ? AND status = 'held' AND run_id <> ?", [dataset_id, run_id]
    ).fetchall()
    for (older,) in held:
        con.execute(f"DROP TABLE IF EXISTS main.{quote(held_table(dataset_id, older))}")
        con.execute(
            "UPDATE meta.runs SET status = 'rejected', rows_published = 0, error = ? WHERE dataset_id = ? AND run_id = ?",
            ["bỏ vì có lần chạy mới hơn / discarded: a newer run decided the dataset", dataset_id, older],
        )


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
    files_rejected: int = 0,
    settle: Settle | None = None,
    recompute: changes.Recompute | None = None,
    deletions: Deletions | None = None,
) -> Outcome:
    """Publish (or, when `rejected_by` names failed error-severity checks, quarantine) a staged run.

    `run` is the meta.runs record to write; its counts and status are filled in here. A run that
    would remove more of the published rows than the contract's `refresh.max_shrink` is held for
    review instead (lgsp.warehouse.review). `files_rejected` counts submitted files refused
    whole: with other rows published the run is `partial`, with none `rejected`.
    A derived run that recomputed some groups (`recompute`) replaces exactly those groups. A merging
    run removes the published rows its source deleted (`deletions`), in the same transaction.
    Raises WarehouseError if a step fails; the published table is unchanged then.
    """
    try:
        # The shared tables a publish writes are made before its transaction: on a lake, two first
        # publishes creating them at once would conflict.
        retry_conflicts(lambda: _shared_tables(con), contract.id, step="tables")
        merge = incremental and not rejected_by and duck.table_exists(con, "main", contract.id)
        replaces = None
        if merge and recompute is not None and recompute.mode == "incremental":
            replaces = changes.groups_table(contract.id)
            _check_groups(con, contract, staging.stage, replaces)
        hub_columns = projection.hub_columns(staging.columns(con))
        if merge:
            _add_new_columns(con, contract, hub_columns)
        swap = _Swap(merge, hub_columns, files_rejected, settle, replaces, recompute, deletions)
        outcome = retry_conflicts(
            lambda: _swap(con, contract, staging, run, rejected_by, swap), contract.id, step="publish"
        )
        _checkpoint(con, contract.id)
    except duckdb.Error as exc:
        raise WarehouseError(f"publish failed: {str(exc).splitlines()[0]}", dataset=contract.id) from exc
    # A derived run's groups go once it published; a failed publish keeps them for its retry (a
    # run that fails for good drops them: Pipeline.fail).
    if recompute is not None:
        con.execute(f"DROP TABLE IF EXISTS {changes.groups_table(contract.id)}")
    return outcome


def _shared_tables(con: duckdb.DuckDBPyConnection) -> None:
    changes.ensure(con)
    edits.ensure(con)


@dataclass(frozen=True)
class _Swap:
    """How the stage becomes the table: merged by key (into `replaces`'s groups: a derived run's),
    or replacing it; the file-drop side (`files_rejected`, `settle`) and the derived side (`recompute`)."""

    merge: bool
    hub_columns: list[str]
    files_rejected: int
    settle: Settle | None
    replaces: str | None
    recompute: changes.Recompute | None
    deletions: Deletions | None = None


def _check_groups(con: duckdb.DuckDBPyConnection, contract: Contract, stage: str, groups: str) -> None:
    """A derived run recomputed some groups: every row it gives must be of one of them, or the
    contract's `source.incremental.keys` do not say what its SQL groups by."""
    on = " AND ".join(f"s.{quote(k)} IS NOT DISTINCT FROM g.{quote(k)}" for k in contract.primary_key)
    strays = _count(con, f"SELECT count(*) FROM {stage} AS s ANTI JOIN {groups} AS g ON {on}")
    if strays:
        raise WarehouseError(
            f"{strays} dòng ngoài các nhóm được tính lại: source.incremental.keys không khớp với SQL / {strays} rows "
            "fall outside the groups recomputed: source.incremental.keys do not say what the SQL groups by",
            dataset=contract.id,
        )


def _decide(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    run: RunRecord,
    rejected_by: list[str],
    swap: _Swap,
    staged: int,
    deleting: int = 0,
) -> tuple[RunStatus, str | None]:
    """What the run comes to once its failing rows are out (`staged` rows are left, `deleting`
    published rows its source deleted): the status and, if not published, why. A derived run's
    recomputed groups may all have vanished: it publishes then, removing them."""
    merge, files_rejected = swap.merge, swap.files_rejected
    if rejected_by:
        return RunStatus.REJECTED, None
    groups = _count(con, f"SELECT count(*) FROM {swap.replaces}") if swap.replaces else 0
    if (
        not run.rows_extracted
        and not files_rejected
        and not groups
        and not deleting
        and (merge or incremental_source(contract))
    ):
        return RunStatus.UNCHANGED, None
    if staged == 0 and (run.rows_extracted or files_rejected) and not swap.replaces:
        why = (
            "không công bố được gì: mọi tệp bị từ chối hoặc mọi dòng bị cách ly / nothing could be published: "
            "every file was rejected or every row quarantined"
        )
        return RunStatus.REJECTED, why
    if (not merge or deleting) and duck.table_exists(con, "main", contract.id):
        before = _count(con, f"SELECT count(*) FROM main.{quote(contract.id)}")
        removed = deleting if merge else before - staged
        if before and removed / before > contract.refresh.max_shrink:
            why = (
                f"lần chạy sẽ bỏ {removed} trong {before} dòng đã công bố, quá ngưỡng "
                f"{contract.refresh.max_shrink:.0%}; chờ xác nhận / the run would remove {removed} of the "
                f"{before} published rows, more than refresh.max_shrink ({contract.refresh.max_shrink:.0%}): "
                f"held for review (lgsp review {contract.id})"
            )
            return RunStatus.HELD, why
    return (RunStatus.PARTIAL if files_rejected else RunStatus.PUBLISHED), None


def incremental_source(contract: Contract) -> bool:
    return contract.incremental is not None or contract.source.kind == "files"


def _add_new_columns(con: duckdb.DuckDBPyConnection, contract: Contract, hub_columns: list[str]) -> None:
    """An incremental dataset whose contract gained a column gets it (empty for older rows)."""
    have = {r[0] for r in con.execute(f"DESCRIBE main.{quote(contract.id)}").fetchall()}
    kept = [h for h in hub_columns if h != projection.PROBLEMS]
    wanted = [(c.name, c.duckdb_type) for c in contract.columns] + [(h, "VARCHAR") for h in kept]
    for name, kind in wanted:
        if name not in have:
            con.execute(f"ALTER TABLE main.{quote(contract.id)} ADD COLUMN {quote(name)} {kind}")


def _swap(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: RunRecord,
    rejected_by: list[str],
    swap: _Swap,
) -> Outcome:
    """The one transaction readers see: quarantine rows, the new table, its change entry, cursor
    and run record. A run killed before it commits leaves everything as it was, stage included."""
    target = f"main.{quote(contract.id)}"
    merge, hub_columns, settle = swap.merge, swap.hub_columns, swap.settle
    with duck.transaction(con):
        quarantine = quarantines.ensure(con, contract, hub_columns)
        quarantined = quarantines.set_aside(con, contract, staging, run, rejected_by, quarantine, hub_columns)
        stage = staging.incoming
        cursor_to = None
        staged = 0 if rejected_by else _count(con, f"SELECT count(*) FROM {stage}")
        gone = swap.deletions
        if gone and merge and not rejected_by and staging.has_deletes(con):
            deletions.bring_in(con, contract, gone, staging.deletes_table)
        deleting = deletions.settle(con, contract, gone, stage) if gone and merge and not rejected_by else 0
        status, why = _decide(con, contract, run, rejected_by, swap, staged, deleting)
        if settle is not None:
            refused = settle(con, None if rejected_by else stage, quarantine, status)
            if refused and status is RunStatus.PUBLISHED:
                status = RunStatus.PARTIAL
        published = 0
        # A file drop's reasons for unreadable cells are in the quarantine now: not published.
        rows = f"SELECT * EXCLUDE ({quote(projection.PROBLEMS)})" if projection.PROBLEMS in hub_columns else ""
        if status in (RunStatus.REJECTED, RunStatus.UNCHANGED):
            con.execute(f"DROP TABLE IF EXISTS {stage}")
        elif status is RunStatus.HELD:
            published = staged
            held = held_table(contract.id, run.run_id)
            if merge:  # it waits as the whole dataset it would make
                deletions.hold(con, contract, gone if deleting else None, stage, held, rows or "SELECT *")
            else:
                con.execute(f"ALTER TABLE {stage} RENAME TO {quote(held)}")
        else:
            published = staged
            if contract.incremental:
                # The cursor moves to the last row published.
                cursor = quote(contract.incremental.cursor)
                cursor_to = con.execute(f"SELECT CAST(max({cursor}) AS VARCHAR) FROM {stage}").fetchone()[0]  # type: ignore[index]
            # Rows retracted or corrected since stay so until the edit is undone: the edits in force
            # apply to the run's rows before they become the table. The run's counts stay as the
            # source sent them (every row published or quarantined); its record says what changed.
            edited = in_force.apply(con, contract, stage)
            why = in_force.note(edited) if edited else why
            if merge:
                deleted = (gone.table, deleting) if gone and deleting else None
                seq = changes.merged(con, contract, run.run_id, stage, swap.replaces, deleted)
                if deleted and gone:
                    deletions.remove(con, contract, gone)
                match = " AND ".join(f"t.{quote(k)} = d.{quote(k)}" for k in contract.primary_key)
                con.execute(f"DELETE FROM {target} AS t USING {swap.replaces or stage} AS d WHERE {match}")
                con.execute(f"INSERT INTO {target} BY NAME {rows or 'SELECT *'} FROM {stage}")
                con.execute(f"DROP TABLE {stage}")
            else:
                seq = changes.replaced(con, contract.id, run.run_id, "replaced in full")
                con.execute(f"DROP TABLE IF EXISTS {target}")
                if rows:  # a file drop: small, copied without the column
                    con.execute(f"CREATE TABLE {target} AS {rows} FROM {stage}")
                    con.execute(f"DROP TABLE {stage}")
                else:  # the stage becomes the table: a rename, not a copy
                    con.execute(f"ALTER TABLE {stage} RENAME TO {quote(contract.id)}")
            if swap.recompute is not None:
                _record_reads(con, contract.id, run.run_id, swap.recompute, seq)
        # Tombstones are applied once the run decided the dataset (none waiting: an unchanged run).
        tombstones_to = gone.cursor_to if gone and status in (*PUBLISHED, RunStatus.UNCHANGED) else None
        if contract.incremental and (cursor_to is not None or tombstones_to is not None):
            Warehouse.record_state(con, contract.id, contract.incremental.cursor, run.run_id, cursor_to, tombstones_to)
        deletions.drop(con, gone)
        _drop_leftovers(con, contract.id)
        if status in (RunStatus.PUBLISHED, RunStatus.PARTIAL, RunStatus.HELD):
            _drop_older_held(con, contract.id, run.run_id)
        if swap.recompute is not None:
            r = swap.recompute
            changes.record_recompute(con, contract.id, run.run_id, r.mode, r.groups, r.reason)
        run.status, run.rows_quarantined = status, quarantined
        run.rows_published = published if status in PUBLISHED else 0
        run.rows_deleted = deleting if status in PUBLISHED else 0
        run.cursor_to, run.ended_at, run.error = cursor_to, utcnow(), why
        Warehouse.record_run(con, run)
    return Outcome(status, published, quarantined, cursor_to)


def _checkpoint(con: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    """Fold the write-ahead log into the file now: a process killed after this (say, while it writes
    the release) leaves nothing to replay; DuckDB 1.5 failed to replay this transaction's WAL
    ("Conflict on tuple deletion") after a SIGKILL. The publish has committed either way, so a
    checkpoint that fails (a full disk) is only logged: DuckDB checkpoints again on close. A DuckLake
    has no log of its own (its CHECKPOINT is maintenance: compaction and expiry, scheduled apart)."""
    if duck.is_lake(con):
        return
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        log.warning("%s: checkpoint after publish failed (%s); the publish stands", dataset_id, exc)


def _record_reads(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, r: changes.Recompute, own: int) -> None:
    """A derived dataset that follows an input's changes notes how far it read them; one that
    does not (no `source.incremental`) reads none, so nothing is kept for it."""
    if r.fingerprint is None or r.read is None:
        changes.forget(con, dataset_id)
    else:
        changes.record_reads(con, dataset_id, run_id, r.read, r.follows, r.fingerprint, own)
