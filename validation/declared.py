"""Checks every run gets from its contract before Great Expectations: each value fits its declared
type, and a duplicate key's reason names the other rows with that key."""

from __future__ import annotations

import json

import duckdb

from lgsp.core.duck import quote
from lgsp.schemas.contract import ColumnType, Contract, Severity
from lgsp.validation.report import CheckResult
from lgsp.warehouse.projection import ORIGIN, PROBLEMS
from lgsp.warehouse.staging import Staging

SAMPLE = 10
WITHHELD = "(personal data withheld)"


def shown_sample(value: object) -> str:
    """A value in a report's sample: numpy scalars as plain numbers, long text cut."""
    if hasattr(value, "item"):
        value = value.item()
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_TYPE_NAMES = {  # (vi, en)
    ColumnType.string: ("văn bản", "text"),
    ColumnType.integer: ("số nguyên", "whole number"),
    ColumnType.number: ("số", "number"),
    ColumnType.boolean: ("giá trị đúng/sai", "boolean"),
    ColumnType.date: ("ngày", "date"),
    ColumnType.timestamp: ("thời điểm", "timestamp"),
}


def name_other_rows(con: duckdb.DuckDBPyConnection, contract: Contract, staging: Staging) -> None:
    """A duplicate key's reason names the other rows with that key, where rows know their origin
    (a file drop's file and line), so the department finds both."""
    if ORIGIN not in staging.columns(con):
        return
    same = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in contract.primary_key)
    con.execute(
        f"""UPDATE {staging.failures_table} f SET reason = f.reason || '; cùng khoá với / same key as ' || o.others
        FROM (
            SELECT s.rowid AS row, array_to_string(list_sort(list(t.{quote(ORIGIN)}))[1:5], ', ') AS others
            FROM {staging.stage} s JOIN {staging.stage} t ON {same} AND s.rowid <> t.rowid
            WHERE s.rowid IN (SELECT row FROM {staging.failures_table} WHERE check_key = 'pk')
            GROUP BY s.rowid
        ) o
        WHERE f.row = o.row AND f.check_key = 'pk'"""
    )


def type_checks(con: duckdb.DuckDBPyConnection, contract: Contract, staging: Staging, rows: int) -> list[CheckResult]:
    """Values that did not fit the declared type are quarantined with the value as typed in the
    reason; where the connector said why it could not read a cell (a file drop's `gần 1 triệu`),
    that is the reason."""
    results = []
    present = set(staging.misfit_columns(con))
    explained = PROBLEMS in staging.columns(con)
    for i, column in enumerate(contract.columns):
        if column.name not in present:
            continue
        raw = quote(column.name)
        key = f"type:{column.name}"
        kind = _TYPE_NAMES[column.type]
        generic = f"' không phải {kind[0]} hợp lệ cho cột {column.name} / is not a valid {kind[1]} for {column.name}"
        reason = f"chr(39) || m.{raw} || ?"
        if explained:
            path = "$." + json.dumps(column.name)
            reason = f"coalesce(json_extract_string(s.{quote(PROBLEMS)}, '{path}'), {reason})"
        join = (
            f" LEFT JOIN (SELECT rowid AS row, {quote(PROBLEMS)} FROM {staging.stage}) s USING (row)"
            if explained
            else ""
        )
        con.execute(
            f"INSERT INTO {staging.failures_table} SELECT m.row, ?, {reason} "
            f"FROM {staging.misfits_table} m{join} WHERE m.{raw} IS NOT NULL",
            [key, generic],
        )
        bad = con.execute(
            f"SELECT count(*), list({raw} ORDER BY row)[1:{SAMPLE}] FROM {staging.misfits_table} WHERE {raw} IS NOT NULL"
        ).fetchone()
        assert bad is not None
        withheld = bad[0] and column.name in contract.personal_columns
        results.append(
            CheckResult(
                key=key,
                expectation="declared_type",
                kwargs={"column": column.name, "type": column.type.value},
                severity=Severity.quarantine.value,
                origin=f"columns[{i}].type",
                scope="row",
                evaluated=rows,
                unexpected=int(bad[0]),
                success=int(bad[0]) == 0,
                sample=[WITHHELD] if withheld else [shown_sample(v) for v in (bad[1] or [])],
            )
        )
    if explained:
        results += _unread_cells(con, contract, staging, rows)
    return results


def _unread_cells(con: duckdb.DuckDBPyConnection, contract: Contract, staging: Staging, rows: int) -> list[CheckResult]:
    """Cells the connector could not read exactly although DuckDB could type their text (`nan`,
    `Infinity`, `1_000`): quarantined with the connector's reason all the same."""
    results = []
    for i, column in enumerate(contract.columns):
        path = "$." + json.dumps(column.name)
        key = f"type:{column.name}"
        found = con.execute(
            f"INSERT INTO {staging.failures_table} SELECT rowid, ?, json_extract_string({quote(PROBLEMS)}, '{path}') "
            f"FROM {staging.stage} WHERE json_extract_string({quote(PROBLEMS)}, '{path}') IS NOT NULL "
            f"AND rowid NOT IN (SELECT row FROM {staging.failures_table} WHERE check_key = ?)",
            [key, key],
        ).fetchone()
        count = int(found[0]) if found else 0
        if count:
            results.append(
                CheckResult(
                    key=f"read:{column.name}",
                    expectation="readable_value",
                    kwargs={"column": column.name},
                    severity=Severity.quarantine.value,
                    origin=f"columns[{i}]",
                    scope="row",
                    evaluated=rows,
                    unexpected=count,
                    success=False,
                )
            )
    return results
