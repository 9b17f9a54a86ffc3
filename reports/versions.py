"""A report's versions on disk: a new version each time its numbers change, never rewritten.

`$LGSP_HOME/report-versions/<report>/<n>/` holds report.json, .html, .xlsx and .pdf and the
build record (build.json: checksum, when, from which input runs); `latest.json` points at the
newest. The files are written into a hidden folder and renamed into place, so a reader never
sees half a version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

from pydantic import BaseModel

from lgsp.reports.build import BuiltReport, from_dict
from lgsp.reports.html import document_html, document_pdf
from lgsp.reports.workbook import workbook_bytes

FILES = {"report.json": "application/json", "report.html": "text/html", "report.xlsx": (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), "report.pdf": "application/pdf"}  # fmt: skip


class ReportFile(BaseModel):
    name: str
    media_type: str
    bytes: int
    sha256: str


class ReportVersion(BaseModel):
    """One version of a report, as its build.json records it."""

    code: str
    version: int
    checksum: str  # of report.json: the numbers, their sources and the layout
    built_at: dt.datetime
    cells: int
    disputed: int
    missing: int
    files: list[ReportFile]
    lineage: dict[str, dict[str, object]]


def folder(home: Path, code: str) -> Path:
    return home / "report-versions" / code


def versions(home: Path, code: str) -> list[ReportVersion]:
    """Every version of the report, oldest first."""
    base = folder(home, code)
    found = [p for p in base.glob("*/build.json") if p.parent.name.isdigit()] if base.is_dir() else []
    out = [ReportVersion.model_validate_json(p.read_text("utf-8")) for p in found]
    return sorted(out, key=lambda v: v.version)


def latest(home: Path, code: str) -> ReportVersion | None:
    pointer = folder(home, code) / "latest.json"
    return ReportVersion.model_validate_json(pointer.read_text("utf-8")) if pointer.is_file() else None


def save(home: Path, built: BuiltReport, now: dt.datetime | None = None) -> tuple[ReportVersion, bool]:
    """Write the built report as a new version, unless the latest has the same checksum; returns
    the version and whether it is new."""
    current = latest(home, built.report.code)
    checksum = built.checksum
    if current is not None and current.checksum == checksum:
        return current, False
    number = (current.version if current else 0) + 1
    base = folder(home, built.report.code)
    base.mkdir(parents=True, exist_ok=True)
    work = base / f".{number}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    contents = {
        "report.json": built.canonical(),
        "report.html": document_html(built).encode("utf-8"),
        "report.xlsx": workbook_bytes(built),
        "report.pdf": document_pdf(built),
    }
    files = []
    for name, data in contents.items():
        (work / name).write_bytes(data)
        files.append(
            ReportFile(name=name, media_type=FILES[name], bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        )
    statuses = [c.status for _, c in built.cells]
    version = ReportVersion(
        code=built.report.code,
        version=number,
        checksum=checksum,
        built_at=(now or dt.datetime.now(dt.UTC)).replace(tzinfo=None, microsecond=0),
        cells=len(statuses),
        disputed=statuses.count("disputed"),
        missing=statuses.count("missing"),
        files=files,
        lineage=built.lineage,
    )
    (work / "build.json").write_text(version.model_dump_json(indent=2) + "\n", "utf-8")
    os.replace(work, base / str(number))
    pointer = base / ".latest.json.partial"
    pointer.write_text(version.model_dump_json(indent=2) + "\n", "utf-8")
    os.replace(pointer, base / "latest.json")
    return version, True


def load(home: Path, code: str, version: int) -> BuiltReport:
    """A saved version read back from its report.json, as it was built (for the portal's page)."""
    data = json.loads((folder(home, code) / str(version) / "report.json").read_text("utf-8"))
    return from_dict(data)
