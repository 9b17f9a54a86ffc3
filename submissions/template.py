"""A dataset's submission template: the XLSX workbook a department fills in and sends.

The first sheet has the header row exactly as the file-drop reader looks for it (each column's
`source` header for a file drop, else its name), a comment on every header cell (description, unit,
type, whether it is required, personal-data class) and Excel data validation from the contract:
whole numbers, decimals, dates, Có/Không, the values an expectation allows. The second sheet
explains every column, Vietnamese first. The same contract gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from lgsp.schemas.contract import Column, ColumnType, Contract, Expectation, FileFormat, FileSource, Severity

FIXED_TIME = dt.datetime(2025, 1, 1)
"""Every template is stamped with this time (workbook properties and zip entries), so it is reproducible."""
LAST_ROW = 1_048_576  # Excel's last row: validation and formats reach every row a department may fill
INSTRUCTIONS = "Hướng dẫn - Instructions"  # Excel forbids '/' in sheet names
MAX_LIST = 255  # Excel's limit on a list validation written inline

TYPES: dict[ColumnType, tuple[str, str]] = {
    ColumnType.string: ("Văn bản", "Text"),
    ColumnType.integer: ("Số nguyên", "Whole number"),
    ColumnType.number: ("Số", "Number"),
    ColumnType.boolean: ("Có/Không", "Yes/No"),
    ColumnType.date: ("Ngày (dd/mm/yyyy)", "Date (dd/mm/yyyy)"),
    ColumnType.timestamp: ("Ngày giờ (dd/mm/yyyy hh:mm)", "Date and time (dd/mm/yyyy hh:mm)"),
}
FORMATS = {
    ColumnType.string: "@",  # text: codes keep their leading zeros
    ColumnType.integer: "0",
    ColumnType.number: "General",
    ColumnType.boolean: "@",
    ColumnType.date: "dd/mm/yyyy",
    ColumnType.timestamp: "dd/mm/yyyy hh:mm",
}
PERSONAL = {"none": ("Không", "None"), "basic": ("Cơ bản", "Basic"), "sensitive": ("Nhạy cảm", "Sensitive")}
YES, NO = ("Có", "Yes"), ("Không", "No")
BOUNDS = {  # Excel's widest sensible bounds when the contract gives none
    ColumnType.integer: ("-999999999999999", "999999999999999"),
    ColumnType.number: ("-1E+307", "1E+307"),
    ColumnType.date: ("DATE(1900,1,1)", "DATE(9999,12,31)"),
    ColumnType.timestamp: ("DATE(1900,1,1)", "DATE(9999,12,31)+1"),
}
DEFAULT_BOUNDS = {b for pair in BOUNDS.values() for b in pair}
RANGE_WORDS = {
    "vi": ("từ {} đến {}", "từ {} trở lên", "không quá {}"),
    "en": ("from {} to {}", "{} or more", "at most {}"),
}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def template(contract: Contract) -> bytes:
    """The dataset's submission template as XLSX bytes: the same contract gives the same bytes.

    Raises ValueError when the contract names a sheet (`source.sheet`) Excel cannot have."""
    book = Workbook()
    data = book.active
    assert data is not None
    source = contract.source if isinstance(contract.source, FileSource) else None
    data.title = source.sheet if source and source.sheet else contract.id[:31]  # Excel's names are 31 long at most
    data_sheet(data, contract, source.header_row if source else 1)
    _instructions(book.create_sheet(INSTRUCTIONS), contract, source)
    book.properties.creator = contract.publisher.name.vi
    book.properties.title = f"{contract.title.vi} / {contract.title.en}"
    book.properties.created = book.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    book.save(buffer)
    return reproducible(buffer.getvalue())


def header_columns(contract: Contract) -> list[Column]:
    """The columns a submission carries, in order: all but the qualifier columns, which the hub
    fills from the words (hơn, gần…) written before their number column's values."""
    return [c for c in contract.columns if c.qualifier_of is None]


def header(contract: Contract, column: Column) -> str:
    """The column's header as the file-drop reader looks for it."""
    return column.source if contract.source.kind == "files" and column.source else column.name


def required(contract: Contract, column: Column) -> bool:
    return column.name in contract.primary_key or not column.nullable


def _both(pair: tuple[str, str]) -> str:
    return f"{pair[0]} / {pair[1]}"


