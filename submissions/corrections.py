"""Correction sheets: a dataset's quarantined rows that are still open, as an XLSX workbook the
department fixes and sends back, and what becomes of the quarantine entries when it comes back.

The sheet has the submission template's columns (the contract's `source` headers, their notes and
data validation) with each row's values as typed, then two read-only columns: `Lý do / Reason`
(why the row was quarantined) and `Mã dòng / Row ref` (`<submission>:<line>`, the quarantine
entry the row corrects). The file-drop reader knows a correction sheet by that column (or by the
submission's `correction` channel), ignores both columns, and reads only the rows whose ref names
an open entry (`screen`); the others are refused, each with its reason in the receipt.

When the run settles, inside the publishing transaction (lgsp.submissions.ledger.settle), every
entry a row of the sheet corrected is resolved by that submission (`resolve`): the row was
published, or it was quarantined again, and then its new entry (`<correction>:<line>`, named in
the old entry's `_resolved_as`) is the open successor that the next sheet carries with its new
reason. So each quarantined row has one open entry at most. The entries of a run discarded on
review are closed (resolved by no submission): the department sends that file again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.warehouse.projection import ORIGIN, PROBLEMS, SUBMISSION, TYPED
from lgsp.warehouse.quarantine import RESOLUTION_COLUMNS

if TYPE_CHECKING:
    pass

REASON = "Lý do / Reason"
REF = "Mã dòng / Row ref"
COLUMNS = (REASON, REF)  # the sheet's own columns: the reader leaves them out of the data
CORRECTED = "corrected_rows"  # a correction submission's info: {line: ref} of the rows it read
_REF = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
_LINE = "':([0-9]+)$'"  # the line of a file drop's origin, `file:line`


def ref(submission_id: int, line: int) -> str:
    """A quarantine entry's ref: its submission and the line of the row in that file."""
    return f"{submission_id}:{line}"


def parse_ref(text: str | None) -> str | None:
    """A ref as written in a sheet, in its one spelling; None when it is not one."""
    found = _REF.match(text or "")
    return ref(int(found[1]), int(found[2])) if found else None


def _ref_sql(alias: str = "") -> str:
    at = f"{alias}." if alias else ""
    return f"({at}{quote(SUBMISSION)} || ':' || regexp_extract({at}{quote(ORIGIN)}, {_LINE}, 1))"


def _quarantine(con: duckdb.DuckDBPyConnection, dataset_id: str) -> tuple[str, list[str]] | None:
    """The dataset's quarantine table and its columns, when it holds submitted rows."""
    if not duck.table_exists(con, "quarantine", dataset_id):
        return None
    table = f"quarantine.{quote(dataset_id)}"
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    return (table, columns) if SUBMISSION in columns and ORIGIN in columns else None


@dataclass(frozen=True)
class OpenRow:
    """A quarantined row no correction has resolved yet: its ref, where it was, its values as typed
    (by column name; a qualifier stays in front of its number, as the department wrote it), and why."""

    ref: str
    submission_id: int
    line: int
    origin: str
    run_id: str
    quarantined_at: dt.datetime
    values: dict[str, str | None]
    reasons: str
    checks: list[str]
    problems: dict[str, str] = field(default_factory=dict)  # column → why the hub could not read the cell
    written: frozenset[str] = frozenset()  # columns whose value is the text as written, read otherwise by the hub


