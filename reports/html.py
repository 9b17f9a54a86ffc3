"""A built report as HTML (the file, and the table the portal shows) and as PDF (the same HTML, printed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from lgsp.reports.build import BuiltReport, Cell, Trace

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "number": "STT", "indicator": "Chỉ tiêu", "unit": "Đơn vị", "disputed": "Đang có hai số liệu khác nhau",
        "missing": "Chưa có số liệu", "resolved": "(đã xác định)", "from": "từ", "submission": "lần gửi",
        "resolved_by": "Xác định bởi", "area": "Địa bàn", "owner": "Đơn vị tổng hợp", "inputs": "Nguồn dữ liệu",
        "release": "phiên bản", "disputed_count": "{n} ô chưa thống nhất số liệu giữa các nguồn.",
        "computed": "tính theo công thức", "computed_mark": "(tính)",
    },
    "en": {
        "number": "No.", "indicator": "Indicator", "unit": "Unit", "disputed": "Disputed: sources differ",
        "missing": "No data", "resolved": "(resolved)", "from": "from", "submission": "submission",
        "resolved_by": "Resolved by", "area": "Area", "owner": "Compiled by", "inputs": "Data sources",
        "release": "release", "disputed_count": "{n} cells where the sources disagree.",
        "computed": "computed by the formula", "computed_mark": "(computed)",
    },
}  # fmt: skip
FIXED_CREATED = "2025-01-01"  # the PDF's creation date: the same numbers give the same bytes


def number(value: float | None, lang: str = "vi") -> str:
    """A number as the province prints it: 672.815 and 103,97 in Vietnamese, 672,815 and 103.97 in English."""
    if value is None:
        return ""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}".rstrip("0").rstrip(".")
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


@dataclass(frozen=True)
class Note:
    mark: int
    indicator: str
    column: str
    unit: str | None
    traces: list[Trace]
    resolution: dict[str, Any] | None
    formula: str | None = None


def _hover(cell: Cell, lang: str) -> str:
    """The cell's sources in one line, for the mouse (title attribute)."""
    parts = []
    for t in cell.traces:
        where = ", ".join(x for x in (t.source, t.origin) if x)
        code = f"{t.indicator} " if t.indicator else ""
        parts.append(f"{code}{number(t.converted, lang)} — {t.publisher or t.dataset} ({where})")
    return "; ".join(parts) or TEXTS[lang]["missing"]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("lgsp.reports", "templates"),
        autoescape=select_autoescape(["j2", "html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


_ENV = _environment()


def _context(built: BuiltReport, lang: str) -> dict[str, Any]:
    marks: dict[tuple[str, str], int | None] = {}
    hover: dict[tuple[str, str], str] = {}
    notes: list[Note] = []
    columns = {c.code: c for c in built.report.columns}
    for line, cell in built.cells:
        assert line.indicator is not None
        key = (line.indicator, cell.column)
        hover[key] = _hover(cell, lang)
        if cell.traces:
            mark = len(notes) + 1
            marks[key] = mark
            label = columns[cell.column].label.vi if lang == "vi" else columns[cell.column].label.en
            notes.append(Note(mark, line.indicator, label, line.unit, cell.traces, cell.resolution, line.formula))
        else:
            marks[key] = None
    return {
        "report": built.report,
        "lines": built.lines,
        "inputs": built.inputs,
        "lang": lang,
        "other": "en" if lang == "vi" else "vi",
        "t": TEXTS[lang],
        "marks": marks,
        "hover": hover,
        "notes": notes,
        "disputed": len(built.disputed),
        "created": FIXED_CREATED,
    }


def table_html(built: BuiltReport, lang: str = "vi") -> Markup:
    """The report's table and footnotes, to place in a page (the portal's)."""
    env = _ENV.overlay()
    env.filters["number"] = lambda v: number(v, lang)
    return Markup(env.get_template("table.html.j2").render(**_context(built, lang)))


def document_html(built: BuiltReport, lang: str = "vi") -> str:
    """The report as one HTML file: title, table, footnotes and sources, styled for screen and print."""
    env = _ENV.overlay()
    env.filters["number"] = lambda v: number(v, lang)
    return env.get_template("report.html.j2").render(**_context(built, lang))


def document_pdf(built: BuiltReport, lang: str = "vi") -> bytes:
    """The report's HTML printed to PDF by WeasyPrint (A4 landscape); the same numbers give the same bytes."""
    import weasyprint  # only when a PDF is made: it loads Pango

    html = weasyprint.HTML(string=document_html(built, lang))  # its creation date: the dcterms.created meta
    return bytes(html.write_pdf(pdf_identifier=b"lgsp-report"))


def table_css() -> Markup:
    """The table's style, for a page that shows the table (the portal's)."""
    assert _ENV.loader is not None
    return Markup(_ENV.loader.get_source(_ENV, "report.css")[0])
