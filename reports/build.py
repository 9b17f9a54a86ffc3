"""Fill a report template's cells from the warehouse: each cell's value, status and observations."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lgsp.core.errors import LgspError
from lgsp.indicators.observations import observations, same_area
from lgsp.indicators.reconcile import (
    DISPUTED,
    Group,
    computed_values,
    groups,
    needed,
    resolutions,
    source_of,
    value_of,
)
from lgsp.publishing.versions import latest_release
from lgsp.schemas.base import Text
from lgsp.schemas.indicators import Indicator
from lgsp.schemas.reports import Report
from lgsp.warehouse.store import Warehouse

MISSING = "missing"  # no source reported the indicator for the cell's area and period


class ReportError(LgspError):
    """A report cannot be built: it names an indicator the register does not have."""


@dataclass(frozen=True)
class Trace:
    """One observation behind a cell: where it was published from and what was reported."""

    dataset: str
    submission: int | None
    origin: str | None  # file:line of a file drop
    value: float | None  # as reported
    unit: str  # as reported
    converted: float  # in the indicator's unit
    source: str  # DATASET:SUBMISSION, how `lgsp indicators resolve` names it
    publisher: str | None = None  # the department that published the dataset
    indicator: str | None = None  # for a computed cell: the indicator of the formula it is a value of


@dataclass(frozen=True)
class Cell:
    """One indicator's value for one column: agreed, resolved, disputed (no value) or missing."""

    column: str
    value: float | None
    status: str
    traces: list[Trace]
    resolution: dict[str, Any] | None = None

    @property
    def disputed(self) -> bool:
        return self.status == DISPUTED


@dataclass(frozen=True)
class Line:
    """One printed row: a heading, or an indicator with a cell per column."""

    number: str | None
    label: Text
    indicator: str | None = None
    unit: str | None = None
    central: str | None = None
    cells: list[Cell] = field(default_factory=list)
    formula: str | None = None  # a computed indicator's formula


@dataclass(frozen=True)
class Input:
    """A dataset the report's numbers were read from, as published when it was built. The run
    (and its time) is lineage for the build record, not part of the report: the same numbers
    make the same report whenever they were published."""

    dataset: str
    release: int | None  # the open release holding those rows, if any
    run_id: str | None = field(default=None, compare=False)
    published_at: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BuiltReport:
    """A report's cells as the warehouse holds them now; the same data gives the same JSON."""

    report: Report
    lines: list[Line]
    inputs: list[Input]

    @property
    def cells(self) -> list[tuple[Line, Cell]]:
        return [(line, cell) for line in self.lines for cell in line.cells]

    @property
    def disputed(self) -> list[tuple[Line, Cell]]:
        return [(line, cell) for line, cell in self.cells if cell.disputed]

    @property
    def lineage(self) -> dict[str, dict[str, Any]]:
        """Each input's run and publish time, for the build record."""
        return {
            i.dataset: {"run_id": i.run_id, "published_at": i.published_at, "release": i.release} for i in self.inputs
        }

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "code": r.code,
            "title": r.title.model_dump(),
            "description": r.description.model_dump() if r.description else None,
            "owner": r.owner,
            "area": r.area,
            "columns": [c.model_dump(mode="json") for c in r.columns],
            "lines": [
                {**asdict(line), "label": line.label.model_dump(), "cells": [asdict(c) for c in line.cells]}
                for line in self.lines
            ],
            "inputs": [{"dataset": i.dataset, "release": i.release} for i in self.inputs],
            "notes": r.notes.model_dump() if r.notes else None,
            "submission": r.submission.model_dump() if r.submission else None,
        }

    def canonical(self) -> bytes:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8") + b"\n"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def _traces(found: Group, publishers: dict[str, str], indicator: str | None = None) -> list[Trace]:
    return [
        Trace(
            o.dataset,
            o.submission,
            o.origin,
            o.value,
            o.unit,
            found.value(o),
            source_of(o),
            publishers.get(o.dataset),
            indicator,
        )
        for o in found.observations
    ]


def _find(found: list[Any], code: str, period: str, area: str) -> Any:
    """The group (or value) of an indicator for a period and an area, however the area was typed."""
    return next((g for g in found if _code(g) == code and g.period == period and same_area(g.area, area)), None)


