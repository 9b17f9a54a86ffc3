"""Reconciliation: one indicator, area and period reported differently by two sources is a conflict.

Observations of one indicator, area and period (`lgsp.indicators.observations`) are compared in
the register's unit (a row's own unit is converted where the register's `units` says how). They
agree when every two differ by at most the register's `tolerance`, relative: |a-b| / max(|a|,|b|);
0 means any difference. Otherwise they conflict, and the owning department picks one observation or
explains (`resolve`, kept in `meta.indicator_resolutions`). A resolution holds only while the
observations it saw are unchanged (their fingerprint): a new or changed value disputes it again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import statistics
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from lgsp.core import duck
from lgsp.core.errors import LgspError
from lgsp.indicators.observations import Observation, observations, same_area, same_areas
from lgsp.schemas import formula
from lgsp.schemas.indicators import Indicator, needed

_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SEQUENCE IF NOT EXISTS meta.indicator_resolution_ids START 1;
CREATE TABLE IF NOT EXISTS meta.indicator_resolutions (
    id BIGINT PRIMARY KEY,
    indicator VARCHAR NOT NULL,
    area VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    value DOUBLE,
    dataset VARCHAR,
    submission BIGINT,
    origin VARCHAR,
    explanation VARCHAR,
    fingerprint VARCHAR NOT NULL,
    why VARCHAR NOT NULL,
    "by" VARCHAR NOT NULL,
    "at" TIMESTAMP NOT NULL
);
"""
_COLUMNS: tuple[str, ...] = ("indicator", "area", "period", "value", "dataset", "submission", "origin")
_COLUMNS += ("explanation", "fingerprint", "why", "by", "at")
_NAMES = ", ".join(f'"{c}"' for c in _COLUMNS)

AGREED, RESOLVED, DISPUTED, COMPUTED = "agreed", "resolved", "disputed", "computed"


class ReconcileError(LgspError):
    """A resolution refused; nothing was written."""


@dataclass(frozen=True)
class Resolution:
    """The owning department's answer to one conflict."""

    indicator: str
    area: str  # "" for an indicator without area
    period: str
    value: float | None
    dataset: str | None  # the chosen observation's source, when one was picked
    submission: int | None
    origin: str | None
    explanation: str | None
    fingerprint: str  # the observations it answered
    why: str
    by: str
    at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        out = {c: getattr(self, c) for c in _COLUMNS}
        out["at"] = self.at.isoformat()
        return out


@dataclass
class Group:
    """The observations of one indicator, area and period, with their values in the register's unit."""

    indicator: Indicator
    area: str
    period: str
    observations: list[Observation] = field(default_factory=list)

    def value(self, o: Observation) -> float:
        assert o.value is not None
        return o.value * self.indicator.factor(o.unit)

    @property
    def values(self) -> list[float]:
        return [self.value(o) for o in self.observations]

    @property
    def agreed(self) -> bool:
        values = self.values
        return all(not differ(a, b, self.indicator.tolerance) for i, a in enumerate(values) for b in values[i + 1 :])

    @property
    def fingerprint(self) -> str:
        seen = sorted(
            [self.value(o), o.dataset, o.submission if o.submission is not None else -1, o.origin or ""]
            for o in self.observations
        )
        return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator.code,
            "area": self.area,
            "period": self.period,
            "unit": self.indicator.unit,
            "tolerance": self.indicator.tolerance,
            "observations": [{**o.as_dict(), "converted": self.value(o)} for o in self.observations],
        }


def differ(a: float, b: float, tolerance: float) -> bool:
    """Whether two values differ by more than `tolerance`, relative to the larger (0: any difference)."""
    if a == b:
        return False
    return abs(a - b) / max(abs(a), abs(b)) > tolerance


def source_of(o: Observation) -> str:
    """How `resolve` names an observation's source: DATASET:SUBMISSION (DATASET when not a file drop)."""
    return o.dataset if o.submission is None else f"{o.dataset}:{o.submission}"


