"""Build the province's reports from the warehouse: the step `lgsp report build`, the demo and
the Airflow DAG take."""

from __future__ import annotations

from dataclasses import dataclass

from lgsp.core.settings import Settings
from lgsp.reports.build import BuiltReport, ReportError, build
from lgsp.reports.versions import ReportVersion, save
from lgsp.schemas.indicators import load_register
from lgsp.schemas.loader import load_contracts
from lgsp.schemas.reports import Report, load_reports, report_files
from lgsp.warehouse.store import Warehouse


@dataclass(frozen=True)
class Outcome:
    """One report built: its version, and whether the version is new (the numbers changed)."""

    report: Report
    built: BuiltReport
    version: ReportVersion
    new: bool


def chosen(settings: Settings, codes: list[str] | None = None) -> list[Report]:
    """The report templates asked for (all by default); raises ReportError naming an unknown code."""
    templates = load_reports(settings.report_templates_dir, codes)
    unknown = [c for c in codes or [] if c not in templates]
    if unknown:
        known = ", ".join(p.stem for p in report_files(settings.report_templates_dir))
        raise ReportError(f"không có báo cáo / no report '{unknown[0]}' (known: {known})")
    return [templates[c] for c in codes] if codes else list(templates.values())


def current(settings: Settings, reports: list[Report]) -> list[BuiltReport]:
    """The reports' cells as the warehouse holds them now, without writing anything."""
    register = load_register(settings.indicators_dir)
    publishers = {c.id: c.publisher.code for c in load_contracts(settings.contracts_dir).values()}
    with Warehouse(settings).reader() as con:
        return [build(con, r, register, settings.home, publishers) for r in reports]


def build_reports(settings: Settings, codes: list[str] | None = None) -> list[Outcome]:
    """Build and save each report; a version is new only when its numbers or sources changed."""
    reports = chosen(settings, codes)
    out = []
    for report, built in zip(reports, current(settings, reports), strict=True):
        version, new = save(settings.home, built)
        out.append(Outcome(report, built, version, new))
    return out
