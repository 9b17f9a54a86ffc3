"""Benchmark: an incremental `lgsp run` that handles deletions, against the full load in the same run.

A PostgreSQL table of driving licences (`--rows`, 10 million) is loaded in full by `lgsp run`; then 1 %
of its rows change at the source (updates, inserts and a few deletions) and `lgsp run` pulls the
change by its cursor and removes what was deleted, as the contract's `incremental.deletes` says:
  soft_delete — the deleted rows are marked (`deleted_at`) and arrive through the cursor;
  key_diff    — the rows are deleted; each run also reads the source's keys and removes those gone;
  tombstones  — the rows are deleted and listed in `deleted_licences` with their own cursor.
Every run is `lgsp run` in its own process (the wall time of the command); rounds alternate the
modes, each round a fresh hub: full load (the reference), the change at the source, incremental run.
Usage: python benchmarks/bench_incremental.py [--rows 10000000] [--repeat 3] [--modes soft_delete,key_diff]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg2
from lgsp_sandbox.postgres import PostgresServer
from results import save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
console = Console(width=120)

MODES = {
    "soft_delete": ("licences_soft", "{mode: soft_delete, column: deleted_at}"),
    "key_diff": ("licences", "{mode: key_diff}"),
    "tombstones": ("licences", "{mode: tombstones, table: deleted_licences, cursor: deleted_at}"),
}
UPDATED, INSERTED, DELETED = 0.008, 0.0019, 0.0001  # shares of the table: 1 % in all

CONTRACT = """\
id: {id}
title: {{vi: Giấy phép lái xe, en: Driving licences}}
description: {{vi: Bảng đo hiệu năng., en: A benchmark table.}}
publisher: {{code: SXD, name: {{vi: Sở Xây dựng, en: Department of Construction}}}}
source: {{kind: sql, connection: licences, table: {table}}}
primary_key: [id]
incremental:
  cursor: updated_at
  deletes: {deletes}
columns:
  - {{name: id, type: integer, description: {{vi: Số giấy phép, en: Licence number}}}}
  - {{name: holder, type: string, description: {{vi: Người được cấp, en: Holder}}}}
  - {{name: commune_code, type: string, description: {{vi: Mã xã/phường, en: Commune code}}}}
  - {{name: licence_class, type: string, description: {{vi: Hạng, en: Class}}}}
  - {{name: points, type: integer, description: {{vi: Điểm, en: Points}}}}
  - {{name: issued_on, type: date, description: {{vi: Ngày cấp, en: Issued on}}}}
  - {{name: updated_at, type: timestamp, description: {{vi: Cập nhật, en: Updated}}}}
