"""From a sheet's cells to the contract's columns: Vietnamese numbers, dates and booleans, each decision noted."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from lgsp.connectors.files.config import FileColumn, FilesConfig
from lgsp.connectors.files.headers import HeaderMatch, find_header, match
from lgsp.connectors.files.sheets import NumberCell, Sheet, Unreadable, file_format, read_csv, read_xlsx
from lgsp.connectors.vietnamese import ParsedNumber, parse_date, parse_number, resolve_column
from lgsp.schemas.contract import ColumnType, SchemaDrift
from lgsp.submissions import corrections
from lgsp.warehouse.projection import EXTRA, ORIGIN, PROBLEMS, TYPED

_TRUE = {"true", "1", "có", "co", "x", "yes", "đúng", "✓"}
_FALSE = {"false", "0", "không", "khong", "no", "sai"}
_TIMESTAMP_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


_INTEGER, _NUMBER = ColumnType.integer.value, ColumnType.number.value  # looked up once, not per cell
_DATE, _TIMESTAMP, _BOOLEAN = ColumnType.date.value, ColumnType.timestamp.value, ColumnType.boolean.value
CURRENCY = {"đ", "đồng", "vnđ", "vnd"}  # written after amounts of money; read as the number


def _canonical(value: Decimal, integer: bool) -> str:
    """The exact text staging types: no float on the way, so a 19-digit count stays exact."""
    if integer:
        return str(int(value))
    text = format(value.normalize(), "f")
    return text if text not in ("-0",) else "0"


def _timestamp_text(raw: str) -> str:
    for fmt in _TIMESTAMP_FORMATS:
        try:
            return dt.datetime.strptime(raw.strip(), fmt).isoformat()
        except ValueError:
            continue
    date = parse_date(raw)
    return date.isoformat() if date else raw


def _number_problem(column: FileColumn, parsed: ParsedNumber, value: Decimal | None, unsure: bool) -> str | None:
    """Why a number cell cannot be taken as one exact value of this column (vi / en), or None."""
    raw = parsed.text
    if parsed.error:
        return parsed.error
    if unsure:
        return (
            f"'{raw}' đọc được hai cách ({_canonical(parsed.decimal() or Decimal(0), False)} hoặc "
            f"{_canonical(parsed.decimal(alternative=True) or Decimal(0), False)}) và tệp không cho biết cách nào / "
            "can be read two ways, and the file's other numbers do not say which"
        )
    allowed = {"%", *CURRENCY, *([column.unit.casefold()] if column.unit else [])}
    if parsed.unit and parsed.unit.casefold() not in allowed:
        return (
            f"'{raw}': không đọc được phần '{parsed.unit}' sau số / the text after the number ('{parsed.unit}') "
            "cannot be read" + (f" (the column's unit is {column.unit})" if column.unit else "")
        )
    if parsed.scale and not column.scale_words:
        return (
            f"'{raw}': hợp đồng dữ liệu không cho phép từ chỉ quy mô '{parsed.scale}' ở cột này / "
            "the contract does not allow words of scale in this column (scale_words)"
        )
    if parsed.qualifier and not column.qualified:
        word = raw.split()[0] if raw else raw
        return (
            f"'{raw}': '{word}' làm giá trị không chính xác và hợp đồng dữ liệu không có cột ghi lại / "
            "makes the value inexact, and the contract has no column for it (qualifier_of)"
        )
    if value is not None and column.type == _INTEGER and value != value.to_integral_value():
        return f"'{raw}' không phải số nguyên / is not a whole number"
    return None


@dataclass
class Converted:
    """One column's cells, read: the text staging types, why cells could not be read (row index →
    reason), the decisions taken on ambiguous cells, and the parsed numbers."""

    texts: list[str | None]
    problems: dict[int, str]
    decisions: list[tuple[int, Decimal, Decimal]]
    parsed: list[ParsedNumber]


def _convert(column: FileColumn, cells: list[str | None]) -> Converted:
    """Typed text of a column (the staging types it). A cell that cannot be read exactly keeps its
    text as written (so staging cannot type it and it reaches the quarantine as typed) and gets
    a reason."""
    kind = column.type
    if kind in (_INTEGER, _NUMBER):
        parsed = [ParsedNumber(c, c.value, typed=True) if isinstance(c, NumberCell) else parse_number(c) for c in cells]
        values, decided, unsure = resolve_column(parsed, kind)
        texts: list[str | None] = []
        problems: dict[int, str] = {}
        for i, (cell, reading, value) in enumerate(zip(cells, parsed, values, strict=True)):
            problem = _number_problem(column, reading, value, i in unsure)
            if problem:
                problems[i] = problem
                texts.append(cell.strip() if cell else cell)
            else:
                texts.append(None if value is None else _canonical(value, kind == _INTEGER))
        decisions = []
        for i in decided:
            taken, readings = values[i], (parsed[i].decimal(), parsed[i].decimal(alternative=True))
            other = next((r for r in readings if r != taken), None)
            if taken is not None and other is not None and i not in problems:
                decisions.append((i, taken, other))
        return Converted(texts, problems, decisions, parsed)
    out: list[str | None] = []
    for cell in cells:
        text = None if cell is None else cell.strip()
        if not text or text.lower() in ("...", "…"):
            out.append(None)
        elif kind == _DATE:
            date = parse_date(text)
            out.append(date.isoformat() if date else text)
        elif kind == _TIMESTAMP:
            out.append(_timestamp_text(text))
        elif kind == _BOOLEAN:
            low = text.lower()
            out.append("true" if low in _TRUE else "false" if low in _FALSE else text)
        else:
            out.append(unicodedata.normalize("NFC", text))
    return Converted(out, {}, [], [])


@dataclass
class Ingested:
    """One file's rows as Arrow, with what the notes should say about it."""

    batch: pa.RecordBatch
    info: dict[str, Any]
    decisions: list[dict[str, Any]]
    lines: list[int] = field(default_factory=list)  # each row's line (CSV) or row (XLSX) number
    refs: list[str | None] | None = None  # a correction sheet's row refs, as written; None for other files


