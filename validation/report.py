"""The validation report of one run: typed findings, stored as JSON and rendered as HTML."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field


def label(expectation: str, kwargs: dict[str, Any]) -> str:
    """How a check is named in reports and quarantine reasons: type(argument=value, …)."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{expectation}({args})"


def report_stem(run_id: str) -> str:
    """File name (without suffix) of a run's report: run ids carry ':' and '+'."""
    return run_id.replace(":", "_").replace("+", "_")


class CheckResult(BaseModel):
    """What one check found over the whole run."""

    key: str
    expectation: str = Field(description="GX expectation type, or 'declared_type' for type conformance.")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: str
    origin: str
    scope: str = Field(description="'row' when judged batch by batch, 'run' when over the whole run.")
    evaluated: int = 0
    unexpected: int = 0
    success: bool = True
    sample: list[str] = Field(default_factory=list, description="Some unexpected values, as text.")
    error: str | None = Field(default=None, description="Why GX could not evaluate the check.")
    changed: int = Field(default=0, description="Values the check rewrote (legacy administrative units made current).")

    @property
    def label(self) -> str:
        return label(self.expectation, self.kwargs)


class Report(BaseModel):
    """Findings of a run; raising happens at the edge (CLI, DAG), never here."""

    dataset: str
    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    rows: int
    checks: list[CheckResult] = Field(default_factory=list)
    rows_quarantined: int = 0
    rows_warned: int = 0
    great_expectations_version: str = ""
    great_expectations_import_seconds: float = Field(
        default=0.0,
        description="Time spent importing GX in this run: 0 when the process had it already (a warm worker).",
    )
    source_notes: dict[str, Any] = Field(
        default_factory=dict, description="What the connector noticed: schema drift, files, decided values."
    )

    @property
    def rejected_by(self) -> list[CheckResult]:
        return [c for c in self.checks if c.severity == "error" and not c.success]

    @property
    def rejected(self) -> bool:
        return bool(self.rejected_by)

    def save(self, directory: Path) -> Path:
        """Write <run>.json and <run>.html; returns the HTML path."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = report_stem(self.run_id)
        (directory / f"{stem}.json").write_text(
            json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        html = directory / f"{stem}.html"
        html.write_text(render_html(self), encoding="utf-8")
        return html


_env = Environment(loader=PackageLoader("lgsp.validation", "templates"), autoescape=select_autoescape(["html"]))


def render_html(report: Report) -> str:
    return _env.get_template("report.html.j2").render(report=report)
