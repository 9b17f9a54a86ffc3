"""Retracting and correcting published rows (`meta.row_edits`): which row, what, who and why.

An edit changes `main.<dataset>` at once and stays in force over later runs: every publish applies
the dataset's edits to the run's rows before they become the table (`in_force.apply`), so a source
that still sends a retracted row, or the old value of a corrected one, does not bring it back.
Undoing an edit only ends it: the row is not restored then, the next run brings it back from the
source. Keys and values are kept as the text of their typed value (`15500.0`, `2024-03-05`), and a
key matches a row when `CAST(column AS VARCHAR)` is that text. Each function takes an open
connection; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import unicodedata
from enum import StrEnum
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Column, ColumnType, Contract, PersonalData
from lgsp.warehouse import changes, projection
from lgsp.warehouse.errors import EditError
from lgsp.warehouse.store import utcnow

log = logging.getLogger(__name__)

_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SEQUENCE IF NOT EXISTS meta.row_edit_ids START 1;
CREATE TABLE IF NOT EXISTS meta.row_edits (
    id BIGINT PRIMARY KEY,
    dataset_id VARCHAR NOT NULL,
    "key" VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    "values" VARCHAR,
    why VARCHAR NOT NULL,
    "by" VARCHAR NOT NULL,
    "at" TIMESTAMP NOT NULL,
    run_id VARCHAR,
    undone_at TIMESTAMP,
    undone_by VARCHAR
);
"""
_COLUMNS = ("id", "dataset_id", "key", "action", "values", "why", "by", "at", "run_id", "undone_at", "undone_by")
SELECT_EDITS = f"SELECT {', '.join(quote(c) for c in _COLUMNS)} FROM meta.row_edits"

# What a value of each type looks like, for the message that refuses one (vi, en).
_HINTS = {
    ColumnType.integer: ("số nguyên, ví dụ 1200", "a whole number, e.g. 1200"),
    ColumnType.number: ("số với dấu chấm thập phân, ví dụ 15500.5", "a number with a decimal point, e.g. 15500.5"),
    ColumnType.boolean: ("true hoặc false", "true or false"),
    ColumnType.date: ("ngày dạng yyyy-mm-dd, ví dụ 2024-03-05", "a date as yyyy-mm-dd, e.g. 2024-03-05"),
    ColumnType.timestamp: ("thời điểm dạng yyyy-mm-dd hh:mm:ss", "a time as yyyy-mm-dd hh:mm:ss"),
}


class EditAction(StrEnum):
    RETRACT = "retract"  # the row is taken out of the dataset
    CORRECT = "correct"  # some of its values are replaced


class RowEdit(BaseModel):
    """One row of `meta.row_edits`; `release` and `release_store` are reported, not stored."""

    model_config = ConfigDict(extra="forbid")

    id: int
    dataset_id: str
    key: dict[str, str] = Field(description="Primary-key column → the text of its typed value.")
    action: EditAction
    values: dict[str, str | None] = Field(
        default_factory=dict, description="For a correction: column → the text of its new typed value (None: null)."
    )
    why: str
    by: str = Field(description="Who made the edit: `staff:<username>` or the operator's name.")
    at: dt.datetime = Field(description="When (UTC).")
    run_id: str | None = Field(default=None, description="The run of meta.runs that recorded the edit.")
    undone_at: dt.datetime | None = None
    undone_by: str | None = None
    release: int | str | None = Field(default=None, description="The open-data release made after it, or why not.")
    release_store: str | None = Field(default=None, description="Why that release is not in the release store yet.")

    @property
    def active(self) -> bool:
        """In force: applied to every publish until undone."""
        return self.undone_at is None


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    duck.create_schema(con, _DDL)


# -- checking what is asked ---------------------------------------------------------------------------


def _required(text: str | None, field: str, vi: str, en: str) -> str:
    cleaned = unicodedata.normalize("NFC", (text or "").strip())
    if not cleaned:
        raise EditError(f"cần ghi {vi} / {en} is required", field=field)
    return cleaned


def typed_text(con: duckdb.DuckDBPyConnection, column: Column, value: str, dataset: str | None = None) -> str:
    """The text of `value` typed as the column is staged (NFC text, whole numbers only in an integer
    column, ISO dates); raises EditError naming the column and the value when it does not fit."""
    typed = projection.typed(column, "VARCHAR")  # the expression staging types source text with
    row = con.execute(
        f"SELECT CAST({typed} AS VARCHAR) FROM (SELECT CAST(? AS VARCHAR) AS {quote(column.name)})", [value]
    ).fetchone()
    text = None if row is None else row[0]
    if text is None or (column.type is ColumnType.number and not math.isfinite(float(text))):
        vi, en = _HINTS.get(column.type, ("", ""))
        raise EditError(
            f"giá trị {value!r} không hợp kiểu {column.type.value} của cột {column.name} ({vi}) / the value "
            f"{value!r} does not fit column {column.name} ({column.type.value}: {en})",
            dataset=dataset,
            field=column.name,
        )
    return str(text)