def open_rows(con: duckdb.DuckDBPyConnection, dataset_id: str, submission_id: int | None = None) -> list[OpenRow]:
    """The dataset's quarantined rows still open (of one submission, or of all), by submission and line."""
    found = _quarantine(con, dataset_id)
    if found is None:
        return []
    table, columns = found
    data = [c for c in columns if not c.startswith("_")]
    extra = [f"{quote(c)}" if c in columns else f"NULL AS {quote(c)}" for c in (TYPED, PROBLEMS)]
    where = f"{quote(SUBMISSION)} IS NOT NULL AND regexp_matches({quote(ORIGIN)}, {_LINE})"
    if "_resolved_at" in columns:
        where += " AND _resolved_at IS NULL"
    params: list[Any] = []
    if submission_id is not None:
        where += f" AND {quote(SUBMISSION)} = ?"
        params.append(str(submission_id))
    sql = (
        f"SELECT _ref, _sub, _line, {quote(ORIGIN)}, _run_id, _quarantined_at, _reasons, _checks, {', '.join(extra)}"
        f"{''.join(', ' + quote(c) for c in data)} FROM (SELECT {_ref_sql()} AS _ref, "
        f"TRY_CAST({quote(SUBMISSION)} AS BIGINT) AS _sub, "
        f"TRY_CAST(regexp_extract({quote(ORIGIN)}, {_LINE}, 1) AS BIGINT) AS _line, * FROM {table} WHERE {where}) "
        "WHERE _sub IS NOT NULL "
        # one open entry per ref: a second would be a run read twice; the newest stands
        "QUALIFY row_number() OVER (PARTITION BY _ref ORDER BY _quarantined_at DESC, _run_id DESC) = 1 "
        "ORDER BY _sub, _line"
    )
    out = []
    for row in con.execute(sql, params).fetchall():
        typed = json.loads(row[8]) if row[8] else {}
        out.append(
            OpenRow(
                ref=row[0],
                submission_id=int(row[1]),
                line=int(row[2]),
                origin=row[3],
                run_id=row[4],
                quarantined_at=row[5],
                reasons=row[6] or "",
                checks=list(row[7] or []),
                problems=json.loads(row[9]) if row[9] else {},
                written=frozenset(typed),
                values=dict(zip(data, row[10:], strict=True)),
            )
        )
    return out


# -- reading a sheet back ---------------------------------------------------------------------------

MISSING_REF_COLUMN = (
    f"thiếu cột '{REF}' của bảng sửa lỗi nên không biết mỗi dòng sửa dòng nào; tải lại bảng sửa lỗi và giữ "
    f"nguyên cột này / the correction sheet's '{REF}' column is missing, so no row says which quarantined row it "
    "corrects; download the correction sheet again and keep that column"
)


@dataclass
class Screened:
    """Which rows of a correction sheet are read: `keep` by row, `read` (line → ref) and why the
    others are not (line, reason)."""

    keep: list[bool]
    read: dict[int, str]
    problems: list[tuple[int | None, str]]


def screen(con: duckdb.DuckDBPyConnection, dataset_id: str, lines: list[int], refs: list[str | None]) -> Screened:
    """Keep the rows of a correction sheet whose ref names an open quarantine entry of the dataset,
    once; say why each other row is not read."""
    parsed = [parse_ref(r) for r in refs]
    entries = _entries(con, dataset_id, sorted({p for p in parsed if p}))
    where: dict[str, list[int]] = {}
    for line, p in zip(lines, parsed, strict=True):
        if p:
            where.setdefault(p, []).append(line)
    counts = Counter(p for p in parsed if p)
    out = Screened([], {}, [])
    for line, raw, p in zip(lines, refs, parsed, strict=True):
        problem = None
        if not (raw or "").strip():
            problem = (
                f"không có mã dòng: bảng sửa lỗi chỉ đọc các dòng có '{REF}'; dòng mới gửi trong tệp thường / "
                f"no row ref: a correction sheet's rows are read only with their '{REF}'; send new rows in an "
                "ordinary file"
            )
        elif p is None:
            problem = (
                f"mã dòng '{raw}' không hợp lệ (bị sửa?); tải lại bảng sửa lỗi / row ref '{raw}' is not valid "
                "(was it edited?); download the correction sheet again"
            )
        elif counts[p] > 1:
            others = ", ".join(str(n) for n in where[p])
            problem = (
                f"mã dòng '{p}' có ở các dòng {others}: không biết dòng nào là bản sửa / row ref '{p}' is on rows "
                f"{others}: which one is the correction?"
            )
        elif p not in entries:
            problem = f"không có dòng bị cách ly nào mang mã '{p}' / no quarantined row of {dataset_id} has ref '{p}'"
        elif (closed := entries[p]) is not None:
            problem = _closed(p, closed)
        if problem is None and p is not None:
            out.read[line] = p
        else:
            out.problems.append((line, problem or ""))
        out.keep.append(problem is None)
    return out


