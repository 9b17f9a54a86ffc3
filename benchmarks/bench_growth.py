"""Benchmark: how the validated load grows with the table, at 10 M, 30 M and 100 M rows.

One PostgreSQL table grows between the sizes: the sandbox generates the first size (dirty rows
included), and each larger size adds copies of those rows with their reading ids moved past the
last copy's, so every size has the same share of dirt and no key appears twice that was not
planted twice. At each size, in the same rounds, it measures
  1. bare copy — DuckDB's postgres scanner doing a bare CREATE TABLE AS SELECT (the reference);
  2. lgsp      — extract → Great Expectations validation → atomic publish (bench_load's run).
It prints time and the process's peak memory per size, and how far each size's time per row is
from the smallest size's (1.00 = linear).

Usage: python benchmarks/bench_growth.py [--sizes 10000000,30000000,100000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench_load import BARE, LGSP, execute, libpq_dsn, measure, settle
from lgsp_sandbox.postgres import PostgresServer
from results import save
from rich.console import Console
from rich.table import Table

console = Console(width=120)

COLUMNS = "station_code, parameter, value, limit_value, unit, measured_at"


def grow(server: PostgresServer, base: int, size: int) -> None:
    """Add copies of the generated rows (table `env_readings_base`) until `env_readings` has `size` rows."""
    have = int(execute(server, "SELECT count(*) FROM env_readings")[0][0])
    span = int(execute(server, "SELECT max(reading_id) + 1 FROM env_readings_base")[0][0])
    copy = have // base
    while have < size:
        take = min(base, size - have)
        execute(
            server,
            f"INSERT INTO env_readings (reading_id, {COLUMNS}) SELECT reading_id + %s, {COLUMNS} "
            "FROM env_readings_base ORDER BY reading_id LIMIT %s",
            [copy * span, take],
        )
        have += take
        copy += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000000,30000000,100000000", help="comma-separated row counts, ascending")
    parser.add_argument("--dirty-share", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3, help="rounds at each size; the median counts")
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    if sizes != sorted(sizes) or len(set(sizes)) != len(sizes):
        raise SystemExit("--sizes must be ascending and distinct")

    from lgsp_sandbox.build import build_department

    work = opts.workdir or Path(tempfile.mkdtemp(prefix="lgsp-growth-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    with PostgresServer(work / "pg") as server:
        url = server.create_database("environment")
        with console.status(f"Generating {sizes[0]:,} env_readings in PostgreSQL…"):
            started = time.perf_counter()
            build_department("environment", url, scale=sizes[0], dirty_share=opts.dirty_share)
            execute(server, "CREATE TABLE env_readings_base AS SELECT * FROM env_readings")
        console.print(f"Generated {sizes[0]:,} rows in {time.perf_counter() - started:.0f} s")
        dsn = libpq_dsn(url)
        env = dict(os.environ, LGSP_HOME=str(work / "home"), LGSP_CONN_ENVIRONMENT=url)
        contenders = [
            ("bare copy (DuckDB postgres scanner CTAS)", BARE, [str(work / "bare.duckdb"), dsn, str(work / "ext")]),
            ("lgsp (extract → GX validation → publish)", LGSP, []),
        ]
        for size in sizes:
            with console.status(f"Growing the table to {size:,} rows…"):
                started = time.perf_counter()
                grow(server, sizes[0], size)
                settle(server)
            console.print(f"Table at {size:,} rows ({time.perf_counter() - started:.0f} s to grow and settle)")
            runs: dict[str, list[dict]] = {name: [] for name, _, _ in contenders}
            for i in range(opts.repeat):  # rounds alternate the contenders, as in bench_load
                for name, code, args in contenders:
                    with console.status(f"{size:,} rows: {name} (round {i + 1}/{opts.repeat})…"):
                        found = measure(name, code, args, env)
                    if found["rows"] != size:
                        raise SystemExit(f"{name} loaded {found['rows']:,} rows of {size:,}")
                    runs[name].append(found)
                    (work / "bare.duckdb").unlink(missing_ok=True)
                    shutil.rmtree(work / "home", ignore_errors=True)
                console.print(
                    f"{size:,} rows, round {i + 1}: "
                    + ", ".join(f"{n.split(' (')[0]} {runs[n][-1]['seconds']:.1f} s" for n in runs)
                )
            for name, _, _ in contenders:
                ordered = sorted(runs[name], key=lambda r: r["seconds"])
                results.append(
                    {
                        **ordered[len(ordered) // 2],
                        "size": size,
                        "all_seconds": [round(r["seconds"], 2) for r in runs[name]],
                        "all_peak_mib": [round(r["peak_mib"]) for r in runs[name]],
                    }
                )
    table = Table(title=f"Validated load of env_readings by table size, median of {opts.repeat}")
    for column in ("rows", "run", "seconds", "rows/s", "× bare copy", "× linear", "peak memory"):
        table.add_column(column, justify="left" if column == "run" else "right")
    first = {r["name"]: r["seconds"] / r["size"] for r in results if r["size"] == sizes[0]}
    for r in results:
        bare = next(b for b in results if b["size"] == r["size"])["seconds"]
        table.add_row(f"{r['size']:,}", r["name"], f"{r['seconds']:.1f}", f"{r['size'] / r['seconds']:,.0f}",
                      f"{r['seconds'] / bare:.2f}", f"{r['seconds'] / r['size'] / first[r['name']]:.2f}",
                      f"{r['peak_mib']:,.0f} MiB")  # fmt: skip
    console.print(table)
    save("bench_growth", {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()}, results)
    if not opts.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
