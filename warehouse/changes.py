"""Change capture: which rows of a published dataset changed, so that a derived dataset declaring
`source.incremental` recomputes only the groups those rows belong to.

Every publish that changes `main.<dataset>` (a run, a row edit, a reviewed run) adds an entry to
`meta.changes` in its own transaction, numbered from one sequence for the whole warehouse: `rows`
when the rows it replaced or removed (`old`) and the rows it brought (`new`) are in
`changes.<dataset>` under that number, `all` when they are not (a full replace, a reviewed run, a
dataset no derived dataset follows, or more waiting rows than kept). `meta.derived_reads` says how
far each derived dataset has read each input (and its own entries: an edit of the derived table
itself must be seen). Entries and rows every reader has passed are deleted at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse.store import utcnow

ROWS, ALL = "rows", "all"
KEEP_FLOOR = 100_000  # rows kept waiting whatever the dataset's size
KEEP_SHARE = 0.25  # beyond this share of the published rows (and the floor), a full recompute is cheaper

_DDL = """
CREATE SCHEMA IF NOT EXISTS changes;
CREATE SEQUENCE IF NOT EXISTS meta.change_ids START 1;
CREATE TABLE IF NOT EXISTS meta.changes (
    dataset_id VARCHAR NOT NULL, seq BIGINT NOT NULL, run_id VARCHAR, kind VARCHAR NOT NULL,
    "rows" BIGINT, note VARCHAR, "at" TIMESTAMP
);
CREATE TABLE IF NOT EXISTS meta.derived_reads (
    dataset_id VARCHAR NOT NULL, input_id VARCHAR NOT NULL, seq BIGINT NOT NULL, "rows" BOOLEAN NOT NULL,
    fingerprint VARCHAR, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.recomputes (
    dataset_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, mode VARCHAR NOT NULL, "groups" BIGINT, reason VARCHAR
);
"""


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    duck.create_schema(con, _DDL)


def table(dataset_id: str) -> str:
    """The table of a dataset's changed rows: `_seq`, `_change` (`old`, `new`, or `deleted`: a published
    row the source deleted, as it was) and its columns."""
    return f"changes.{quote(dataset_id)}"


def latest(con: duckdb.DuckDBPyConnection, dataset_id: str) -> int:
    """The number of the dataset's last change entry still kept (0: none); later entries are higher."""
    ensure(con)
    row = con.execute("SELECT coalesce(max(seq), 0) FROM meta.changes WHERE dataset_id = ?", [dataset_id]).fetchone()
    return int(row[0]) if row else 0


def _followed(con: duckdb.DuckDBPyConnection, dataset_id: str) -> bool:
    """Whether a derived dataset wants this dataset's changed rows."""
    row = con.execute(
        'SELECT count(*) FROM meta.derived_reads WHERE input_id = ? AND dataset_id <> ? AND "rows"',
        [dataset_id, dataset_id],
    ).fetchone()
    return bool(row and row[0])


def _entry(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, kind: str, note: str | None) -> int:
    ensure(con)
    seq = duck.next_id(con, "meta.change_ids")
    con.execute(
        "INSERT INTO meta.changes VALUES (?, ?, ?, ?, 0, ?, ?)", [dataset_id, seq, run_id, kind, note, utcnow()]
    )
    if kind == ALL:  # rows kept before it are of no use: whoever is behind it recomputes in full
        _delete_rows(con, dataset_id, seq)
    prune(con, dataset_id, keep=seq)
    return seq


def _delete_rows(con: duckdb.DuckDBPyConnection, dataset_id: str, before: int) -> None:
    if duck.table_exists(con, "changes", dataset_id):
        con.execute(f"DELETE FROM {table(dataset_id)} WHERE _seq < ?", [before])


def prune(con: duckdb.DuckDBPyConnection, dataset_id: str, keep: int | None = None) -> None:
    """Delete the entries and rows every reader of the dataset has read (all of them when nobody
    reads it), never entry `keep`."""
    row = con.execute("SELECT min(seq) FROM meta.derived_reads WHERE input_id = ?", [dataset_id]).fetchone()
    bounds = [int(b) for b in (row[0] if row else None, None if keep is None else keep - 1) if b is not None]
    if not bounds:
        return
    upto = min(bounds)
    # On a DuckLake, deleting from the shared table would make every other dataset's publish that
    # commits at the same time conflict: the entries stay (every reader has passed them).
    if not duck.is_lake(con):
        con.execute("DELETE FROM meta.changes WHERE dataset_id = ? AND seq <= ?", [dataset_id, upto])
    if duck.table_exists(con, "changes", dataset_id):
        con.execute(f"DELETE FROM {table(dataset_id)} WHERE _seq <= ?", [upto])