def _code(g: Any) -> str:
    return str(g.indicator.code if isinstance(g, Group) else g.indicator)


def build(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    register: dict[str, Indicator],
    home: Path,
    publishers: dict[str, str] | None = None,
) -> BuiltReport:
    """The report's cells from the published tables and the resolutions of their conflicts; a
    computed indicator's cells from its formula, traced to the observations of what it reads.
    `publishers` names each dataset's department (publisher code) in the cells' traces.

    Raises ReportError when a row names an indicator the register does not have.
    """
    unknown = [r.indicator for r in report.rows if r.indicator and r.indicator not in register]
    if unknown:
        raise ReportError(f"{report.code}: rows: không có chỉ tiêu / no indicator '{unknown[0]}' in the register")
    publishers = publishers or {}
    wanted = needed(register, [r.indicator for r in report.rows if r.indicator])
    found = groups(observations(con, [register[c] for c in wanted]), register)
    answered = resolutions(con)
    computed = computed_values(register, wanted, [value_of(g, answered) for g in found])
    lines = []
    for row in report.rows:
        if row.indicator is None:
            assert row.heading is not None
            lines.append(Line(number=row.number, label=row.heading))
            continue
        indicator = register[row.indicator]
        cells = []
        for column in report.columns:
            area = column.area or report.area
            if indicator.formula:
                value = _find(computed, indicator.code, column.period, area)
                traces = [
                    t
                    for code in needed(register, indicator.inputs)
                    if not register[code].formula and (g := _find(found, code, column.period, area))
                    for t in _traces(g, publishers, code)
                ]
                cell = (
                    Cell(column.code, value.value, value.status, traces)
                    if value
                    else Cell(column.code, None, MISSING, [])
                )
            else:
                group = _find(found, indicator.code, column.period, area)
                cell = _cell(column.code, group, answered, publishers)
            cells.append(cell)
        lines.append(
            Line(row.number, indicator.name, indicator.code, indicator.unit, row.central, cells, indicator.formula)  # type: ignore[arg-type]
        )
    datasets = sorted({s.dataset for c in wanted for s in register[c].sources})
    return BuiltReport(report=report, lines=lines, inputs=[_input(con, home, d) for d in datasets])


def _cell(
    column: str, found: Group | None, answered: dict[tuple[str, str, str], Any], publishers: dict[str, str]
) -> Cell:
    if found is None:
        return Cell(column=column, value=None, status=MISSING, traces=[])
    value = value_of(found, answered)
    return Cell(
        column=column,
        value=value.value,
        status=value.status,
        traces=_traces(found, publishers),
        resolution=value.resolution.as_dict() if value.resolution else None,
    )


def _input(con: duckdb.DuckDBPyConnection, home: Path, dataset: str) -> Input:
    run = Warehouse.latest_published(con, dataset)
    release = latest_release(home, dataset)
    published = (
        run.ended_at.replace(microsecond=0).isoformat() if run and isinstance(run.ended_at, dt.datetime) else None
    )
    version = release.version if release and run and release.run_id == run.run_id else None
    return Input(dataset, version, run.run_id if run else None, published)


def from_dict(data: dict[str, Any]) -> BuiltReport:
    """A report built before, from its JSON (`BuiltReport.as_dict`): the same lines, cells and traces."""
    rows = []
    lines = []
    for line in data["lines"]:
        label = Text(**line["label"])
        cells = [
            Cell(c["column"], c["value"], c["status"], [Trace(**t) for t in c["traces"]], c["resolution"])
            for c in line["cells"]
        ]
        lines.append(
            Line(line["number"], label, line["indicator"], line["unit"], line["central"], cells, line.get("formula"))
        )
        if line["indicator"] is None:
            rows.append({"number": line["number"], "heading": line["label"]})
        else:
            rows.append({"number": line["number"], "indicator": line["indicator"], "central": line["central"]})
    report = Report.model_validate(
        {k: data[k] for k in ("code", "title", "description", "owner", "area", "columns", "notes", "submission")}
        | {"rows": rows}
    )
    inputs = [Input(i["dataset"], i["release"]) for i in data["inputs"]]
    return BuiltReport(report=report, lines=lines, inputs=inputs)
