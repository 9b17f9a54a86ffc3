"""File-drop connector: CSV and XLSX files a department drops into its inbox folder.

Departments type numbers the Vietnamese way (`9.748`, `103,97`, `hơn 2.000`), save CSV in
whatever their office suite offers (UTF-8, Windows-1258, or the TCVN3/VNI of older machines)
and send the same file twice. So each file is decoded to NFC Unicode, its numbers and dates are
read by Vietnamese conventions (`connectors.vietnamese`), and every row keeps its origin
(`file:line`). What happens to each file is visible in the inbox itself:

- `archive/` — ingested files, named by checksum, once their run has published
  (`archive/manifest.jsonl` lists them); a file whose checksum is already there changes nothing;
- `rejected/` — files that cannot be ingested (unreadable, missing columns, ragged rows), each
  with a `.report.txt` naming the rows and the reasons. Nothing is deleted.

Rows of an ingested file whose values do not fit their type go to the dataset's quarantine like
any other source's. Each run brings only new files, merged into the dataset by its key.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from lgsp.connectors.encodings import EncodingError, decode, fix_cells
from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register
from lgsp.connectors.vietnamese import parse_date, parse_number, resolve_column
from lgsp.core.connections import resolve
from lgsp.core.settings import Settings
from lgsp.core.text import plain_words
from lgsp.schemas.contract import ColumnType, Contract, FileFormat, FileSource, SchemaDrift
from lgsp.warehouse.projection import EXTRA, ORIGIN
from lgsp.warehouse.runs import RunRecord, RunStatus

ARCHIVE, REJECTED = "archive", "rejected"
DECISIONS_KEPT = 200  # rows listed per run in the notes; the count is always complete


class FileColumn(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    header: str
    type: str
    nullable: bool = True
    qualifier_of: str | None = None


class FilesConfig(BaseModel):
    """What the file-drop connector needs: built from a contract and a resolved connection."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    connection: str
    inbox: Path
    source: FileSource
    columns: list[FileColumn]
    key: list[str]


def inbox_path(url: str) -> Path:
    """A connection's inbox folder: a plain path or a file:// URL."""
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    if re.match(r"^[a-z][a-z0-9+.-]*://", url):
        raise ValueError(f"a file-drop connection must be a folder path or a file:// URL, not '{url.split(':')[0]}:'")
    return Path(url)


def configure(contract: Contract, settings: Settings) -> FilesConfig:
    source = contract.source
    assert isinstance(source, FileSource)
    url = resolve(source.connection, settings.sandbox_dir, home=settings.home).get_secret_value()
    try:
        inbox = inbox_path(url)
    except ValueError as exc:
        raise ConnectorError(str(exc), dataset=contract.id, connector=source.connection) from None
    return FilesConfig(
        dataset=contract.id,
        connection=source.connection,
        inbox=inbox,
        source=source,
        columns=[
            FileColumn(
                name=c.name,
                header=c.source or c.name,
                type=c.type.value,
                nullable=c.nullable,
                qualifier_of=c.qualifier_of,
            )
            for c in contract.columns
        ],
        key=list(contract.primary_key),
    )


# -- reading one file ------------------------------------------------------------------------------