def replaced(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, note: str) -> int:
    """A publish that replaced the whole table (or whose rows are not known): everything may have changed."""
    return _entry(con, dataset_id, run_id, ALL, note)


def _ensure_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    con.execute("CREATE SCHEMA IF NOT EXISTS changes")
    columns = ", ".join(f"{quote(c.name)} {c.duckdb_type}" for c in contract.columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table(contract.id)} (_seq BIGINT, _change VARCHAR, {columns})")
    have = {r[0] for r in con.execute(f"DESCRIBE {table(contract.id)}").fetchall()}
    for column in (c for c in contract.columns if c.name not in have):  # the contract gained a column
        con.execute(f"ALTER TABLE {table(contract.id)} ADD COLUMN {quote(column.name)} {column.duckdb_type}")
    return table(contract.id)


def _keep(
    con: duckdb.DuckDBPyConnection, contract: Contract, seq: int, change: str, select: str, params: list[Any]
) -> int:
    names = ", ".join(quote(c.name) for c in contract.columns)
    done = con.execute(
        f"INSERT INTO {_ensure_table(con, contract)} (_seq, _change, {names}) SELECT ?, ?, {names} FROM ({select})",
        [seq, change, *params],
    ).fetchone()
    return int(done[0]) if done else 0


def _settle(con: duckdb.DuckDBPyConnection, contract: Contract, seq: int, rows: int, target: str) -> None:
    """Count the entry's rows; past the limit, nothing waits any more (a full recompute is cheaper)."""
    waiting = int(con.execute(f"SELECT count(*) FROM {table(contract.id)}").fetchone()[0])  # type: ignore[index]
    published = int(con.execute(f"SELECT count(*) FROM {target}").fetchone()[0])  # type: ignore[index]
    limit = max(KEEP_FLOOR, int(published * KEEP_SHARE))
    if waiting > limit:
        note = f"changes not kept: {waiting:,} rows waited, more than {limit:,}"
        con.execute("UPDATE meta.changes SET kind = ?, note = ? WHERE seq = ?", [ALL, note, seq])
        con.execute(f"DELETE FROM {table(contract.id)}")
    else:
        con.execute('UPDATE meta.changes SET "rows" = ? WHERE seq = ?', [rows, seq])


def merged(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    run_id: str,
    stage: str,
    replaces: str | None = None,
    deleted: tuple[str, int] | None = None,
) -> int:
    """Before a merge of `stage` into `main.<dataset>`: keep the published rows it replaces (those
    with a key in `replaces`, the stage by default) and the rows it brings, leaving out the rows it
    brings unchanged; `deleted` (a table of keys, and how many) are published rows the source
    deleted, kept as `deleted`. Returns the entry's number."""
    target = f"main.{quote(contract.id)}"
    note = f"{deleted[1]} deleted at the source" if deleted and deleted[1] else None
    if not _followed(con, contract.id):
        why = "changes not kept: no derived dataset follows them"
        return _entry(con, contract.id, run_id, ALL, f"{why}; {note}" if note else why)
    seq = _entry(con, contract.id, run_id, ROWS, note)
    names = ", ".join(quote(c.name) for c in contract.columns)
    on = " AND ".join(f"t.{quote(k)} = d.{quote(k)}" for k in contract.primary_key)
    olds = f"SELECT {names} FROM {target} AS t SEMI JOIN {replaces or stage} AS d ON {on}"
    news = f"SELECT {names} FROM {target} AS t SEMI JOIN {stage} AS d ON {on}"
    rows = _keep(con, contract, seq, "old", f"({olds}) EXCEPT (SELECT {names} FROM {stage})", [])
    rows += _keep(con, contract, seq, "new", f"(SELECT {names} FROM {stage}) EXCEPT ({news})", [])
    if deleted and deleted[1]:
        gone = f"SELECT {names} FROM {target} AS t SEMI JOIN {deleted[0]} AS d ON {on}"
        rows += _keep(con, contract, seq, "deleted", gone, [])
    _settle(con, contract, seq, rows, target)
    return seq


