"""From a sheet's cells to the contract's columns: Vietnamese numbers, dates and booleans, each decision noted."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lgsp.connectors.files.config import FileColumn, FilesConfig
from lgsp.connectors.files.sheets import NumberCell, Unreadable, file_format, header_key, read_csv, read_xlsx
from lgsp.connectors.vietnamese import ParsedNumber, parse_date, parse_number, resolve_column
from lgsp.schemas.contract import ColumnType, SchemaDrift
from lgsp.warehouse.projection import EXTRA, ORIGIN

_TRUE = {"true", "1", "có", "co", "x", "yes", "đúng", "✓"}
_FALSE = {"false", "0", "không", "khong", "no", "sai"}
_TIMESTAMP_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _number_text(value: float | None, raw: str | None, integer: bool) -> str | None:
    if value is None:
        return raw if raw and raw.strip() and parse_number(raw).error else None
    if integer:
        return str(int(value)) if float(value).is_integer() else raw
    return format(value, ".15g")


def _timestamp_text(raw: str) -> str:
    for fmt in _TIMESTAMP_FORMATS:
        try:
            return dt.datetime.strptime(raw.strip(), fmt).isoformat()
        except ValueError:
            continue
    date = parse_date(raw)
    return date.isoformat() if date else raw


def _convert(
    column: FileColumn, cells: list[str | None]
) -> tuple[list[str | None], list[tuple[int, float, float]], list[Any]]:
    """Typed text of a column (the staging types it); unreadable values stay as written, so their
    raw text reaches the quarantine. Returns the values, the decisions taken on ambiguous cells
    (row index, reading taken, reading not taken) and the parsed numbers."""
    kind = column.type
    if kind in (ColumnType.integer.value, ColumnType.number.value):
        parsed = [ParsedNumber(c, c.value, typed=True) if isinstance(c, NumberCell) else parse_number(c) for c in cells]
        values, decided = resolve_column(parsed, kind)
        texts = [_number_text(v, c, kind == "integer") for v, c in zip(values, cells, strict=True)]
        decisions = []
        for i in decided:
            taken, readings = values[i], (parsed[i].value, parsed[i].alternative)
            other = next((r for r in readings if r != taken), None)
            if taken is not None and other is not None:
                decisions.append((i, taken, other))
        return texts, decisions, parsed
    out: list[str | None] = []
    for cell in cells:
        text = None if cell is None else cell.strip()
        if not text or text.lower() in ("...", "…"):
            out.append(None)
        elif kind == ColumnType.date.value:
            date = parse_date(text)
            out.append(date.isoformat() if date else text)
        elif kind == ColumnType.timestamp.value:
            out.append(_timestamp_text(text))
        elif kind == ColumnType.boolean.value:
            low = text.lower()
            out.append("true" if low in _TRUE else "false" if low in _FALSE else text)
        else:
            out.append(unicodedata.normalize("NFC", text))
    return out, [], []


@dataclass
class Ingested:
    """One file's rows as Arrow, with what the notes should say about it."""

    batch: pa.RecordBatch
    info: dict[str, Any]
    decisions: list[dict[str, Any]]


class FileReader:
    def __init__(self, config: FilesConfig) -> None:
        self.config = config
        self.policy = config.source.schema_drift
        names = [c.name for c in config.columns] + [ORIGIN] + ([EXTRA] if self.policy is SchemaDrift.evolve else [])
        self.schema = pa.schema([(n, pa.string()) for n in names])

    def read(self, path: Path, data: bytes) -> Ingested:
        source = self.config.source
        fmt = file_format(path, source)
        sheet = read_xlsx(data, source) if fmt == "xlsx" else read_csv(data, source)
        keys = [header_key(h) for h in sheet.headers]
        positions: dict[str, int] = {}
        missing: list[str] = []
        for column in self.config.columns:
            if column.qualifier_of is not None:
                continue  # filled from its number column, not from a header
            wanted = {header_key(column.header), header_key(column.name)}
            found = [i for i, k in enumerate(keys) if k in wanted]
            if found:
                positions[column.name] = found[0]
            else:
                missing.append(column.header)
        used = set(positions.values())
        unknown = [(i, sheet.headers[i]) for i, k in enumerate(keys) if i not in used and k]
        problems: list[tuple[int | None, str]] = []
        required_missing = [
            c.header
            for c in self.config.columns
            if c.header in missing and (c.name in self.config.key or not c.nullable)
        ]
        if required_missing or (self.policy is SchemaDrift.freeze and (missing or unknown)):
            headers = ", ".join(f"'{h}'" for h in sheet.headers)
            if missing:
                problems.append(
                    (None, f"missing column(s) {', '.join(repr(m) for m in missing)} (headers found: {headers})")
                )
            if unknown and self.policy is SchemaDrift.freeze:
                problems.append(
                    (None, f"undeclared column(s) {', '.join(repr(h) for _, h in unknown)} and schema_drift is freeze")
                )
        width = len(sheet.headers)
        rows = [(line, cells) for line, cells in sheet.rows if any(c is not None and str(c).strip() for c in cells)]
        for line, cells in rows:
            if len(cells) > width and any(c is not None and str(c).strip() for c in cells[width:]):
                problems.append((line, f"{len(cells)} values for {width} columns"))
        if problems:
            raise Unreadable(problems)
        cells_of = {name: [cells[i] if i < len(cells) else None for _, cells in rows] for name, i in positions.items()}
        arrays: dict[str, list[str | None]] = {}
        decisions: list[dict[str, Any]] = []
        parsed_of: dict[str, list[Any]] = {}
        for column in self.config.columns:
            if column.qualifier_of is not None:
                continue
            cells = cells_of.get(column.name, [None] * len(rows))
            values, decided, parsed = _convert(column, cells)
            arrays[column.name], parsed_of[column.name] = values, parsed
            decisions.extend(
                {
                    "file": path.name,
                    "row": rows[i][0],
                    "column": column.name,
                    "text": cells[i],
                    "read_as": format(taken, ".15g"),
                    "not": format(other, ".15g"),
                }
                for i, taken, other in decided
            )
        for column in self.config.columns:
            if column.qualifier_of is not None:
                parsed = parsed_of.get(column.qualifier_of) or []
                arrays[column.name] = [p.qualifier for p in parsed] if parsed else [None] * len(rows)
        columns = [pa.array(arrays[c.name], type=pa.string()) for c in self.config.columns]
        columns.append(pa.array([f"{path.name}:{line}" for line, _ in rows], type=pa.string()))
        if self.policy is SchemaDrift.evolve:
            extras = [
                json.dumps({h: cells[i] for i, h in unknown if i < len(cells) and cells[i]}, ensure_ascii=False)
                if unknown
                else None
                for _, cells in rows
            ]
            columns.append(pa.array([e if e and e != "{}" else None for e in extras], type=pa.string()))
        info = {
            "name": path.name,
            "format": fmt,
            "encoding": sheet.encoding,
            "delimiter": sheet.delimiter,
            "rows": len(rows),
            "repaired_cells": sheet.repaired_cells,
            "unknown_columns": [h for _, h in unknown],
            "missing_columns": missing,
        }
        return Ingested(pa.RecordBatch.from_arrays(columns, schema=self.schema), info, decisions)
