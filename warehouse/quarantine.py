"""The quarantine: where a run's failing rows go, as sent (raw values as text), with the checks
they failed and why. Nothing is dropped: a row is published or set aside here."""

from __future__ import annotations

import json

import duckdb

from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract
from lgsp.warehouse import projection
from lgsp.warehouse.runs import RunRecord
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import utcnow

QUARANTINE_COLUMNS = "_run_id VARCHAR, _row BIGINT, _checks VARCHAR[], _reasons VARCHAR, _quarantined_at TIMESTAMP"
# A quarantine entry stays open until it is resolved (lgsp.submissions.corrections): by the
# correction submission that sent its row again (`_resolved_by`, and `_resolved_as`, that row's
# ref: published, or quarantined again as the entry's open successor), or with `_resolved_by`
# empty when its run was discarded on review. Added to tables made before corrections existed.
RESOLUTION_COLUMNS = (("_resolved_by", "BIGINT"), ("_resolved_at", "TIMESTAMP"), ("_resolved_as", "VARCHAR"))


def ensure(con: duckdb.DuckDBPyConnection, contract: Contract, hub_columns: list[str]) -> str:
    """The dataset's quarantine table, made or given the columns its contract gained since."""
    table = f"quarantine.{quote(contract.id)}"
    data_columns = ", ".join(f"{quote(c.name)} VARCHAR" for c in contract.columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({QUARANTINE_COLUMNS}, {data_columns})")
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for name in [c.name for c in contract.columns] + hub_columns:
        if name not in have:  # the contract gained a column since the table was made
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} VARCHAR")
    for name, kind in (r for r in RESOLUTION_COLUMNS if r[0] not in have):
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} {kind}")
    return table


def set_aside(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staging: Staging,
    run: RunRecord,
    rejected_by: list[str],
    quarantine: str,
    hub_columns: list[str],
) -> int:
    """Copy the failing rows (raw values as text) from the run's file to the quarantine table, with
    the checks they failed and why, and the others into the warehouse (`staging.incoming`, unless
    the run is rejected); returns how many were set aside."""
    stage, failures = staging.stage, staging.failures_table
    misfits = set(staging.misfit_columns(con))
    typed = projection.TYPED in hub_columns  # a file drop's cells as typed: 20.738, not 20738.0

    def text(name: str) -> str:
        value = f"CAST(s.{quote(name)} AS VARCHAR)"
        if name in misfits:
            value = f"m.{quote(name)}, {value}"
        if typed:
            value = (
                f"json_extract_string(s.{quote(projection.TYPED)}, '$.' || {duck.literal(json.dumps(name))}), {value}"
            )
        return f"COALESCE({value}) AS {quote(name)}" if "," in value else f"{value} AS {quote(name)}"

    texts = ", ".join(text(c.name) for c in contract.columns)
    texts += "".join(f", s.{quote(h)}" for h in hub_columns)
    # The raw values of the slice's rows only: the whole table is about as big as the failures.
    raw = (
        f" LEFT JOIN (SELECT * FROM {staging.misfits_table} WHERE row >= ? AND row < ?) m ON m.row = s._row"
        if misfits
        else ""
    )
    # Sorting the lists after aggregating is much cheaper than ordered aggregates. The lists are
    # built a slice of rows at a time: their aggregate does not spill, and 3 million failing rows
    # at once outgrew a 1 GB memory limit.
    slices = _slices(con, failures)
    findings = (
        "SELECT row, list_sort(list(DISTINCT check_key)) AS checks, "
        f"array_to_string(list_sort(list(reason)), '; ') AS reasons FROM {failures} WHERE row >= ? AND row < ? GROUP BY row"
    )
    failing = 0
    now = utcnow()  # one time for the run's rows, whichever slice they were in
    if rejected_by:
        why = "run rejected by " + ", ".join(rejected_by)
        # Every stage row goes, failing or not: the slices from row 0 (a slice's clean rows stream).
        for low, high in [(0, slices[0][0]), *slices] if slices else [(0, _END)]:
            found = con.execute(
                f"INSERT INTO {quarantine} BY NAME SELECT ? AS _run_id, s._row AS _row, "
                "list_concat(['rejected'], coalesce(f.checks, [])) AS _checks, "
                f"? || coalesce('; ' || f.reasons, '') AS _reasons, ? AS _quarantined_at, {texts} "
                f"FROM (SELECT rowid AS _row, * FROM {stage} WHERE rowid >= ? AND rowid < ?) s "
                f"LEFT JOIN ({findings}) f ON s._row = f.row{raw}",
                [run.run_id, why, now, low, high, low, high, *([low, high] if misfits else [])],
            ).fetchone()
            failing += int(found[0]) if found else 0
        return failing
    # Pick the failing rows by row id first, so the join runs over them only.
    for low, high in slices:
        found = con.execute(
            f"INSERT INTO {quarantine} BY NAME SELECT ? AS _run_id, s._row AS _row, "
            f"f.checks AS _checks, f.reasons AS _reasons, ? AS _quarantined_at, {texts} "
            f"FROM (SELECT rowid AS _row, * FROM {stage} WHERE rowid >= ? AND rowid < ? AND rowid IN "
            f"(SELECT row FROM {failures} WHERE row >= ? AND row < ?)) s "
            f"JOIN ({findings}) f ON s._row = f.row{raw}",
            [run.run_id, now, low, high, low, high, low, high, *([low, high] if misfits else [])],
        ).fetchone()
        failing += int(found[0]) if found else 0
    kept = f" WHERE rowid NOT IN (SELECT row FROM {failures})" if failing else ""
    con.execute(f"CREATE TABLE {staging.incoming} AS SELECT * FROM {stage}{kept}")
    return failing


SLICE_ROWS = 100_000  # failing rows whose reasons are gathered at once (set_aside)
_END = 2**62  # past any row id


def _slices(con: duckdb.DuckDBPyConnection, failures: str) -> list[tuple[int, int]]:
    """Half-open ranges [low, high) of row ids, in order, covering every row of `failures`, each
    holding about SLICE_ROWS failing rows (none for a run without failures)."""
    cuts = [
        int(r[0])
        for r in con.execute(
            f"SELECT row FROM (SELECT DISTINCT row FROM {failures}) "
            f"QUALIFY (row_number() OVER (ORDER BY row) - 1) % {SLICE_ROWS} = 0 ORDER BY row"
        ).fetchall()
    ]
    return list(zip(cuts, [*cuts[1:], _END], strict=True)) if cuts else []
