"""The department's side of reconciliation: the conflicts of the indicators it owns, and its answer.

Only the owning department may resolve an indicator's conflict (the register's `owner`); the
answer is recorded as `staff:<username>`, the same record `lgsp indicators resolve` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from lgsp.core.settings import Settings
from lgsp.indicators import reconcile
from lgsp.pipeline import Pipeline
from lgsp.schemas.indicators import load_register
from lgsp.sharing.staff import Staff


@dataclass(frozen=True)
class OwnedConflict:
    """One conflict of an indicator the department owns, and whether it is answered."""

    group: reconcile.Group
    status: str  # disputed | resolved
    resolution: reconcile.Resolution | None

    @property
    def key(self) -> str:
        return f"{self.group.indicator.code}|{self.group.area}|{self.group.period}"

    def as_json(self) -> dict[str, Any]:
        answer = self.resolution.as_dict() if self.resolution and self.status == reconcile.RESOLVED else None
        return {**self.group.as_dict(), "status": self.status, "resolution": answer}


def owned_conflicts(con: duckdb.DuckDBPyConnection, settings: Settings, department: str) -> list[OwnedConflict]:
    """Every conflict of the indicators `department` owns, disputed ones first."""
    register = {k: v for k, v in load_register(settings.indicators_dir).items() if v.owner == department}
    answered = reconcile.resolutions(con)
    out = []
    for group in reconcile.conflicts(con, register):
        resolution = answered.get((group.indicator.code, group.area, group.period))
        current = resolution is not None and resolution.fingerprint == group.fingerprint
        out.append(OwnedConflict(group, reconcile.RESOLVED if current else reconcile.DISPUTED, resolution))
    return sorted(out, key=lambda c: (c.status != reconcile.DISPUTED, c.key))


def resolve_owned(pipeline: Pipeline, settings: Settings, staff: Staff, form: dict[str, str]) -> str:
    """Record the department's answer from the form (`conflict` INDICATOR|AREA|PERIOD, `source`
    DATASET:SUBMISSION or `explain`, `why`); raises ReconcileError (nothing written) when refused,
    an indicator the department does not own included."""
    code, _, rest = form.get("conflict", "").partition("|")
    area, _, period = rest.partition("|")
    register = load_register(settings.indicators_dir)
    if code not in register or register[code].owner != staff.department:
        raise reconcile.ReconcileError(
            f"chỉ sở chủ quản mới xác định được / only the owning department may resolve '{code}'", field="conflict"
        )
    source = form.get("source", "").strip() or None
    explain = form.get("explain", "").strip() or None
    value: float | None = None
    with pipeline.warehouse.writer() as con:
        if source is not None:
            group = next(
                (g for g in reconcile.conflicts(con, register, code) if (g.area, g.period) == (area, period)), None
            )
            picked = next((o for o in group.observations if reconcile.source_of(o) == source), None) if group else None
            value = group.value(picked) if group and picked and picked.value is not None else None
        done = reconcile.resolve(
            con, register, code, area, period, why=form.get("why"), by=f"staff:{staff.username}",
            value=value, source=source, explain=explain,
        )  # fmt: skip
    shown = "—" if done.value is None else f"{done.value:g}"
    return f"{code} {area} {period}: {shown} ({done.dataset or done.explanation}) by {done.by}"
