"""Benchmark: open-data publishing of a 10-million-row dataset, and the APIs under load.

1. Export: a release (CSV with BOM + Parquet, ordered by key, with SHA-256 of each file) against
   DuckDB's bare `COPY … TO` of the same table to CSV and Parquet, in the same process; median of 3.
2. Load: `lgsp serve` in its own process; a second process sends package_search and
   datastore_search at a fixed 200 requests per second; p50/p95/p99 and errors.
Usage: python benchmarks/bench_publish.py [--rows 10000000] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lgsp_sandbox.servers import free_port
from results import run_tool, save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent

console = Console(width=120)


def build_warehouse(home: Path, rows: int) -> None:
    """A warehouse whose env_readings holds `rows` readings (typed as the contract says)."""
    from lgsp.core import duck

    home.mkdir(parents=True, exist_ok=True)
    con = duck.connect(home / "warehouse.duckdb")
    con.execute(f"""
        CREATE OR REPLACE TABLE main.env_readings AS
        SELECT range AS reading_id,
               'QT-KK-' || lpad(CAST(range % 30 AS VARCHAR), 2, '0') AS station_code,
               ['PM2.5', 'PM10', 'NO2', 'SO2', 'CO', 'O3'][1 + range % 6] AS parameter,
               round(random() * 100, 2) AS value, 50.0 AS limit_value, 'µg/m³' AS unit,
               TIMESTAMP '2024-01-01' + INTERVAL (range // 30) HOUR AS measured_at
        FROM range({rows})""")
    con.close()


def bench_export(home: Path, repeat: int) -> list[dict]:
    from lgsp.core import duck
    from lgsp.publishing.releases import make_release
    from lgsp.schemas.loader import find_contract

    contract = find_contract(REPO / "schemas" / "datasets", "env_readings")
    con = duck.connect(home / "warehouse.duckdb")
    results = {"bare": [], "release": []}
    out = home / "bare"
    for i in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        started = time.perf_counter()
        con.execute(f"COPY main.env_readings TO '{out / 'bare.csv'}' (FORMAT csv, HEADER true)")
        con.execute(f"COPY main.env_readings TO '{out / 'bare.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        results["bare"].append(time.perf_counter() - started)
        shutil.rmtree(home / "releases", ignore_errors=True)
        started = time.perf_counter()
        make_release(con, home, contract, f"bench-{i}", formats=("csv", "parquet"))
        results["release"].append(time.perf_counter() - started)
    con.close()
    return [{"name": k, "seconds": sorted(v)[len(v) // 2], "all": [round(x, 2) for x in v]} for k, v in results.items()]


def bench_load(home: Path, rate: float, seconds: float) -> dict[str, dict]:
    from lgsp.core import duck
    from lgsp.core.settings import Settings
    from lgsp.publishing.refresh import refresh
    from lgsp.schemas.loader import find_contract

    os.environ["LGSP_HOME"] = str(home)
    settings = Settings.from_env()
    con = duck.connect(home / "warehouse.duckdb")
    refresh(con, settings, find_contract(settings.contracts_dir, "env_readings"), "bench")  # all three formats
    con.close()
    port = free_port()
    env = dict(os.environ, LGSP_HOME=str(home))
    server = subprocess.Popen(
        [sys.executable, "-m", "lgsp.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/3/action/status_show", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start") from None
                time.sleep(0.2)
        loads = {
            "package_search": ["/api/3/action/package_search?q=quan%20trac&facet.field=[%22organization%22]",
                               "/api/3/action/package_search?fq=res_format:CSV&rows=10", "/api/3/action/package_search"],
            "datastore_search": ["/api/3/action/datastore_search?resource_id=env_readings&limit=100&offset={offset}"],
        }  # fmt: skip
        out = {}
        for name, paths in loads.items():
            out[name] = json.loads(run_tool(
                [sys.executable, str(REPO / "benchmarks" / "loadgen.py"), base, "--rate", str(rate), "--seconds", str(seconds), *paths],
            ))  # fmt: skip
        return out
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-publish-"))
    try:
        with console.status(f"Building a warehouse with {opts.rows:,} readings…"):
            build_warehouse(work, opts.rows)
        with console.status("Exporting…"):
            exports = bench_export(work, opts.repeat)
        bare = exports[0]["seconds"]
        table = Table(
            title=f"Export of {opts.rows:,} rows: CSV + Parquet (+ SHA-256 for the release), median of {opts.repeat}"
        )
        for column in ("run", "seconds", "runs", "× bare COPY"):
            table.add_column(column)
        for r in exports:
            name = (
                "bare COPY … TO (CSV, Parquet)"
                if r["name"] == "bare"
                else "lgsp release (ordered by key, BOM, SHA-256)"
            )
            table.add_row(name, f"{r['seconds']:.2f}", ", ".join(map(str, r["all"])), f"{r['seconds'] / bare:.2f}")
        console.print(table)
        with console.status(f"Load: {opts.rate:.0f} requests/s for {opts.seconds:.0f} s per endpoint…"):
            loads = bench_load(work, opts.rate, opts.seconds)
        table = Table(
            title=f"lgsp serve under {opts.rate:.0f} requests/s from a second process ({opts.seconds:.0f} s each)"
        )
        for column in ("endpoint", "requests", "achieved rps", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"):
            table.add_column(column)
        for name, r in loads.items():
            table.add_row(name, str(r["requests"]), f"{r['achieved_rps']:.0f}", str(r["errors"]), f"{r['p50_ms']:.1f}",
                          f"{r['p95_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}")  # fmt: skip
        console.print(table)
        save("bench_publish", vars(opts), {"exports": exports, "loads": loads})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