def _key(con: duckdb.DuckDBPyConnection, contract: Contract, key: dict[str, str]) -> dict[str, str]:
    """The key as the text of its typed values, in primary-key order."""
    primary = contract.primary_key
    missing = [k for k in primary if k not in key]
    extra = [k for k in key if k not in primary]
    if missing or extra:
        told = "; ".join(
            part
            for part in (
                f"thiếu / missing: {', '.join(missing)}" if missing else "",
                f"không phải cột khoá / not key columns: {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise EditError(
            f"khoá phải gồm đúng các cột khoá chính ({', '.join(primary)}) / the key must name exactly the "
            f"primary-key columns ({', '.join(primary)}): {told}",
            dataset=contract.id,
            field="key",
        )
    out = {}
    for name in primary:
        value = key[name]
        if value is None or not str(value).strip():
            raise EditError(
                f"khoá thiếu giá trị của cột {name} / the key gives no value for {name}",
                dataset=contract.id,
                field="key",
            )
        out[name] = typed_text(con, contract.column(name), str(value), contract.id)
    return out


def shown(contract: Contract, key: dict[str, Any]) -> str:
    """`col=value, …` for messages and the run history; values of personal-data columns are hidden."""
    personal = {c.name for c in contract.columns if c.personal_data is not PersonalData.none}
    return ", ".join(
        f"{name}={'(dữ liệu cá nhân / personal data)' if name in personal else 'null' if value is None else value}"
        for name, value in key.items()
    )


def _where(key: dict[str, str]) -> tuple[str, list[str]]:
    return " AND ".join(f"CAST({quote(name)} AS VARCHAR) = ?" for name in key), list(key.values())


def _require_row(con: duckdb.DuckDBPyConnection, contract: Contract, key: dict[str, str]) -> str:
    """The published table, if it holds a row with the key; else EditError."""
    table = f"main.{quote(contract.id)}"
    found = 0
    if duck.table_exists(con, "main", contract.id):
        where, params = _where(key)
        found = int(con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0])  # type: ignore[index]
    if not found:
        raise EditError(
            f"không có dòng đã công bố nào của {contract.id} có khoá {shown(contract, key)} / no published row of "
            f"{contract.id} has the key {shown(contract, key)}",
            dataset=contract.id,
            field="key",
        )
    return table


def _values(con: duckdb.DuckDBPyConnection, contract: Contract, values: dict[str, str | None]) -> dict[str, str | None]:
    if not values:
        raise EditError(
            "cần ít nhất một giá trị mới (cột=giá trị) / give at least one new value (column=value)",
            dataset=contract.id,
            field="values",
        )
    columns = {c.name: c for c in contract.columns}
    out: dict[str, str | None] = {}
    for name, value in values.items():
        column = columns.get(name)
        if column is None:
            raise EditError(
                f"{contract.id} không có cột {name} / {contract.id} has no column {name} "
                f"(columns: {', '.join(columns)})",
                dataset=contract.id,
                field=name,
            )
        if name in contract.primary_key:
            raise EditError(
                f"không sửa được cột khoá {name}: hãy rút lại dòng và để nguồn gửi dòng đúng / the key column "
                f"{name} cannot be corrected: retract the row and have the source send the right one",
                dataset=contract.id,
                field=name,
            )
        if value is None:
            if not column.nullable:
                raise EditError(
                    f"cột {name} không được để trống / column {name} may not be empty (nullable: false)",
                    dataset=contract.id,
                    field=name,
                )
            out[name] = None
        else:
            out[name] = typed_text(con, column, value, contract.id)
    return out


# -- edits ----------------------------------------------------------------------------------------------


def _record(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    action: EditAction,
    key: dict[str, str],
    values: dict[str, str | None],
    *,
    by: str,
    why: str,
    run_id: str | None,
) -> RowEdit:
    edit_id = duck.next_id(con, "meta.row_edit_ids")
    edit = RowEdit(
        id=edit_id,
        dataset_id=contract.id,
        key=key,
        action=action,
        values=values,
        why=why,
        by=by,
        at=utcnow(),
        run_id=run_id,
    )
    con.execute(
        f"INSERT INTO meta.row_edits ({', '.join(quote(c) for c in _COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            edit.id,
            edit.dataset_id,
            json.dumps(key, ensure_ascii=False),
            action.value,
            json.dumps(values, ensure_ascii=False) if action is EditAction.CORRECT else None,
            why,
            by,
            edit.at,
            run_id,
            None,
            None,
        ],
    )
    return edit


def retract(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    key: dict[str, str],
    *,
    by: str,
    why: str,
    run_id: str | None = None,
) -> RowEdit:
    """Take the published row with `key` (primary-key column → value) out of `main.<dataset>` now,
    and out of every later publish until the edit is undone. Returns the recorded edit; raises
    EditError (nothing changed) when `why` or `by` is empty, the key does not name exactly the
    primary-key columns or no published row has it."""
    why = _required(why, "why", "lý do", "a reason (why)")
    by = _required(by, "by", "người sửa", "who edits (by)")
    ensure(con)
    typed_key = _key(con, contract, key)
    table = _require_row(con, contract, typed_key)
    where, params = _where(typed_key)
    with changes.edited(con, contract, run_id, where, params):
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
    return _record(con, contract, EditAction.RETRACT, typed_key, {}, by=by, why=why, run_id=run_id)