def groups(found: Iterable[Observation], register: dict[str, Indicator]) -> list[Group]:
    """Observations grouped by indicator, area and period (those without a value are left out)."""
    out: dict[tuple[str, str, str], Group] = {}
    for o in found:
        if o.value is None or o.indicator not in register:
            continue
        key = (o.indicator, o.area or "", o.period)
        out.setdefault(key, Group(register[o.indicator], *key[1:])).observations.append(o)
    return [out[k] for k in sorted(out)]


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    duck.create_schema(con, _DDL)


def resolutions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], Resolution]:
    """The latest resolution of each indicator, area and period."""
    _ensure(con)
    rows = con.execute(f"SELECT {_NAMES} FROM meta.indicator_resolutions ORDER BY id").fetchall()
    return {(r[0], r[1], r[2]): Resolution(*r) for r in rows}


def conflicts(con: duckdb.DuckDBPyConnection, register: dict[str, Indicator], code: str | None = None) -> list[Group]:
    """Every indicator, area and period whose observations differ beyond the tolerance, resolved or not."""
    chosen = [register[code]] if code else list(register.values())
    return [g for g in groups(observations(con, chosen), register) if not g.agreed]


@dataclass(frozen=True)
class Value:
    """One indicator's published value for an area and period, and how it was reached."""

    indicator: str
    area: str
    period: str
    value: float | None  # None while disputed (or resolved by an explanation alone)
    unit: str
    status: str  # agreed | resolved | disputed
    sources: list[str]  # each observation's DATASET:SUBMISSION and file:line
    resolution: Resolution | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "resolution"}
        out["resolution"] = self.resolution.as_dict() if self.resolution else None
        return out


def values(con: duckdb.DuckDBPyConnection, register: dict[str, Indicator], code: str | None = None) -> list[Value]:
    """One row per indicator, area and period: `value_of` each group of a reported indicator's
    observations, `computed` for an indicator with a formula (`computed_values`)."""
    wanted = needed(register, [code] if code else list(register))
    answered = resolutions(con)
    reported = [value_of(g, answered) for g in groups(observations(con, [register[c] for c in wanted]), register)]
    found = reported + computed_values(register, wanted, reported)
    shown = {code} if code else set(register)
    named = same_areas(v.area for v in found)  # one name per area, whichever indicator it is of
    found = [dataclasses.replace(v, area=named.get(v.area, v.area)) for v in found if v.indicator in shown]
    return sorted(found, key=lambda v: (v.indicator, v.area, v.period))


def computed_values(register: dict[str, Indicator], codes: list[str], known: list[Value]) -> list[Value]:
    """The values of the indicators with a formula among `codes`, for each area and period where
    every indicator it reads has a value row: `computed`, or `disputed` (no value) while one of
    them is. Formulas over formulas are computed in order; a cycle computes nothing."""
    named = same_areas(v.area for v in known)  # 'Quang Tri' from one source is 'Quảng Trị' from another
    by_key = {(v.indicator, named.get(v.area, v.area), v.period): v for v in known}
    pending = [register[c] for c in codes if register[c].formula]
    out: list[Value] = []
    while pending:
        ready = [i for i in pending if not any(register.get(x) in pending for x in i.inputs)]
        if not ready:
            break
        for indicator in ready:
            pending.remove(indicator)
            places = {(a, p) for (c, a, p) in by_key if c in indicator.inputs}
            for area, period in sorted(places):
                parts = [by_key.get((c, area, period)) for c in indicator.inputs]
                if any(p is None for p in parts):
                    continue
                found = [p for p in parts if p is not None]
                sources = [f"{p.indicator}={'—' if p.value is None else f'{p.value:g}'} ({p.status})" for p in found]
                row = dict(indicator=indicator.code, area=area, period=period, unit=indicator.unit, sources=sources)
                if any(p.value is None for p in found):
                    value = Value(**row, value=None, status=DISPUTED)  # type: ignore[arg-type]
                else:
                    result = formula.evaluate(indicator.formula or "", {p.indicator: p.value for p in found})  # type: ignore[misc]
                    if result is None:  # divided by zero: no value, as where an input is missing
                        continue
                    value = Value(**row, value=result, status=COMPUTED)  # type: ignore[arg-type]
                by_key[(indicator.code, area, period)] = value
                out.append(value)
    return out


