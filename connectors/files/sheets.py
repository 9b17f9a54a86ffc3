"""Reading one dropped file into a sheet of text cells: CSV in any encoding and delimiter, or XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lgsp.connectors.encodings import EncodingError, decode, fix_cells
from lgsp.schemas.contract import FileFormat, FileSource


class Unreadable(Exception):
    """The file cannot be ingested; `problems` name the rows (None for the whole file) and reasons
    (Vietnamese / English); `rows` counts the data rows it held, which are rejected with it."""

    def __init__(
        self, problems: Sequence[tuple[int | None, str]], rows: int = 0, headers: list[str] | None = None
    ) -> None:
        super().__init__("; ".join(f"dòng / row {r}: {m}" if r else m for r, m in problems))
        self.problems = list(problems)
        self.rows = rows
        self.headers = headers  # the header row found, when the header is what does not fit


@dataclass
class Sheet:
    """A file's cells as text, every row with its line (CSV) or row (XLSX) number; which row is
    the header is decided by the reader (lgsp.connectors.files.headers)."""

    lines: list[tuple[int, list[str | None]]]
    encoding: str | None = None
    delimiter: str | None = None
    repaired_cells: int = 0


def _sniff_delimiter(text: str, declared: str | None) -> str:
    if declared:
        return declared
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_csv(data: bytes, source: FileSource) -> Sheet:
    try:
        decoded = decode(data, source.encoding)
    except EncodingError as exc:
        raise Unreadable([(None, f"không giải mã được văn bản / cannot decode the text: {exc}")]) from None
    text = decoded.text
    delimiter = _sniff_delimiter(text, source.delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines: list[tuple[int, list[str | None]]] = []
    try:
        for record in reader:
            lines.append((reader.line_num, list(record)))
    except csv.Error as exc:
        raise Unreadable([(reader.line_num, f"CSV không hợp lệ / not valid CSV: {exc}")]) from None
    return Sheet(lines, encoding=decoded.encoding, delimiter=delimiter)


class NumberCell(str):
    """An XLSX cell the workbook holds as a number: its text for text columns, its `value` for
    number columns. The value is read as it is: a number typed as 9.748 (or 0.125, or 1E-05) is
    not the Vietnamese way of writing 9748 (or 125, or 1), which the text alone would suggest."""

    value: float

    def __new__(cls, value: float) -> NumberCell:
        cell = super().__new__(cls, format(value, ".15g") if isinstance(value, float) else str(value))
        cell.value = value
        return cell


def _cell_text(value: Any) -> str | None:
    """An XLSX cell as text; numbers as typed (a NumberCell), dates in ISO."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return NumberCell(value)
    return str(value)


def _repair_columns(rows: list[list[Any]]) -> tuple[list[list[str | None]], int]:
    """Text cells typed in a legacy font (TCVN3/VNI shown as Windows-1252) repaired column by
    column: a column that was clearly typed so has its short, ambiguous cells repaired too."""
    width = max((len(r) for r in rows), default=0)
    out = [[_cell_text(v) for v in r] for r in rows]
    repaired = 0
    for j in range(width):
        where = [i for i, r in enumerate(rows) if j < len(r) and isinstance(r[j], str)]
        if not where:
            continue
        fixed, _ = fix_cells([rows[i][j] for i in where])
        for i, text in zip(where, fixed, strict=True):
            if text != out[i][j]:
                repaired += 1
            out[i][j] = text
    return out, repaired


def read_xlsx(data: bytes, source: FileSource) -> Sheet:
    import openpyxl  # only file drops need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors alike
        raise Unreadable(
            [(None, f"không đọc được tệp XLSX / not a readable XLSX workbook: {type(exc).__name__}: {exc}")]
        ) from None
    try:
        if source.sheet and source.sheet not in book.sheetnames:
            raise Unreadable(
                [(None, f"không có trang tính / no sheet '{source.sheet}' (sheets: {', '.join(book.sheetnames)})")]
            )
        sheet = book[source.sheet] if source.sheet else book.worksheets[0]
        raw = [list(values) for values in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    cells, repaired = _repair_columns(raw)
    return Sheet(list(enumerate(cells, start=1)), encoding="xlsx", repaired_cells=repaired)


def file_format(path: Path, source: FileSource) -> str:
    if source.format is not FileFormat.auto:
        return source.format.value
    return "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv"