def _closed(p: str, by: int | str) -> str:
    if isinstance(by, int):
        return (
            f"dòng '{p}' đã được sửa bởi lần nộp {by}; tải lại bảng sửa lỗi / row '{p}' was already corrected by "
            f"submission {by}; download the correction sheet again"
        )
    return (
        f"dòng '{p}' không còn chờ sửa: lần chạy của nó bị bỏ khi xem xét; gửi lại tệp / row '{p}' no longer "
        "waits for a correction: its run was discarded on review; send the file again"
    )


def _entries(con: duckdb.DuckDBPyConnection, dataset_id: str, refs: list[str]) -> dict[str, int | str | None]:
    """For each ref that names a quarantine entry: None when one is open, else who closed it (the
    correcting submission, or "discarded")."""
    found = _quarantine(con, dataset_id)
    if found is None or not refs:
        return {}
    table, columns = found
    if "_resolved_at" not in columns:  # a table from before corrections: every entry is open
        rows = con.execute(
            f"SELECT DISTINCT {_ref_sql()} FROM {table} WHERE {_ref_sql()} IN (SELECT unnest(?))", [refs]
        )
        return dict.fromkeys((r[0] for r in rows.fetchall()), None)
    rows = con.execute(
        f"SELECT {_ref_sql()}, bool_or(_resolved_at IS NULL), max(_resolved_by) FROM {table} "
        f"WHERE {_ref_sql()} IN (SELECT unnest(?)) GROUP BY ALL",
        [refs],
    )
    return {r[0]: None if r[1] else (int(r[2]) if r[2] is not None else "discarded") for r in rows.fetchall()}


def resolve(
    con: duckdb.DuckDBPyConnection, quarantine: str, submission_id: int, corrected: dict[str, str], now: dt.datetime
) -> None:
    """The entries the rows of a correction submission (`corrected`: line → ref) sent again are
    resolved by it; each names its successor row, `<submission>:<line>`."""
    if not corrected:
        return
    _ensure(con, quarantine)
    lines = sorted(corrected, key=int)
    con.execute(
        f"UPDATE {quarantine} AS q SET _resolved_by = $1, _resolved_at = $2, _resolved_as = r.successor "
        "FROM (SELECT unnest($3) AS ref, unnest($4) AS successor) r "
        f"WHERE {_ref_sql('q')} = r.ref AND q._resolved_at IS NULL",
        [submission_id, now, [corrected[n] for n in lines], [ref(submission_id, int(n)) for n in lines]],
    )


def close(con: duckdb.DuckDBPyConnection, quarantine: str, run_ids: list[str], now: dt.datetime) -> None:
    """The open entries of runs discarded on review are closed: no correction is waited for."""
    if run_ids:
        _ensure(con, quarantine)
        con.execute(
            f"UPDATE {quarantine} SET _resolved_at = $1 WHERE _resolved_at IS NULL AND _run_id IN (SELECT unnest($2))",
            [now, run_ids],
        )


def _ensure(con: duckdb.DuckDBPyConnection, quarantine: str) -> None:
    """A quarantine table made before corrections gets their columns (publishing adds them too)."""
    have = {r[0] for r in con.execute(f"DESCRIBE {quarantine}").fetchall()}
    for name, kind in RESOLUTION_COLUMNS:
        if name not in have:
            con.execute(f"ALTER TABLE {quarantine} ADD COLUMN IF NOT EXISTS {quote(name)} {kind}")
