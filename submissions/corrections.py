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
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Column, ColumnType, Contract, FileFormat, FileSource
from lgsp.warehouse.projection import ORIGIN, PROBLEMS, SUBMISSION, TYPED
from lgsp.warehouse.quarantine import RESOLUTION_COLUMNS

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

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


# -- the workbook -----------------------------------------------------------------------------------

READ_ONLY = "D9D9D9"  # grey: the sheet's own columns
PROBLEM = "FFC7CE"  # light red: the cells that made the row fail
_NOTES = {
    REASON: (
        "Chỉ để đọc: vì sao dòng bị cách ly. Hub bỏ qua cột này.\n"
        "Read-only: why the row was quarantined. The hub ignores this column."
    ),
    REF: (
        "Chỉ để đọc: không sửa, không xoá. Cho hub biết dòng này sửa dòng bị cách ly nào (lần nộp:dòng); "
        "dòng không có mã không được đọc.\n"
        "Read-only: do not edit or delete. It tells the hub which quarantined row this row corrects "
        "(submission:line); a row without it is not read."
    ),
}


def correction_sheet(con: duckdb.DuckDBPyConnection, contract: Contract, *, submission_id: int | None = None) -> bytes:
    """The dataset's open quarantined rows (of one submission, or of all) as a correction sheet,
    XLSX bytes: the same rows give the same bytes."""
    return workbook(contract, open_rows(con, contract.id, submission_id), submission_id=submission_id)


def workbook(contract: Contract, rows: list[OpenRow], *, submission_id: int | None = None) -> bytes:
    """The correction sheet of these rows: the template's header, notes and validation, each
    row's values as typed with its problem cells in red, then the reason and the ref (grey,
    read-only), and a second sheet of instructions."""
    from openpyxl import Workbook  # only the sheet needs it, not the runs that read one back

    from lgsp.submissions import template

    book = Workbook()
    data = book.active
    assert data is not None
    source = contract.source if isinstance(contract.source, FileSource) else None
    data.title = source.sheet if source and source.sheet else contract.id[:31]
    header_row = source.header_row if source else 1
    template.data_sheet(data, contract, header_row)
    _rows(data, contract, rows, header_row)
    _instructions(book.create_sheet(template.INSTRUCTIONS), contract, source, len(rows), submission_id)
    book.properties.creator = contract.publisher.name.vi
    book.properties.title = f"Bảng sửa lỗi: {contract.title.vi} / Correction sheet: {contract.title.en}"
    book.properties.created = book.properties.modified = template.FIXED_TIME
    buffer = io.BytesIO()
    book.save(buffer)
    return template.reproducible(buffer.getvalue())


def _rows(sheet: Worksheet, contract: Contract, rows: list[OpenRow], header_row: int) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    from lgsp.submissions.template import FORMATS, header_columns

    columns = header_columns(contract)
    grey, red = PatternFill("solid", fgColor=READ_ONLY), PatternFill("solid", fgColor=PROBLEM)
    mine = {name: len(columns) + i for i, name in enumerate(COLUMNS, start=1)}
    for name, position in mine.items():
        cell = sheet.cell(header_row, position, name)
        cell.font, cell.fill = Font(bold=True), grey
        cell.comment = Comment(_NOTES[name], contract.publisher.code, height=110, width=320)
        dimension = sheet.column_dimensions[get_column_letter(position)]
        dimension.width, dimension.number_format = (60, "@") if name == REASON else (16, "@")
    for number, row in enumerate(rows, start=header_row + 1):
        flagged = problem_columns(contract, row)
        for position, column in enumerate(columns, start=1):
            value = cell_value(column, row, flagged)
            cell = sheet.cell(number, position, value)
            cell.number_format = FORMATS[column.type]  # a cell's own format wins over its column's
            if column.name in flagged:
                cell.fill = red
                if column.name in row.problems:
                    cell.comment = Comment(row.problems[column.name], contract.publisher.code, height=90, width=320)
        for name, text in ((REASON, row.reasons), (REF, row.ref)):
            cell = sheet.cell(number, mine[name], text)
            cell.fill, cell.number_format = grey, "@"


def problem_columns(contract: Contract, row: OpenRow) -> set[str]:
    """The sheet's columns whose cells made the row fail: those the hub could not read, and those
    its failed checks name (a qualifier column's failure is its number column's)."""
    names = set(row.problems)
    for check in row.checks:
        kind, _, column = check.partition(":")
        if column:  # type:, nn:, admin_unit:
            names.add(column)
        elif kind == "pk":
            names.update(contract.primary_key)
        elif re.fullmatch(r"e\d+", kind) and int(kind[1:]) < len(contract.expectations):
            names.update(contract.expectations[int(kind[1:])].columns)
    by_name = {c.name: c for c in contract.columns}
    return {(by_name[n].qualifier_of or n) if n in by_name else n for n in names}


