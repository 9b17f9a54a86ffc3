"""The indicator register: the province's indicators as master data, one YAML file each.

An indicator is one thing however many sources report it: each source names a published dataset
and how to pick the indicator's rows from it (which column holds the value, the period, the
area). Its observations are read from the warehouse by `lgsp.indicators`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from lgsp.schemas import formula
from lgsp.schemas.base import IDENTIFIER, Model, Text, _nfc
from lgsp.schemas.loader import Problem, read_model, valid_or_raise, yaml_files

CODE = r"^[A-Z][A-Z0-9_]*$"


class PeriodType(StrEnum):
    year = "year"
    quarter = "quarter"
    month = "month"


class IndicatorSource(Model):
    """One dataset that reports the indicator, and how to pick its rows (column names of that dataset)."""

    dataset: str = Field(pattern=IDENTIFIER, description="Id of the published dataset.")
    where: dict[str, str | list[str]] = Field(
        min_length=1,
        description="Column → the text it holds in the indicator's rows, or a list of texts (any of them): "
        "departments name one indicator in several ways.",
    )
    value: str = Field(pattern=IDENTIFIER, description="Column holding the value (a number).")
    period: str = Field(pattern=IDENTIFIER, description="Column holding the period, as reported.")
    area: str | None = Field(None, pattern=IDENTIFIER, description="Column holding the area (province, commune).")
    unit: str | None = Field(None, pattern=IDENTIFIER, description="Column holding the row's own unit, if any.")

    @field_validator("where", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: [_nfc(x) for x in v] if isinstance(v, list) else _nfc(v) for k, v in value.items()}

    @field_validator("where")
    @classmethod
    def _columns(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for column, wanted in value.items():
            if not re.match(IDENTIFIER, column):
                raise ValueError(f"'{column}' is not a column name (lower case, digits, _)")
            if isinstance(wanted, list) and not wanted:
                raise ValueError(f"{column}: an empty list matches no row")
        return value

    def columns(self) -> list[tuple[str, str]]:
        """(field, column) for every column this source names."""
        named = [(f"where.{c}", c) for c in self.where] + [("value", self.value), ("period", self.period)]
        return named + [(f, c) for f, c in (("area", self.area), ("unit", self.unit)) if c is not None]


class Indicator(Model):
    """One indicator of the province's register."""

    code: str = Field(pattern=CODE, description="Upper-case code, the file's name: DVCTT_TOAN_TRINH_QG.")
    name: Text
    description: Text | None = None
    unit: str = Field(min_length=1, description="The unit its values are in: services, %, subscriptions…")
    period: PeriodType = Field(description="How often it is reported: year, quarter or month.")
    owner: str = Field(min_length=1, description="Publisher code of the department answerable for it (SKHCN).")
    tolerance: float = Field(0, ge=0, description="Relative difference two sources may show before they conflict.")
    units: dict[str, float] = Field(
        default_factory=dict,
        description="A row's own unit → the factor that converts its value into `unit` ({'ratio': 100} "
        "for a % indicator). Rows in `unit`, or in a unit not named here, are compared as reported.",
    )
    sources: list[IndicatorSource] = Field(
        default_factory=list, description="The datasets that report it (or a `formula` instead)."
    )
    formula: str | None = Field(
        None,
        min_length=1,
        description="Computed from other indicators of the same area and period instead of reported: "
        "+ - * / and parentheses over their codes and numbers (DVCTT_TOAN_TRINH_TINH / "
        "(DVCTT_TOAN_TRINH_TINH + DVCTT_MOT_PHAN_TINH) * 100).",
    )

    _normalise = field_validator("unit", "owner", mode="before")(_nfc)

    @field_validator("formula")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            formula.parse(value)  # FormulaError is a ValueError: pydantic reports it on the field
        return value

    @model_validator(mode="after")
    def _reported_or_computed(self) -> Indicator:
        if bool(self.sources) == (self.formula is not None):
            raise ValueError("an indicator has either sources (reported) or a formula (computed), not both or neither")
        if self.formula is not None and self.code in formula.names(self.formula):
            raise ValueError(f"formula: {self.code} cannot be computed from itself")
        return self

    @property
    def inputs(self) -> list[str]:
        """The indicators a computed indicator reads (none for a reported one)."""
        return formula.names(self.formula) if self.formula else []

    @field_validator("units", mode="before")
    @classmethod
    def _normalise_units(cls, value: Any) -> Any:
        return {_nfc(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("units")
    @classmethod
    def _factors(cls, value: dict[str, float]) -> dict[str, float]:
        for unit, factor in value.items():
            if not unit.strip():
                raise ValueError("a unit is a non-empty text")
            if not factor > 0 or factor == float("inf"):
                raise ValueError(f"{unit}: the factor must be a positive number (got {factor})")
        return value

    def factor(self, unit: str) -> float:
        """What a value reported in `unit` is multiplied by to be in the register's unit."""
        return 1.0 if unit == self.unit else self.units.get(unit, 1.0)


def needed(register: dict[str, Indicator], codes: list[str]) -> list[str]:
    """These indicators and every indicator their formulas read, however deep."""
    out: dict[str, None] = {}
    todo = list(codes)
    while todo:
        code = todo.pop()
        if code in out or code not in register:
            continue
        out[code] = None
        todo.extend(register[code].inputs)
    return sorted(out)


indicator_files = yaml_files


def indicator_problems(path: Path) -> tuple[Indicator | None, list[Problem]]:
    """Parse one register file; return the indicator or its problems, each naming the field (never raises)."""
    indicator, problems = read_model(path, Indicator, noun="an indicator", shown=(dict, list))
    if indicator is not None and indicator.code != path.stem:
        return None, [Problem(path, "code", f"'{indicator.code}' must match the file name '{path.stem}'")]
    return indicator, problems


def load_register(directory: Path) -> dict[str, Indicator]:
    """Every indicator of the register folder, by code; raises ContractError naming the file and field."""
    out = {}
    for path in indicator_files(directory):
        indicator = valid_or_raise(path, *indicator_problems(path), noun="invalid indicator")
        out[indicator.code] = indicator
    return out