classification: shared
licence: {{id: CC-BY-4.0, title: CC BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}}
update_frequency: daily
theme: [TRAN]
"""


def sql(server: PostgresServer, *statements: str) -> list[int]:
    """Run statements on the source; returns the rows each touched."""
    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="transport")
    counts = []
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                counts.append(cur.rowcount)
    finally:
        conn.close()
    return counts


COLUMNS = (
    "id BIGINT PRIMARY KEY, holder TEXT, commune_code TEXT, licence_class TEXT, points INTEGER, issued_on DATE, "
    "updated_at TIMESTAMP NOT NULL, deleted_at TIMESTAMP"
)
ROWS = (
    "SELECT i, 'Nguyễn Văn ' || i, lpad((19000 + i % 78)::text, 5, '0'), (ARRAY['A1','A2','B1','B2','C'])[1 + i % 5], "
    "12, DATE '2010-01-01' + (i % 5000)::int, TIMESTAMP '2025-01-01' + i * INTERVAL '1 second', NULL "
    "FROM generate_series({first}, {last}) AS i"
)


def build(server: PostgresServer, rows: int) -> None:
    """The two source tables (one soft-deletes, one deletes and keeps tombstones), indexed on the
    cursors as a production table followed by a cursor is, vacuumed and frozen."""
    for table in ("licences", "licences_soft"):
        sql(
            server,
            f"DROP TABLE IF EXISTS {table}",
            f"CREATE TABLE {table} ({COLUMNS})",
            f"INSERT INTO {table} " + ROWS.format(first=1, last=rows),
            f"CREATE INDEX ON {table} (updated_at)",
        )
    sql(
        server,
        "DROP TABLE IF EXISTS deleted_licences",
        "CREATE TABLE deleted_licences (id BIGINT, deleted_at TIMESTAMP NOT NULL)",
        "CREATE INDEX ON deleted_licences (deleted_at)",
    )
    sql(server, "VACUUM (FREEZE, ANALYZE) licences", "VACUUM (FREEZE, ANALYZE) licences_soft")


def change(server: PostgresServer, mode: str, table: str, rows: int, round_: int) -> dict[str, int]:
    """1 % of the rows change at the source: updates, inserts and a few deletions, as `mode` deletes."""
    # Changes spread over the round's hour, as a day's edits are: few rows share the last cursor value.
    day = round_ * len(MODES) + list(MODES).index(mode)  # a later day for each change: the cursor only grows
    at = f"TIMESTAMP '2026-01-01' + INTERVAL '{day * 24} hours' + (id % 3600) * INTERVAL '1 second'"
    pick = f"abs(hashtext(id::text || ':{mode}:{round_}')) % 1000000"
    live = "deleted_at IS NULL" if mode == "soft_delete" else "true"
    first = rows * (2 + round_ * len(MODES) + list(MODES).index(mode))  # new keys, never used before
    statements = [
        f"UPDATE {table} SET points = points - 1, updated_at = {at} WHERE {live} AND {pick} < {UPDATED * 1e6:.0f}",
        f"INSERT INTO {table} "
        + ROWS.format(first=first, last=first + int(rows * INSERTED) - 1).replace(
            "TIMESTAMP '2025-01-01' + i * INTERVAL '1 second'", at.replace("id %", "i %")
        ),
    ]
    share = max(DELETED, 10 / rows)  # a few, even in a small table
    gone = f"{live} AND id < {first} AND {pick} >= 999000 AND {pick} < {999000 + share * 1e6:.0f}"
    if mode == "soft_delete":
        statements.append(f"UPDATE {table} SET deleted_at = {at}, updated_at = {at} WHERE {gone}")
    else:
        if mode == "tombstones":
            statements.append(f"INSERT INTO deleted_licences SELECT id, {at} FROM {table} WHERE {gone}")
        statements.append(f"DELETE FROM {table} WHERE {gone}")
    counts = sql(server, *statements, f"ANALYZE {table}")
    return {"updated": counts[0], "inserted": counts[1], "deleted": counts[-2]}


def lgsp_run(dataset: str, env: dict[str, str], home: Path) -> dict:
    """`lgsp run <dataset>` in its own process: its wall time, and what its run record says."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lgsp.cli", "run", dataset], cwd=REPO, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        row = con.execute(
            "SELECT status, mode, rows_extracted, rows_published, rows_deleted, "
            "epoch(ended_at) - epoch(started_at), error FROM meta.runs WHERE dataset_id = ? "
            "ORDER BY ended_at DESC LIMIT 1",
            [dataset],
        ).fetchone()
    finally:
        con.close()
    if done.returncode != 0 or row is None or row[0] not in ("published", "unchanged"):
        raise SystemExit(f"lgsp run {dataset} failed ({row}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    _status, mode, extracted, published, deleted, in_run, _error = row
    return {
        "seconds": round(seconds, 3),
        "run_seconds": round(float(in_run), 3),
        "mode": mode,
        "rows_extracted": extracted,
        "rows_published": published,
        "rows_deleted": deleted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()
    modes = [m for m in opts.modes.split(",") if m]
    if unknown := sorted(set(modes) - set(MODES)):
        parser.error(f"unknown mode(s): {', '.join(unknown)}")

    work = opts.workdir or Path(tempfile.mkdtemp(prefix="lgsp-bench-incremental-"))
    work.mkdir(parents=True, exist_ok=True)
    contracts = work / "contracts"
    contracts.mkdir(exist_ok=True)
    for mode in modes:
        table, deletes = MODES[mode]
        text = CONTRACT.format(id=f"licences_{mode}", table=table, deletes=deletes)
        (contracts / f"licences_{mode}.yaml").write_text(text, encoding="utf-8")
    with PostgresServer(work / "pg") as server:
        url = server.create_database("transport")
        with console.status(f"Loading {opts.rows:,} licences into two PostgreSQL tables…"):
            started = time.perf_counter()
            build(server, opts.rows)
        console.print(f"Source ready: 2 × {opts.rows:,} rows in {time.perf_counter() - started:.0f} s")
        runs: dict[str, dict[str, list[dict]]] = {
            m: {"full": [], "incremental": [], "quiet": [], "changed": []} for m in modes
        }
        for i in range(opts.repeat):
            for mode in modes:
                home = work / "home"
                shutil.rmtree(home, ignore_errors=True)
                env = dict(os.environ, LGSP_HOME=str(home), LGSP_CONTRACTS=str(contracts), LGSP_CONN_LICENCES=url)
                dataset = f"licences_{mode}"
                with console.status(f"{mode}: full load (round {i + 1}/{opts.repeat})…"):
                    full = lgsp_run(dataset, env, home)
                changed = change(server, mode, MODES[mode][0], opts.rows, i + 1)
                with console.status(f"{mode}: incremental run (round {i + 1}/{opts.repeat})…"):
                    incremental = lgsp_run(dataset, env, home)
                assert incremental["mode"] == "incremental", incremental
                assert incremental["rows_deleted"] == changed["deleted"] > 0, (incremental, changed)
                # Again, nothing changed at the source: what an incremental run costs whatever it brings.
                with console.status(f"{mode}: incremental run, nothing changed (round {i + 1}/{opts.repeat})…"):
                    quiet = lgsp_run(dataset, env, home)
                for kind, value in (
                    ("full", full),
                    ("incremental", incremental),
                    ("quiet", quiet),
                    ("changed", changed),
                ):
                    runs[mode][kind].append(value)
                console.print(
                    f"round {i + 1} {mode}: full {full['seconds']:.2f} s, incremental {incremental['seconds']:.2f} s "
                    f"({incremental['rows_extracted']:,} rows in, {incremental['rows_deleted']:,} deleted; "
                    f"{incremental['seconds'] / full['seconds']:.1%}); nothing changed {quiet['seconds']:.2f} s"
                )
            shutil.rmtree(work / "home", ignore_errors=True)

    results = []
    table = Table(title=f"Incremental run after 1 % changed, {opts.rows:,} rows in PostgreSQL, median of {opts.repeat}")
    columns = (
        "deletes",
        "full load s (reference)",
        "incremental s",
        "share",
        "nothing changed s",
        "rounds (full / incr.)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in (columns[0], columns[-1]) else "right")
    for mode in modes:
        full_s = [r["seconds"] for r in runs[mode]["full"]]
        incr_s = [r["seconds"] for r in runs[mode]["incremental"]]
        quiet_s = [r["seconds"] for r in runs[mode]["quiet"]]
        ratios = [b / a for a, b in zip(full_s, incr_s, strict=True)]
        result = {
            "mode": mode,
            "full_seconds": statistics.median(full_s),
            "incremental_seconds": statistics.median(incr_s),
            "share": statistics.median(incr_s) / statistics.median(full_s),
            "round_shares": [round(r, 4) for r in ratios],
            "quiet_seconds": statistics.median(quiet_s),
            "full_runs": runs[mode]["full"],
            "incremental_runs": runs[mode]["incremental"],
            "quiet_runs": runs[mode]["quiet"],
            "changed": runs[mode]["changed"],
        }
        results.append(result)
        rounds = f"{', '.join(f'{s:.2f}' for s in full_s)} / {', '.join(f'{s:.2f}' for s in incr_s)}"
        table.add_row(
            mode,
            f"{result['full_seconds']:.2f}",
            f"{result['incremental_seconds']:.2f}",
            f"{result['share']:.1%}",
            f"{result['quiet_seconds']:.2f}",
            rounds,
        )
    console.print(table)
    console.print(f"[dim]at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}[/dim]")
    save("bench_incremental", {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()}, results)
    if not opts.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