@contextlib.contextmanager
def edited(
    con: duckdb.DuckDBPyConnection, contract: Contract, run_id: str | None, where: str, params: list[Any]
) -> Iterator[None]:
    """Around a row edit of `main.<dataset>`: keep the rows matching `where` before (old) and after (new)."""
    target = f"main.{quote(contract.id)}"
    run = run_id or "edit"
    if not _followed(con, contract.id):
        yield
        replaced(con, contract.id, run, "changes not kept: no derived dataset follows them")
        return
    seq = _entry(con, contract.id, run, ROWS, "row edit")
    rows = _keep(con, contract, seq, "old", f"SELECT * FROM {target} WHERE {where}", params)
    yield
    rows += _keep(con, contract, seq, "new", f"SELECT * FROM {target} WHERE {where}", params)
    _settle(con, contract, seq, rows, target)


@dataclass(frozen=True)
class Read:
    """How far a derived dataset has read one input (or, input_id = itself, its own entries)."""

    seq: int
    rows: bool
    fingerprint: str | None


def reads(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, Read]:
    ensure(con)
    rows = con.execute(
        'SELECT input_id, seq, "rows", fingerprint FROM meta.derived_reads WHERE dataset_id = ?', [dataset_id]
    ).fetchall()
    return {str(r[0]): Read(int(r[1]), bool(r[2]), r[3]) for r in rows}


def since(con: duckdb.DuckDBPyConnection, dataset_id: str, seq: int) -> list[tuple[int, str, str | None]]:
    """The dataset's entries after `seq`: (number, kind, note), oldest first."""
    ensure(con)
    rows = con.execute(
        "SELECT seq, kind, note FROM meta.changes WHERE dataset_id = ? AND seq > ? ORDER BY seq", [dataset_id, seq]
    ).fetchall()
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]


def record_reads(
    con: duckdb.DuckDBPyConnection,
    dataset_id: str,
    run_id: str,
    read: dict[str, int],
    follows: str | None,
    fingerprint: str,
    own: int,
) -> None:
    """After a derived dataset's publish (in its transaction): how far it has read each input, and
    its own entry `own`; then drop what no reader needs any more."""
    ensure(con)
    con.execute("DELETE FROM meta.derived_reads WHERE dataset_id = ?", [dataset_id])
    for input_id, seq in sorted({**read, dataset_id: own}.items()):
        con.execute(
            "INSERT INTO meta.derived_reads VALUES (?, ?, ?, ?, ?, ?)",
            [dataset_id, input_id, seq, input_id == follows, fingerprint, run_id],
        )
    for input_id in sorted(read):
        prune(con, input_id)


def forget(con: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    """A derived dataset recomputed without following its inputs (no `incremental`) reads nothing."""
    ensure(con)
    inputs = [
        r[0]
        for r in con.execute("SELECT input_id FROM meta.derived_reads WHERE dataset_id = ?", [dataset_id]).fetchall()
    ]
    con.execute("DELETE FROM meta.derived_reads WHERE dataset_id = ?", [dataset_id])
    for input_id in inputs:
        prune(con, input_id)


GROUPS_PREFIX = "_lgsp_groups__"


def groups_table(dataset_id: str) -> str:
    """Where a derived run keeps the groups it recomputes until its publish replaces them (one run
    of a dataset at a time, so one name per dataset)."""
    return f"main.{quote(GROUPS_PREFIX + dataset_id)}"


@dataclass(frozen=True)
class Recompute:
    """What a derived run tells its publish: how it recomputed and how far it read its inputs."""

    mode: str  # incremental | full
    groups: int | None = None
    reason: str | None = None
    read: dict[str, int] | None = None  # input → its last change entry the run had seen
    follows: str | None = None  # the input whose changes it follows (source.incremental.input)
    fingerprint: str | None = None  # of the contract's parts that decide the rows; None: not incremental

    @classmethod
    def from_notes(cls, notes: dict[str, Any]) -> Recompute | None:
        found = notes.get("recompute")
        return cls(**found) if isinstance(found, dict) else None


def record_recompute(
    con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str, mode: str, groups: int | None, reason: str | None
) -> None:
    ensure(con)
    con.execute("DELETE FROM meta.recomputes WHERE dataset_id = ? AND run_id = ?", [dataset_id, run_id])
    con.execute("INSERT INTO meta.recomputes VALUES (?, ?, ?, ?, ?)", [dataset_id, run_id, mode, groups, reason])


def recompute(con: duckdb.DuckDBPyConnection, dataset_id: str, run_id: str) -> dict[str, Any] | None:
    """How a derived run recomputed: {"recompute": "incremental" | "full", "groups": n, "reason": …}."""
    ensure(con)
    row = con.execute(
        'SELECT mode, "groups", reason FROM meta.recomputes WHERE dataset_id = ? AND run_id = ?', [dataset_id, run_id]
    ).fetchone()
    return None if row is None else {"recompute": row[0], "groups": row[1], "reason": row[2]}
