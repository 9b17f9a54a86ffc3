"""A correction sheet: a dataset's open quarantined rows as an XLSX workbook the department fixes
and sends back (lgsp.submissions.corrections says what becomes of it when it comes back). The
same rows give the same bytes."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import TYPE_CHECKING, Any

import duckdb

from lgsp.schemas.contract import Column, ColumnType, Contract, FileFormat, FileSource
from lgsp.submissions.corrections import COLUMNS, REASON, REF, OpenRow, open_rows

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet


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
