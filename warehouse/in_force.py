"""The edits in force replayed on a run's rows (lgsp.warehouse.edits records them): every publish,
and a held run's, applies them before its rows become the table, so a source that still sends a
retracted row, or the old value of a corrected one, does not bring it back."""

from __future__ import annotations

import logging

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse import edits
from lgsp.warehouse.errors import EditError

log = logging.getLogger(__name__)


def apply(con: duckdb.DuckDBPyConnection, contract: Contract, table: str) -> int:
    """Apply the dataset's edits in force to `table` (its SQL name, quoted, e.g. a run's stage),
    oldest first: retracted rows are deleted, corrected values replaced. Returns the rows affected.
    An edit that no longer fits the contract (its key columns changed, a corrected column was
    dropped or its values no longer fit its type) is skipped for those parts and logged."""
    if not duck.table_exists(con, "meta", "row_edits"):
        return 0
    rows = con.execute(
        f"{edits.SELECT_EDITS} WHERE dataset_id = ? AND undone_at IS NULL ORDER BY id", [contract.id]
    ).fetchall()
    fitting = []
    for edit in (edits.from_row(r) for r in rows):
        if list(edit.key) != contract.primary_key:
            log.warning(
                "%s: edit %s names the key %s, not the contract's: skipped", contract.id, edit.id, list(edit.key)
            )
        else:
            fitting.append(edit)
    affected = 0
    retracted = [e for e in fitting if e.action is edits.EditAction.RETRACT]
    if retracted:  # one statement, whatever their number
        keys = ", ".join(f"unnest(CAST(? AS VARCHAR[])) AS {quote(k)}" for k in contract.primary_key)
        match = " AND ".join(f"CAST(t.{quote(k)} AS VARCHAR) = e.{quote(k)}" for k in contract.primary_key)
        done = con.execute(
            f"DELETE FROM {table} AS t USING (SELECT {keys}) AS e WHERE {match}",
            [[e.key[k] for e in retracted] for k in contract.primary_key],
        ).fetchone()
        affected += int(done[0]) if done else 0
    names = {c.name for c in contract.columns} - set(contract.primary_key)
    for edit in fitting:
        if edit.action is not edits.EditAction.CORRECT:
            continue
        values: dict[str, str | None] = {}
        for name, value in edit.values.items():
            if name not in names:
                log.warning("%s: edit %s corrects %s, no longer a column it can: skipped", contract.id, edit.id, name)
                continue
            try:
                values[name] = None if value is None else edits.typed_text(con, contract.column(name), value)
            except EditError as exc:
                log.warning("%s: edit %s: %s: skipped", contract.id, edit.id, exc)
        if values:
            affected += edits.update_row(con, contract, table, edit.key, values)
    return affected


def note(rows: int) -> str:
    """What a run's record says when edits in force changed its rows."""
    return (
        f"{rows} dòng được rút lại hoặc sửa theo các sửa đổi còn hiệu lực / {rows} row(s) retracted or corrected "
        "by the dataset's edits in force (lgsp rows history)"
    )