class Unreadable(Exception):
    """The file cannot be ingested; `problems` name the rows (None for the whole file) and reasons."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        super().__init__("; ".join(f"row {r}: {m}" if r else m for r, m in problems))
        self.problems = problems


def header_key(text: str) -> str:
    """Headers match without case, diacritics or punctuation: 'Giá trị' = 'gia tri' = 'GIÁ TRỊ:'."""
    return plain_words(text)


@dataclass
class Sheet:
    """A file's cells as text, with the line (CSV) or row (XLSX) number of each data row."""

    headers: list[str]
    rows: list[tuple[int, list[str | None]]]
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
        raise Unreadable([(None, f"cannot decode the text: {exc}")]) from None
    text = decoded.text
    delimiter = _sniff_delimiter(text, source.delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[str] | None = None
    rows: list[tuple[int, list[str | None]]] = []
    try:
        for record in reader:
            line = reader.line_num
            if headers is None:
                if line >= source.header_row:
                    headers = [h.strip() for h in record]
                continue
            rows.append((line, [c for c in record]))
    except csv.Error as exc:
        raise Unreadable([(reader.line_num, f"not valid CSV: {exc}")]) from None
    if headers is None:
        raise Unreadable([(None, f"no header row (expected on line {source.header_row})")])
    return Sheet(headers, rows, encoding=decoded.encoding, delimiter=delimiter)


def _cell_text(value: Any) -> str | None:
    """An XLSX cell as text; numbers as typed, dates in ISO."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return format(value, ".15g")
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
        raise Unreadable([(None, f"not a readable XLSX workbook: {type(exc).__name__}: {exc}")]) from None
    try:
        if source.sheet and source.sheet not in book.sheetnames:
            raise Unreadable([(None, f"no sheet '{source.sheet}' (sheets: {', '.join(book.sheetnames)})")])
        sheet = book[source.sheet] if source.sheet else book.worksheets[0]
        raw = [list(values) for values in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    if len(raw) < source.header_row:
        raise Unreadable([(None, f"no header row (expected on row {source.header_row})")])
    headers = [(_cell_text(c) or "").strip() for c in raw[source.header_row - 1]]
    body, repaired = _repair_columns(raw[source.header_row :])
    rows = [(number, cells) for number, cells in enumerate(body, start=source.header_row + 1)]
    if headers is None:
        raise Unreadable([(None, f"no header row (expected on row {source.header_row})")])
    while headers and not headers[-1]:
        headers.pop()
    return Sheet(headers, rows, encoding="xlsx", repaired_cells=repaired)


def _format(path: Path, source: FileSource) -> str:
    if source.format is not FileFormat.auto:
        return source.format.value
    return "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv"


# -- from cells to typed text ----------------------------------------------------------------------

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
        parsed = [parse_number(c) for c in cells]
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
        fmt = _format(path, source)
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


# -- the inbox -------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _archived(inbox: Path) -> dict[str, str]:
    """Checksum → archived file name, from the archive's manifest."""
    manifest = inbox / ARCHIVE / "manifest.jsonl"
    if not manifest.exists():
        return {}
    found = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            found[entry["sha256"]] = entry["archived_as"]
    return found


def _candidates(config: FilesConfig) -> list[Path]:
    inbox = config.inbox
    if not inbox.is_dir():
        raise ConnectorError(
            f"the inbox folder {inbox} does not exist", dataset=config.dataset, connector=config.connection
        )
    found: set[Path] = set()
    for pattern in config.source.pattern:
        found.update(p for p in inbox.glob(pattern) if p.is_file())
    # Office lock files and half-copied files are not drops.
    return sorted(p for p in found if not p.name.startswith(("~$", ".")) and not p.name.endswith((".part", ".tmp")))


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def set_aside(inbox: Path, path: Path, checksum: str, reasons: list[tuple[int | None, str]], dataset: str) -> Path:
    """Move a file that cannot be ingested to rejected/, with a report beside it."""
    folder = inbox / REJECTED
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = _unique(folder / f"{stamp}__{path.name}")
    lines = [
        f"Tệp / File: {path.name}",
        f"Tập dữ liệu / Dataset: {dataset}",
        f"SHA-256: {checksum}",
        f"Thời điểm / At: {stamp}",
        "Không nạp được vì / Not ingested because:",
    ]
    lines += [f"  - dòng / row {row}: {reason}" if row else f"  - {reason}" for row, reason in reasons]
    lines.append("Sửa tệp và thả lại vào hộp thư / Fix the file and drop it into the inbox again.")
    shutil.move(str(path), target)
    target.with_name(target.name + ".report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _files(config: FilesConfig, notes: dict[str, Any]) -> Iterator[tuple[Path, bytes, str]]:
    """New files of the inbox, with their bytes and checksum; duplicates are only noted."""
    archived = _archived(config.inbox)
    seen: dict[str, str] = {}
    for path in _candidates(config):
        data = path.read_bytes()
        checksum = sha256(data)
        if checksum in archived or checksum in seen:
            notes["duplicates"].append(
                {"name": path.name, "sha256": checksum, "same_as": archived.get(checksum) or seen[checksum]}
            )
            continue
        seen[checksum] = path.name
        yield path, data, checksum


def extract(config: FilesConfig, state: dict[str, Any] | None, notes: dict[str, Any]) -> pa.RecordBatchReader:
    """Stream the rows of every new file in the inbox; files that cannot be read are set aside."""
    del state  # the archive is the state: a file is new until its checksum is archived
    reader = FileReader(config)
    notes.update(files=[], duplicates=[], rejected=[], decisions=[], decisions_total=0)

    def batches() -> Iterator[pa.RecordBatch]:
        for path, data, checksum in _files(config, notes):
            try:
                ingested = reader.read(path, data)
            except Unreadable as exc:
                moved = set_aside(config.inbox, path, checksum, exc.problems, config.dataset)
                notes["rejected"].append(
                    {"name": path.name, "sha256": checksum, "moved_to": str(moved), "reasons": str(exc)}
                )
                continue
            notes["files"].append({**ingested.info, "sha256": checksum})
            notes["decisions_total"] += len(ingested.decisions)
            room = DECISIONS_KEPT - len(notes["decisions"])
            notes["decisions"].extend(ingested.decisions[: max(room, 0)])
            if ingested.batch.num_rows:
                yield ingested.batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def commit(config: FilesConfig, notes: dict[str, Any], run: RunRecord) -> None:
    """After the run: archive what was published (and drop re-sent copies); a rejected run's files
    are set aside with the reason, so the department sees what to fix."""
    inbox = config.inbox
    archive = inbox / ARCHIVE
    archive.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with (archive / "manifest.jsonl").open("a", encoding="utf-8") as manifest:
        for entry in notes.get("files", []):
            path = inbox / entry["name"]
            if not path.exists() or sha256(path.read_bytes()) != entry["sha256"]:
                continue  # gone, or replaced by a new version since the run read it: the next run takes that
            if run.status != RunStatus.PUBLISHED:
                reason = f"run {run.run_id} was rejected ({run.error or 'error-severity checks failed'})"
                set_aside(inbox, path, entry["sha256"], [(None, reason)], config.dataset)
                continue
            target = _unique(archive / f"{entry['sha256'][:16]}__{entry['name']}")
            shutil.move(str(path), target)
            record = {
                "sha256": entry["sha256"],
                "name": entry["name"],
                "archived_as": target.name,
                "dataset": config.dataset,
                "run_id": run.run_id,
                "rows": entry["rows"],
                "at": now,
            }
            manifest.write(json.dumps(record, ensure_ascii=False) + "\n")
        manifest.flush()
        archived = _archived(inbox)
        for entry in notes.get("duplicates", []):
            path = inbox / entry["name"]
            if entry["sha256"] in archived and path.exists() and sha256(path.read_bytes()) == entry["sha256"]:
                path.unlink()  # byte-identical to an archived file: nothing in it is new


register("files", configure=configure, commit=commit, full_each_run=False)(extract)