def _blank(cells: list[str | None]) -> bool:
    return not any(c is not None and str(c).strip() for c in cells)


class FileReader:
    def __init__(self, config: FilesConfig) -> None:
        self.config = config
        self.policy = config.source.schema_drift
        names = [c.name for c in config.columns] + [ORIGIN, TYPED, PROBLEMS]
        names += [EXTRA] if self.policy is SchemaDrift.evolve else []
        self.schema = pa.schema([(n, pa.string()) for n in names])

    def _header(self, sheet: Sheet) -> HeaderMatch:
        """The header row, or Unreadable naming what is missing (with a did-you-mean)."""
        config, declared = self.config, self.config.source.header_row
        filled = [n for n, cells in sheet.lines if not _blank(cells)]
        data_lines = [n for n in filled if n > declared]
        if not filled:
            raise Unreadable([(None, "tệp trống / the file is empty")])
        found = find_header(sheet.lines, declared, config.columns, config.key)
        if found is None:
            first = next(((n, c) for n, c in sheet.lines if n >= declared and not _blank(c)), None)
            if first is None:
                raise Unreadable([(None, f"không có dòng tiêu đề / no header row (expected on row {declared})")])
            tried = match([("" if c is None else str(c)).strip() for c in first[1]], first[0], config.columns)
            missing = tried.explain_missing(tried.required_missing(config.key))
            shown = [h if len(h) <= 60 else h[:57] + "..." for h in tried.headers if h][:30]
            headers = ", ".join(f"'{h}'" for h in shown)
            raise Unreadable(
                [
                    (
                        first[0],
                        f"thiếu cột / missing column(s) {', '.join(missing)}; "
                        f"tiêu đề trong tệp / headers found: {headers}",
                    )
                ],
                rows=len(data_lines),
                headers=tried.headers,
            )
        if found.misspelled():
            raise Unreadable(
                [(found.row, f"thiếu cột / missing column(s) {', '.join(found.explain_missing(found.misspelled()))}")],
                rows=len([n for n in data_lines if n > found.row]),
                headers=found.headers,
            )
        if self.policy is SchemaDrift.freeze and (found.missing or found.unknown):
            problems: list[tuple[int | None, str]] = []
            if found.missing:
                problems.append(
                    (found.row, f"thiếu cột / missing column(s) {', '.join(found.explain_missing(found.missing))}")
                )
            if found.unknown:
                unknown = ", ".join(repr(h) for _, h in found.unknown)
                problems.append(
                    (found.row, f"cột không khai báo / undeclared column(s) {unknown} (schema_drift: freeze)")
                )
            raise Unreadable(problems, rows=len([n for n in data_lines if n > found.row]), headers=found.headers)
        return found

    def read(self, path: Path, data: bytes, *, correction: bool = False) -> Ingested:
        """The file's rows. A correction sheet (`correction`: sent as one; or its header has the
        sheet's ref column) also gives each row's ref, and its reason and ref columns are not data;
        one without the ref column is Unreadable. Raises Unreadable for a file that cannot be read."""
        source = self.config.source
        fmt = file_format(path, source)
        if not data.strip():
            raise Unreadable([(None, "tệp trống / the file is empty")])
        sheet = read_xlsx(data, source) if fmt == "xlsx" else read_csv(data, source)
        header = self._header(sheet)
        width = len(header.headers)
        rows = [(line, cells) for line, cells in sheet.lines if line > header.row and not _blank(cells)]
        ragged = [
            (line, f"{len(cells)} giá trị cho {width} cột / values for {width} columns")
            for line, cells in rows
            if len(cells) > width and not _blank(cells[width:])
        ]
        if ragged:
            raise Unreadable(ragged, rows=len(rows))
        if not rows:
            raise Unreadable([(None, "tệp chỉ có dòng tiêu đề, không có dòng dữ liệu / only a header, no data rows")])
        refs = None
        if correction or header.marks:
            at = header.marks.get(corrections.REF)
            if at is None:
                raise Unreadable([(header.row, corrections.MISSING_REF_COLUMN)], rows=len(rows))
            refs = [None if at >= len(cells) or cells[at] is None else str(cells[at]).strip() for _, cells in rows]
        cells_of = {
            name: [cells[i] if i < len(cells) else None for _, cells in rows] for name, i in header.positions.items()
        }
        arrays: dict[str, list[str | None]] = {}
        problems: list[dict[str, str]] = [{} for _ in rows]
        typed: list[dict[str, str]] = [{} for _ in rows]
        decisions: list[dict[str, Any]] = []
        parsed_of: dict[str, list[ParsedNumber]] = {}
        for column in self.config.columns:
            if column.qualifier_of is not None:
                continue
            cells = cells_of.get(column.name, [None] * len(rows))
            converted = _convert(column, cells)
            arrays[column.name], parsed_of[column.name] = converted.texts, converted.parsed
            for i, reason in converted.problems.items():
                problems[i][column.name] = reason
            for i, (cell, text) in enumerate(zip(cells, converted.texts, strict=True)):
                written = None if cell is None else str(cell).strip()
                if written and written != text:
                    typed[i][column.name] = written
            decisions.extend(
                {
                    "file": path.name,
                    "row": rows[i][0],
                    "column": column.name,
                    "text": cells[i],
                    "read_as": _canonical(taken, False),
                    "not": _canonical(other, False),
                }
                for i, taken, other in converted.decisions
            )
        for column in self.config.columns:
            if column.qualifier_of is not None:
                parsed = parsed_of.get(column.qualifier_of) or []
                arrays[column.name] = [p.qualifier for p in parsed] if parsed else [None] * len(rows)
        columns = [pa.array(arrays[c.name], type=pa.string()) for c in self.config.columns]
        columns.append(pa.array([f"{path.name}:{line}" for line, _ in rows], type=pa.string()))
        columns.append(pa.array([_json(t) for t in typed], type=pa.string()))
        columns.append(pa.array([_json(p) for p in problems], type=pa.string()))
        if self.policy is SchemaDrift.evolve:
            extras = [
                _json({h: cells[i] for i, h in header.unknown if i < len(cells) and cells[i]}) for _, cells in rows
            ]
            columns.append(pa.array(extras, type=pa.string()))
        info = {
            "name": path.name,
            "format": fmt,
            "encoding": sheet.encoding,
            "delimiter": sheet.delimiter,
            "rows": len(rows),
            "header_row": header.row,
            "headers": header.headers,
            "repaired_cells": sheet.repaired_cells,
            "unknown_columns": [h for _, h in header.unknown],
            "missing_columns": [c.header for c in header.missing],
            "unreadable_cells": sum(len(p) for p in problems),
        }
        batch = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        return Ingested(batch, info, decisions, [line for line, _ in rows], refs)


def _json(values: dict[str, Any]) -> str | None:
    return json.dumps(values, ensure_ascii=False, sort_keys=True) if values else None