def data_sheet(sheet: Worksheet, contract: Contract, header_row: int) -> None:
    """The header row with its notes, the columns' formats and data validation (the template's,
    and the correction sheet's first columns)."""
    if header_row > 1:  # rows above the header: the reader skips them; say what the file is
        sheet.cell(1, 1, f"{contract.title.vi} / {contract.title.en}").font = Font(bold=True)
    for position, column in enumerate(header_columns(contract), start=1):
        letter = get_column_letter(position)
        cell = sheet.cell(header_row, position, header(contract, column))
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
        note = _note(contract, column)
        cell.comment = Comment(note, contract.publisher.code, height=18 * (note.count("\n") + 2), width=320)
        dimension = sheet.column_dimensions[letter]
        dimension.width = min(max(len(str(cell.value)), 10) + 4, 50)
        dimension.number_format = FORMATS[column.type]
        validation = _validation(contract, column)
        if validation is not None:
            validation.add(f"{letter}{header_row + 1}:{letter}{LAST_ROW}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = f"A{header_row + 1}"


def _note(contract: Contract, column: Column) -> str:
    lines = [column.description.vi, column.description.en, f"Kiểu / Type: {_both(TYPES[column.type])}"]
    if column.unit:
        lines.append(f"Đơn vị / Unit: {column.unit}")
    lines.append(f"Bắt buộc / Required: {_both(YES if required(contract, column) else NO)}")
    if column.personal_data.value != "none":
        lines.append(f"Dữ liệu cá nhân / Personal data: {_both(PERSONAL[column.personal_data.value])}")
    qualified = [c.name for c in contract.columns if c.qualifier_of == column.name]
    if qualified:
        lines.append("Có thể ghi hơn, gần, khoảng, ước trước số / hơn, gần, khoảng, ước may precede the number")
    return "\n".join(lines)


def _expectations(contract: Contract, column: Column, kind: str) -> list[Expectation]:
    return [e for e in contract.expectations if e.type == kind and e.kwargs.get("column") == column.name]


def _strict(expectation: Expectation) -> bool:
    """Whether the hub refuses what fails it (so Excel may too): not a warning, not `mostly`."""
    return expectation.severity is not Severity.warn and "mostly" not in expectation.kwargs


def _bound(column: Column, value: Any) -> str:
    if column.type in (ColumnType.date, ColumnType.timestamp):
        day = dt.date.fromisoformat(str(value)[:10])
        return f"DATE({day.year},{day.month},{day.day})"
    return str(value)


def _validation(contract: Contract, column: Column) -> DataValidation | None:
    """Excel's check for the column: its type, and the bounds or values a strict expectation sets."""
    blank = not required(contract, column)
    if column.type is ColumnType.boolean:
        return _rule("list", '"Có,Không"', None, None, blank, "Chọn Có hoặc Không. / Choose Có (yes) or Không (no).")
    if column.type is ColumnType.string:
        for expectation in _expectations(contract, column, "expect_column_values_to_be_in_set"):
            values = [str(v) for v in expectation.kwargs.get("value_set") or []]
            inline = '"' + ",".join(values) + '"'
            if values and len(inline) <= MAX_LIST and not any("," in v or '"' in v for v in values):
                rule = _rule(
                    "list",
                    inline,
                    None,
                    None,
                    blank,
                    "Chọn một giá trị trong danh sách. / Choose a value from the list.",
                )
                rule.errorStyle = "stop" if _strict(expectation) else "warning"
                return rule
        if column.name in contract.primary_key:
            return _rule("textLength", "1", "255", "between", blank, "Từ 1 đến 255 ký tự. / 1 to 255 characters.")
        return None
    low, high = BOUNDS[column.type]
    between = [e for e in _expectations(contract, column, "expect_column_values_to_be_between") if _strict(e)]
    for expectation in between:
        if expectation.kwargs.get("min_value") is not None:
            low = _bound(column, expectation.kwargs["min_value"])
        if expectation.kwargs.get("max_value") is not None:
            high = _bound(column, expectation.kwargs["max_value"])
    kind = {ColumnType.integer: "whole", ColumnType.date: "date"}.get(column.type, "decimal")
    vi, en = TYPES[column.type]
    message = f"{vi}{_range(low, high, 'vi')}. / {en}{_range(low, high, 'en')}."
    rule = _rule(kind, low, high, "between", blank, message)
    if any(c.qualifier_of == column.name for c in contract.columns):
        rule.errorStyle = "warning"  # "hơn 2.000" is text, and welcome: the hub keeps the qualifier apart
    return rule


def _shown(bound: str) -> str | None:
    """A bound as people read it (dd/mm/yyyy for dates); None for the default bounds."""
    if bound in DEFAULT_BOUNDS:
        return None
    day = re.fullmatch(r"DATE\((\d+),(\d+),(\d+)\)", bound)
    return f"{int(day[3]):02d}/{int(day[2]):02d}/{day[1]}" if day else bound


def _range(low: str, high: str, lang: str) -> str:
    start, end = _shown(low), _shown(high)
    both, at_least, at_most = RANGE_WORDS[lang]
    if start and end:
        return " " + both.format(start, end)
    if start or end:
        return " " + (at_least.format(start) if start else at_most.format(end))
    return ""


def _rule(
    kind: str, formula1: str, formula2: str | None, operator: str | None, blank: bool, message: str
) -> DataValidation:
    return DataValidation(
        type=kind,
        operator=operator,
        formula1=formula1,
        formula2=formula2,
        allow_blank=blank,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="Không hợp lệ / Invalid value",
        error=message[:225],
    )


def _rules(contract: Contract, column: Column) -> str:
    """What the hub checks in the column beyond its type, in words."""
    out = []
    if column.name in contract.primary_key:
        out.append("Khoá: không trống, không trùng / Key: present and unique")
    for e in contract.expectations:
        if e.kwargs.get("column") != column.name:
            continue
        k = e.kwargs
        if e.type == "expect_column_values_to_be_between":
            low, high = ("…" if k.get(b) is None else k[b] for b in ("min_value", "max_value"))
            text = f"Từ {low} đến {high} / From {low} to {high}"
        elif e.type == "expect_column_values_to_be_in_set":
            values = ", ".join(str(v) for v in k.get("value_set") or [])
            text = f"Một trong / One of: {values}"
        elif e.type == "expect_column_values_to_match_regex":
            text = f"Khớp mẫu / Matches: {k.get('regex')}"
        else:
            text = e.description or e.type
        out.append(text + (" (cảnh báo / warning)" if e.severity is Severity.warn else ""))
    if column.admin_unit is not None:
        out.append(
            "Đơn vị hành chính; tên, mã cũ được chuyển đổi / Administrative unit; former names and codes are converted"
        )
    return "\n".join(out)


def _instructions(sheet: Worksheet, contract: Contract, source: FileSource | None) -> None:
    lines = [
        (f"{contract.title.vi} / {contract.title.en}", True),
        (contract.description.vi, False),
        (contract.description.en, False),
        (f"Cơ quan / Publisher: {contract.publisher.name.vi} / {contract.publisher.name.en}", False),
        ("Điền từ dòng dưới dòng tiêu đề của trang đầu; mỗi dòng một bản ghi. / Fill in from the row below the "
         "header on the first sheet; one record per row.", False),
    ]  # fmt: skip
    if source is not None:
        xlsx = [p for p in source.pattern if p.lower().endswith((".xlsx", "*"))]
        accepted = ", ".join(source.pattern)
        if source.format is FileFormat.csv or not xlsx:
            lines.append((f"Lưu thành CSV UTF-8, tên tệp theo mẫu {accepted}. / Save as CSV UTF-8, named like {accepted}.", False))  # fmt: skip
        else:
            lines.append((f"Tên tệp theo mẫu {', '.join(xlsx)}. / Name the file like {', '.join(xlsx)}.", False))
    for row, (text, bold) in enumerate(lines, start=1):
        sheet.cell(row, 1, text).font = Font(bold=bold)
    top = len(lines) + 2
    titles = [
        "Cột (tiêu đề) / Column (header)", "Mô tả", "Description", "Kiểu / Type", "Đơn vị / Unit",
        "Bắt buộc / Required", "Dữ liệu cá nhân / Personal data", "Quy tắc / Rules",
    ]  # fmt: skip
    for position, title in enumerate(titles, start=1):
        cell = sheet.cell(top, position, title)
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
    for row, column in enumerate(contract.columns, start=top + 1):
        if column.qualifier_of is None:
            name = header(contract, column)
        else:
            target = header(contract, contract.column(column.qualifier_of))
            name = f"({column.name}: từ cột / from {target})"
        values = [
            name,
            column.description.vi,
            column.description.en,
            _both(TYPES[column.type]),
            column.unit or "",
            _both(YES if required(contract, column) else NO),
            _both(PERSONAL[column.personal_data.value]),
            _rules(contract, column),
        ]
        for position, value in enumerate(values, start=1):
            sheet.cell(row, position, value).alignment = Alignment(wrap_text=True, vertical="top")
    for position, width in enumerate([28, 36, 36, 22, 12, 14, 18, 44], start=1):
        sheet.column_dimensions[get_column_letter(position)].width = width
    sheet.freeze_panes = f"A{top + 1}"


def reproducible(data: bytes) -> bytes:
    """The workbook's zip again with fixed entry times and save time (openpyxl stamps the clock)."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, content)
            info = zipfile.ZipInfo(entry.filename, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, content)
    return out.getvalue()
