"""A built report as an XLSX workbook: the appendix table with numbers as numbers, each cell's
sources in its comment, and a sheet listing every observation behind the table."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from lgsp.reports.build import BuiltReport, Cell
from lgsp.reports.html import TEXTS, number
from lgsp.submissions.template import FIXED_TIME, reproducible

DISPUTED_FILL = PatternFill("solid", fgColor="FDE2E1")
RESOLVED_FILL = PatternFill("solid", fgColor="FFF6D6")
HEADING_FILL = PatternFill("solid", fgColor="EEF2F7")
FIRST_ROW = 4  # title, subtitle, blank, then the table's header


def _comment(cell: Cell, formula: str | None = None) -> Comment | None:
    if not cell.traces:
        return None
    lines = [
        f"{t.indicator + ' ' if t.indicator else ''}{number(t.converted)} — {t.publisher or t.dataset}: "
        f"{', '.join(x for x in (t.source, t.origin) if x)}"
        for t in cell.traces
    ]
    if formula:
        lines.insert(0, f"{TEXTS['vi']['computed']}: {formula}")
    if cell.resolution:
        lines.append(f"{TEXTS['vi']['resolved_by']} {cell.resolution['by']}: {cell.resolution['why']}")
    return Comment("\n".join(lines), "lgsp-hub", width=420, height=24 + 18 * len(lines))


def workbook_bytes(built: BuiltReport) -> bytes:
    """The workbook's bytes; the same numbers give the same bytes (fixed times in the zip)."""
    t = TEXTS["vi"]
    report = built.report
    book = Workbook()
    book.properties.creator = "lgsp-hub"
    book.properties.title = report.title.vi
    book.properties.created = book.properties.modified = FIXED_TIME
    sheet = book.active
    assert sheet is not None
    sheet.title = "Báo cáo"
    sheet["A1"] = report.title.vi
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A2"] = f"{report.title.en} — {t['area']}: {report.area}"
    header = [t["number"], t["indicator"], t["unit"], *(c.label.vi for c in report.columns)]
    for position, text in enumerate(header, start=1):
        cell = sheet.cell(FIRST_ROW, position, text)
        cell.font, cell.fill = Font(bold=True), HEADING_FILL
    row = FIRST_ROW
    for line in built.lines:
        row += 1
        sheet.cell(row, 1, line.number)
        if line.indicator is None:
            sheet.cell(row, 2, line.label.vi).font = Font(bold=True)
            continue
        sheet.cell(row, 2, f"{line.label.vi}\n{line.indicator}").alignment = Alignment(wrap_text=True)
        sheet.cell(row, 3, line.unit)
        for position, cell in enumerate(line.cells, start=4):
            target = sheet.cell(row, position)
            if cell.status == "disputed":
                target.value = t["disputed"]
                target.fill = DISPUTED_FILL
            elif cell.value is not None:
                target.value = cell.value
                target.number_format = "#,##0" if float(cell.value).is_integer() else "#,##0.00"
                if cell.status == "resolved":
                    target.fill = RESOLVED_FILL
            target.comment = _comment(cell, line.formula)
    for position, width in enumerate([7, 70, 14, *(16 for _ in report.columns)], start=1):
        sheet.column_dimensions[get_column_letter(position)].width = width
    sheet.freeze_panes = f"D{FIRST_ROW + 1}"
    _sources(book, built)
    out = io.BytesIO()
    book.save(out)
    return reproducible(out.getvalue())


def _sources(book: Workbook, built: BuiltReport) -> None:
    """One row per observation behind a cell: what was reported, by whom, in which file and line."""
    sheet = book.create_sheet("Nguồn số liệu")
    columns = [
        "indicator",
        "column",
        "status",
        "value",
        "reported",
        "unit",
        "dataset",
        "publisher",
        "submission",
        "origin",
    ]
    sheet.append(columns)
    for line, cell in built.cells:
        for trace in cell.traces:
            sheet.append(
                [line.indicator, cell.column, cell.status, trace.converted, trace.value, trace.unit, trace.dataset,
                 trace.publisher, trace.submission, trace.origin, trace.indicator]
            )  # fmt: skip
    for position in range(1, len(columns) + 1):
        sheet.column_dimensions[get_column_letter(position)].width = 18
