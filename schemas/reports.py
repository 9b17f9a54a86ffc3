"""Report templates: the layout of a provincial appendix table, one YAML file each.

A report is rows of indicators (from the register) and columns of periods or areas. Its cells are
filled from the warehouse by `lgsp.reports`; the template holds no numbers. A report may name the
central reporting system's template it is sent to, and that template's code for each row.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from lgsp.schemas.base import IDENTIFIER, Model, Text, _nfc
from lgsp.schemas.indicators import CODE
from lgsp.schemas.loader import Problem, read_model, valid_or_raise, yaml_files


class ReportColumn(Model):
    """One column of values: an indicator's value for one period (and area)."""

    code: str = Field(min_length=1, description="The column's code, as the reporting system knows it: 2024.")
    label: Text = Field(description="The column's heading.")
    period: str = Field(min_length=1, description="The period, as the observations carry it: 2024, 2023-H1.")
    area: str | None = Field(None, min_length=1, description="The area; default: the report's.")

    _normalise = field_validator("code", "period", "area", mode="before")(_nfc)


class ReportRow(Model):
    """One row: an indicator, or a heading that groups the rows below it."""

    number: str | None = Field(None, description="The row's number as printed: I, 1, 1.1.")
    indicator: str | None = Field(None, pattern=CODE, description="The indicator's code in the register.")
    heading: Text | None = Field(None, description="A heading row's text (a row without an indicator).")
    central: str | None = Field(
        None,
        min_length=1,
        description="The reporting system's code of this row (DVC.01); rows without one are not sent.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ReportRow:
        if (self.indicator is None) == (self.heading is None):
            raise ValueError("a row has either an indicator or a heading")
        if self.central is not None and self.indicator is None:
            raise ValueError("a heading row is not sent: it has no central code")
        return self


class ReportSubmission(Model):
    """Where the report is sent: the central reporting system's template and who reports."""

    template: str = Field(min_length=1, description="The central template's code: BCCDS-DVC-2024.")
    reporter: str = Field(min_length=1, description="Who reports, as the reporting system knows them.")
    period: str = Field(min_length=1, description="The reporting period the template asks for: 2024.")
    connection: str = Field(
        "national_reporting", pattern=IDENTIFIER, description="Connection of the reporting system (its URL)."
    )


class Report(Model):
    """One report template."""

    code: str = Field(pattern=IDENTIFIER, description="The report's code, the file's name: online_public_services.")
    title: Text
    description: Text | None = None
    owner: str = Field(min_length=1, description="Publisher code of the department that compiles it.")
    area: str = Field(min_length=1, description="The area its values are for: Quảng Trị.")
    columns: list[ReportColumn] = Field(min_length=1)
    rows: list[ReportRow] = Field(min_length=1)
    notes: Text | None = Field(None, description="Printed under the table.")
    submission: ReportSubmission | None = None

    _normalise = field_validator("area", "owner", mode="before")(_nfc)

    @model_validator(mode="after")
    def _unique(self) -> Report:
        codes = [c.code for c in self.columns]
        if len(set(codes)) != len(codes):
            raise ValueError(f"columns: two columns have the code '{next(c for c in codes if codes.count(c) > 1)}'")
        indicators = [r.indicator for r in self.rows if r.indicator]
        if not indicators:
            raise ValueError("rows: a report needs at least one indicator row")
        if len(set(indicators)) != len(indicators):
            raise ValueError(f"rows: '{next(i for i in indicators if indicators.count(i) > 1)}' is in two rows")
        centrals = [r.central for r in self.rows if r.central]
        if len(set(centrals)) != len(centrals):
            raise ValueError(
                f"rows: two rows have the central code '{next(c for c in centrals if centrals.count(c) > 1)}'"
            )
        if self.submission is not None and not centrals:
            raise ValueError("rows: a report that is sent needs a central code on the rows it sends")
        return self


report_files = yaml_files


def report_problems(path: Path) -> tuple[Report | None, list[Problem]]:
    """Parse one report template; return it or its problems, each naming the field (never raises)."""
    report, problems = read_model(path, Report, noun="a report", shown=(dict, list))
    if report is not None and report.code != path.stem:
        return None, [Problem(path, "code", f"'{report.code}' must match the file name '{path.stem}'")]
    return report, problems


def load_reports(directory: Path, codes: list[str] | None = None) -> dict[str, Report]:
    """The report templates of the folder (only those `codes` name, so a broken sibling does not
    stop them), by code; raises ContractError naming the file and field."""
    wanted = set(codes) if codes else None
    out = {}
    for path in report_files(directory):
        if wanted is not None and path.stem not in wanted:
            continue
        report = valid_or_raise(path, *report_problems(path), noun="báo cáo không hợp lệ / invalid report")
        out[report.code] = report
    return out