def cell_value(column: Column, row: OpenRow, flagged: set[str]) -> Any:
    """A cell of the sheet: the text as the department wrote it; a value the hub read exactly and
    holds in its own form (`45000.0`, `2024-03-05`) goes back as a number or date cell, so that it
    reads back as the same value whatever the sheet's other cells look like."""
    value = row.values.get(column.name)
    if value is None or column.name in row.written or column.name in flagged:
        return value
    try:
        if column.type is ColumnType.integer and re.fullmatch(r"-?\d{1,15}", value):
            return int(value)
        if column.type is ColumnType.number and re.fullmatch(r"-?\d+(\.\d+)?(e[+-]?\d+)?", value, re.IGNORECASE):
            number = float(value)
            return int(number) if number.is_integer() and abs(number) < 1e15 else number
        if column.type is ColumnType.date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.date.fromisoformat(value)
        if column.type is ColumnType.timestamp and re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T][\d:.]+", value):
            return dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    return value


def file_name(contract: Contract, submission_id: int | None = None) -> str:
    """A name for the sheet that the dataset's inbox takes (its first `*.xlsx` pattern, filled in)."""
    part = f"sua_loi_{submission_id}" if submission_id is not None else "sua_loi"
    patterns = contract.source.pattern if isinstance(contract.source, FileSource) else []
    for pattern in patterns:
        if pattern.lower().endswith(".xlsx") and "*" in pattern and not re.search(r"[?\[\]]", pattern):
            return pattern.replace("*", part, 1).replace("*", "")
    return f"{contract.id}_{part}.xlsx"


def _instructions(
    sheet: Worksheet, contract: Contract, source: FileSource | None, count: int, submission_id: int | None
) -> None:
    from openpyxl.styles import Alignment, Font

    if submission_id is not None:
        scope = (
            f"Các dòng bị cách ly của lần nộp {submission_id} chưa được sửa: {count} dòng. / The quarantined rows "
            f"of submission {submission_id} not yet corrected: {count}."
        )
    else:
        scope = (
            f"Các dòng bị cách ly chưa được sửa, của mọi lần nộp: {count} dòng. / The quarantined rows not yet "
            f"corrected, of every submission: {count}."
        )
    if source is not None and (
        source.format is FileFormat.csv or not any(p.lower().endswith(".xlsx") for p in source.pattern)
    ):
        send = (
            f"5. Lưu thành CSV UTF-8, giữ cả hai cột cuối, tên tệp theo mẫu {', '.join(source.pattern)}, rồi gửi lại. / "
            f"Save as CSV UTF-8, keeping both last columns, named like {', '.join(source.pattern)}, and send it back."
        )
    else:
        send = (
            f"5. Gửi lại trên trang của Sở, hoặc chép vào hộp thư với tên như {file_name(contract, submission_id)}. / "
            f"Upload it on the department pages, or drop it into the inbox named like {file_name(contract, submission_id)}."
        )
    lines = [
        (f"Bảng sửa lỗi: {contract.title.vi} / Correction sheet: {contract.title.en}", True),
        (scope, False),
        (f"Cơ quan / Publisher: {contract.publisher.name.vi} / {contract.publisher.name.en}", False),
        (f"1. Sửa từng dòng theo cột '{REASON}'; ô có lỗi được tô đỏ, các ô khác giữ nguyên như đã nhập. / Fix each "
         f"row as its '{REASON}' says; the cells at fault are red, the others are as you typed them.", False),
        (f"2. Không sửa, không xoá cột '{REF}': dòng không có mã dòng, hoặc có mã bị sửa, không được đọc. / Do not "
         f"edit or delete the '{REF}' column: a row without its ref, or with an edited one, is not read.", False),
        (f"3. Cột '{REASON}' chỉ để đọc; hub bỏ qua nó. / The '{REASON}' column is for reading; the hub ignores it.", False),
        ("4. Dòng chưa sửa được thì xoá đi: nó vẫn chờ sửa, trong bảng sửa lỗi sau. Không thêm dòng mới ở đây: dòng "
         "mới gửi trong tệp thường. / Delete the rows you cannot fix yet: they stay open, in the next correction "
         "sheet. Do not add rows here: new rows go in an ordinary file.", False),
        (send, False),
        ("Chỉ các dòng này được đọc lại; các dòng đã công bố không đổi. Dòng vẫn còn lỗi lại bị cách ly, với lý do "
         "mới. / Only these rows are read again; the rows already published stay as they are. A row still wrong is "
         "quarantined again, with its new reason.", False),
        ("Cột, kiểu và quy tắc: xem ghi chú ở mỗi tiêu đề, hoặc mẫu nộp dữ liệu. / Columns, types and rules: see the "
         "note on each header, or the submission template.", False),
    ]  # fmt: skip
    for number, (text, bold) in enumerate(lines, start=1):
        cell = sheet.cell(number, 1, text)
        cell.font, cell.alignment = Font(bold=bold), Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions["A"].width = 120