def correct(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    key: dict[str, str],
    values: dict[str, str | None],
    *,
    by: str,
    why: str,
    run_id: str | None = None,
) -> RowEdit:
    """Replace values (column → new value as text, None for null) of the published row with `key`,
    now and in every later publish until the edit is undone. Returns the recorded edit; raises
    EditError (nothing changed) for an empty `why` or `by`, a key that does not name exactly the
    primary-key columns or no published row, an unknown or key column, a null in a column that
    may not be empty, or a value that does not fit its column's type."""
    why = _required(why, "why", "lý do", "a reason (why)")
    by = _required(by, "by", "người sửa", "who edits (by)")
    ensure(con)
    typed_key = _key(con, contract, key)
    new = _values(con, contract, values)
    table = _require_row(con, contract, typed_key)
    where, params = _where(typed_key)
    with changes.edited(con, contract, run_id, where, params):
        update_row(con, contract, table, typed_key, new)
    return _record(con, contract, EditAction.CORRECT, typed_key, new, by=by, why=why, run_id=run_id)


def update_row(
    con: duckdb.DuckDBPyConnection, contract: Contract, table: str, key: dict[str, str], values: dict[str, str | None]
) -> int:
    sets = ", ".join(f"{quote(name)} = CAST(? AS {contract.column(name).duckdb_type})" for name in values)
    where, params = _where(key)
    changed = con.execute(f"UPDATE {table} SET {sets} WHERE {where}", [*values.values(), *params]).fetchone()
    return int(changed[0]) if changed else 0


def get(con: duckdb.DuckDBPyConnection, edit_id: int) -> RowEdit | None:
    if not duck.table_exists(con, "meta", "row_edits"):
        return None
    row = con.execute(f"{SELECT_EDITS} WHERE id = ?", [edit_id]).fetchone()
    return None if row is None else from_row(row)


def history(con: duckdb.DuckDBPyConnection, dataset_id: str) -> list[RowEdit]:
    """Every edit of a dataset, undone ones included, oldest first."""
    if not duck.table_exists(con, "meta", "row_edits"):
        return []
    return [
        from_row(r) for r in con.execute(f"{SELECT_EDITS} WHERE dataset_id = ? ORDER BY id", [dataset_id]).fetchall()
    ]


def undo(con: duckdb.DuckDBPyConnection, edit_id: int, *, by: str, dataset_id: str | None = None) -> RowEdit:
    """End an edit: later publishes no longer apply it. The row is NOT restored now: the next run
    brings it back as the source sends it (for a file drop, once a file holding it is sent again).
    Raises EditError when there is no such edit (of `dataset_id`, if given) or it was undone."""
    by = _required(by, "by", "người hoàn tác", "who undoes (by)")
    edit = get(con, edit_id)
    if edit is None or (dataset_id is not None and edit.dataset_id != dataset_id):
        raise EditError(
            f"không có sửa đổi số {edit_id} của {dataset_id or 'bộ dữ liệu nào'} / no edit {edit_id}"
            + (f" of {dataset_id}" if dataset_id else ""),
            dataset=dataset_id,
            field="edit_id",
        )
    if edit.undone_at is not None:
        raise EditError(
            f"sửa đổi số {edit_id} đã được {edit.undone_by} hoàn tác / edit {edit_id} was undone already, by "
            f"{edit.undone_by} at {edit.undone_at:%Y-%m-%d %H:%M} UTC",
            dataset=edit.dataset_id,
            field="edit_id",
        )
    now = utcnow()
    con.execute("UPDATE meta.row_edits SET undone_at = ?, undone_by = ? WHERE id = ?", [now, by, edit_id])
    # The next run must bring the row back: a derived dataset recomputes in full then, not by groups.
    changes.replaced(con, edit.dataset_id, f"undo:{edit_id}", "an edit was undone")
    return edit.model_copy(update={"undone_at": now, "undone_by": by})


def describe(edit: RowEdit, contract: Contract) -> str:
    """One line for the run history: the edit, who made it and why (personal data hidden)."""
    key = shown(contract, edit.key)
    if edit.undone_at is not None:
        return (
            f"sửa đổi #{edit.id} được hoàn tác, dòng {key} trở lại như nguồn gửi ở lần chạy sau / edit #{edit.id} "
            f"undone, row {key} returns as the source sends it with the next run; bởi / by {edit.undone_by}"
        )
    if edit.action is EditAction.RETRACT:
        what = f"sửa đổi #{edit.id}: dòng {key} bị rút lại / row {key} retracted"
    else:
        what = f"sửa đổi #{edit.id}: dòng {key} được sửa / row {key} corrected ({shown(contract, edit.values)})"
    return f"{what}; bởi / by {edit.by}; lý do / why: {edit.why}"


def from_row(row: tuple[Any, ...]) -> RowEdit:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["key"] = json.loads(data["key"])
    data["values"] = json.loads(data["values"]) if data["values"] else {}
    return RowEdit.model_validate(data)
