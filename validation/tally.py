"""What a check found over a run's frames, added up: counts, a sample, and the rows it
quarantines or warns about with their reasons. Great Expectations' results are added frame by
frame (record); the primary key of a run too large for one frame is judged by DuckDB instead
(duplicate_keys), as GX would judge it on one frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract, Severity
from lgsp.validation.declared import SAMPLE, WITHHELD, shown_sample
from lgsp.validation.expectations import Check
from lgsp.validation.reasons import reason
from lgsp.validation.report import CheckResult


@dataclass
class Tally:
    check: Check
    evaluated: int = 0
    missing: int = 0
    unexpected: int = 0
    success: bool = True
    sample: list[str] = field(default_factory=list)
    error: str | None = None
    personal: bool = False  # reports live outside the warehouse: no personal values in them

    def result(self, scope: str) -> CheckResult:
        e = self.check.expectation
        mostly = e.kwargs.get("mostly")
        success = self.success and self.error is None
        if mostly is not None and self.check.row_level and self.error is None:
            judged = max(self.evaluated - self.missing, 1)
            success = self.unexpected / judged <= 1 - float(mostly) + 1e-12
        return CheckResult(
            key=self.check.key,
            expectation=e.type,
            kwargs=e.kwargs,
            severity=e.severity.value,
            origin=self.check.origin,
            scope=scope,
            evaluated=self.evaluated,
            unexpected=self.unexpected,
            success=success,
            sample=self.sample,
            error=self.error,
        )


def gx_error(info: dict[str, Any] | None) -> str | None:
    """GX reports a failed evaluation either flat or keyed by metric; return its message."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message"))[:300]
    return None


def record(
    tallies: dict[str, Tally],
    gx_result: Any,
    failures: list[pa.Table],
    warned: set[int],
) -> None:
    for r in gx_result.results:
        tally = tallies[r.expectation_config.meta["lgsp_key"]]
        raised = gx_error(r.exception_info)
        if raised:
            tally.error = raised
            continue
        res = r.result
        tally.evaluated += int(res.get("element_count") or 0)
        tally.missing += int(res.get("missing_count") or 0)
        tally.unexpected += int(res.get("unexpected_count") or 0)
        tally.success = tally.success and bool(r.success)
        values = res.get("unexpected_list") or []
        if tally.check.expectation.type == "expect_column_values_to_not_be_null" or not values:
            pass  # the unexpected values are all nulls: nothing to show
        elif tally.personal:
            tally.sample = [WITHHELD]
        elif len(tally.sample) < SAMPLE:
            tally.sample.extend(shown_sample(v) for v in values[: SAMPLE - len(tally.sample)])
        rows = res.get("unexpected_index_list") or []
        if not rows or not tally.check.row_level:
            continue
        severity = tally.check.expectation.severity
        if severity is Severity.quarantine:
            e = tally.check.expectation
            if len(values) != len(rows):
                values = [None] * len(rows)
            reasons = [reason(e.type, e.kwargs, v, tally.check.label) for v in values]
            failures.append(
                pa.table(
                    {"row": pa.array(rows, pa.int64()), "check_key": [tally.check.key] * len(rows), "reason": reasons}
                )
            )
        elif severity is Severity.warn:
            warned.update(int(x) for x in rows)


def duplicate_keys(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    stage: str,
    tally: Tally,
    failures: list[pa.Table],
    warned: set[int],
) -> None:
    """The primary key's uniqueness in a run too large for one frame, judged as Great Expectations
    judges it on one (every row of a key that appears twice is unexpected; a single key's empty
    values are missing, left to the not-null check; compound keys compare empty parts as equal and
    skip rows whose parts are all empty), by DuckDB's hash aggregate, which spills to disk rather
    than hold every key in memory."""
    names = [quote(k) for k in contract.primary_key]
    if len(names) == 1:
        present = f"{names[0]} IS NOT NULL"
    else:
        present = "NOT (" + " AND ".join(f"{k} IS NULL" for k in names) + ")"
    same = " AND ".join(f"s.{k} IS NOT DISTINCT FROM d.{k}" for k in names)
    tally.evaluated = count(con, f"SELECT count(*) FROM {stage}")
    if len(names) == 1:
        tally.missing = tally.evaluated - count(con, f"SELECT count(*) FROM {stage} WHERE {present}")
    found = con.execute(
        f"SELECT s.rowid, {', '.join(f's.{k}' for k in names)} FROM {stage} s "
        f"SEMI JOIN (SELECT {', '.join(names)} FROM {stage} WHERE {present} GROUP BY ALL HAVING count(*) > 1) d "
        f"ON {same} ORDER BY s.rowid"  # d holds no empty key, so no empty key of s matches it
    ).fetchall()
    tally.unexpected = len(found)
    tally.success = not found
    if not found:
        return
    e = tally.check.expectation
    values = [row[1] if len(row) == 2 else dict(zip(contract.primary_key, row[1:], strict=True)) for row in found]
    tally.sample = [WITHHELD] if tally.personal else [shown_sample(v) for v in values[:SAMPLE]]
    rows = [int(row[0]) for row in found]
    if e.severity is Severity.quarantine:
        failures.append(
            pa.table({
                "row": pa.array(rows, pa.int64()),
                "check_key": [tally.check.key] * len(rows),
                "reason": [reason(e.type, e.kwargs, v, tally.check.label) for v in values],
            })
        )  # fmt: skip
    elif e.severity is Severity.warn:
        warned.update(rows)


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