def value_of(g: Group, answered: dict[tuple[str, str, str], Resolution]) -> Value:
    """A group's published value: `agreed` (the sources agree within the tolerance: the lower median
    of their values, one a source reported), `resolved` (a resolution answered exactly these
    observations: its value) or `disputed` (no value)."""
    sources = [f"{source_of(o)} {o.origin or ''}".strip() for o in g.observations]
    row = dict(indicator=g.indicator.code, area=g.area, period=g.period, unit=g.indicator.unit, sources=sources)
    resolution = answered.get((g.indicator.code, g.area, g.period))
    if g.agreed:
        return Value(**row, value=statistics.median_low(g.values), status=AGREED)  # type: ignore[arg-type]
    if resolution is not None and resolution.fingerprint == g.fingerprint:
        return Value(**row, value=resolution.value, status=RESOLVED, resolution=resolution)  # type: ignore[arg-type]
    return Value(**row, value=None, status=DISPUTED)  # type: ignore[arg-type]


def _text(value: str | None) -> str:
    return unicodedata.normalize("NFC", (value or "").strip())


def resolve(
    con: duckdb.DuckDBPyConnection,
    register: dict[str, Indicator],
    code: str,
    area: str,
    period: str,
    *,
    why: str | None,
    by: str | None,
    value: float | None = None,
    source: str | None = None,
    explain: str | None = None,
    now: dt.datetime | None = None,
) -> Resolution:
    """Record the owning department's answer to one conflict: pick an observation (`source` as
    DATASET:SUBMISSION, and its `value`) or `explain` (with a value of its own, or none). Call under
    the warehouse writer. Raises ReconcileError, writing nothing, without `why` or `by`, for an
    unknown indicator, an indicator, area and period not in conflict, or a `value` that is not the
    chosen source's."""
    why, by, explain = _text(why), _text(by), _text(explain) or None
    area, period = _text(area), _text(period)
    if code not in register:
        raise ReconcileError(f"không có chỉ tiêu / no indicator '{code}' (known: {', '.join(register)})", field="code")
    if not why:
        raise ReconcileError("cần ghi lý do / why is required", field="why")
    if not by:
        raise ReconcileError("cần ghi người quyết định / who decides (by) is required", field="by")
    if (source is None) == (explain is None):
        raise ReconcileError("chọn một nguồn hoặc giải thích / give either --source or --explain", field="source")
    group = next((g for g in conflicts(con, register, code) if same_area(g.area, area) and g.period == period), None)
    if group is None:
        raise ReconcileError(
            f"không có xung đột / {code} has no conflict for area '{area}', period '{period}' "
            "(lgsp indicators conflicts lists them)",
            field="period",
        )
    picked: Observation | None = None
    if source is not None:
        picked = next((o for o in group.observations if source_of(o) == source.strip()), None)
        if picked is None:
            known = ", ".join(source_of(o) for o in group.observations)
            raise ReconcileError(
                f"không có nguồn / no observation from '{source}' (these are: {known})", field="source"
            )
        if value is None:
            raise ReconcileError("cần ghi giá trị đã chọn / the chosen value (--value) is required", field="value")
        allowed = {picked.value, group.value(picked)}
        if not any(a is not None and not differ(value, a, 1e-9) for a in allowed):
            raise ReconcileError(
                f"giá trị {value:g} không phải của nguồn đã chọn / {value:g} is not what {source} reported "
                f"({group.value(picked):g} {group.indicator.unit})",
                field="value",
            )
        value = group.value(picked)
    resolution = Resolution(
        indicator=code,
        area=group.area,  # as the observations group it, however it was typed
        period=period,
        value=value,
        dataset=picked.dataset if picked else None,
        submission=picked.submission if picked else None,
        origin=picked.origin if picked else None,
        explanation=explain,
        fingerprint=group.fingerprint,
        why=why,
        by=by,
        at=now or dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )
    _ensure(con)
    con.execute(
        f"INSERT INTO meta.indicator_resolutions (id, {_NAMES}) VALUES (?, {', '.join('?' for _ in _COLUMNS)})",
        [duck.next_id(con, "meta.indicator_resolution_ids"), *(getattr(resolution, c) for c in _COLUMNS)],
    )
    return resolution
