"""Benchmark: a full validated load of env_readings from PostgreSQL, against two references.

Prints rows/s and peak memory for
  1. bare copy — DuckDB's postgres scanner doing a bare CREATE TABLE AS SELECT (the physical limit);
  2. lgsp      — extract (DuckDB postgres scanner) → Great Expectations validation → atomic publish;
  3. lgsp, the whole open-data path — `lgsp run` as a user runs it: the load above, then the
     release (CSV, Parquet and their gzip; JSON only up to LGSP_RELEASE_JSON_MAX_ROWS) and the DCAT
     catalogue (the bulk dump is assembled when downloaded: nothing to build);
  4. dlt       — dlt's sql_database source into DuckDB with its fastest backend (connectorx).
Each runs in its own process, measured in the same run on the same table, so ratios are fair.
Usage: python benchmarks/bench_load.py [--rows 10000000] [--dirty-share 0.02] [--repeat 3] [--skip-dlt]
       [--skip-path]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from lgsp_sandbox.postgres import PostgresServer
from results import save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent

console = Console(width=120)

LGSP = """
import os, sys
from lgsp.pipeline import Pipeline
run = Pipeline().run("env_readings", "bench", release=False)  # the load itself; releases: bench_publish.py
print(run.status, run.rows_extracted, run.rows_published, run.rows_quarantined, run.error, file=sys.stderr)
assert run.status == "published", run
assert run.rows_extracted == run.rows_published + run.rows_quarantined
print(run.rows_extracted)
"""

PATH = """
import sys, time
import orjson
from lgsp.pipeline import Pipeline
pipeline = Pipeline()
started = time.perf_counter()
run = pipeline.run("env_readings", "bench", release=False)
loaded = time.perf_counter()
assert run.status == "published", run
release = pipeline.release("env_readings")  # what `lgsp run` does next: the release and the catalogue
done = time.perf_counter()
files = {d.format: d.bytes for d in release.distributions}
print("parts", orjson.dumps({"load_seconds": loaded - started, "release_seconds": done - loaded, "bytes": files}).decode())
print(run.rows_extracted)
"""

BARE = """
import os, sys
from pathlib import Path
from lgsp.core import duck
con = duck.connect(sys.argv[1], memory_limit="1GB")
duck.load_extension(con, "postgres", Path(sys.argv[3]))
con.execute(f"ATTACH '{sys.argv[2]}' AS src (TYPE postgres, READ_ONLY)")
con.execute("CREATE TABLE env_readings AS SELECT * FROM src.public.env_readings")
print(con.execute("SELECT count(*) FROM env_readings").fetchone()[0])
"""

DLT = """
import os, sys
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
import dlt
from dlt.sources.sql_database import sql_table
table = sql_table(credentials=sys.argv[2], table="env_readings", backend="connectorx", chunk_size=250000)
pipeline = dlt.pipeline(
    pipeline_name="bench", pipelines_dir=sys.argv[3],
    destination=dlt.destinations.duckdb(sys.argv[1]), dataset_name="bench",
)
pipeline.run(table)
import duckdb
print(duckdb.connect(sys.argv[1]).execute("SELECT count(*) FROM bench.env_readings").fetchone()[0])
"""


def measure(name: str, code: str, args: list[str], env: dict[str, str]) -> dict:
    """Run `code` in a fresh process; wall time and that process's own peak RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    lines = out.strip().splitlines()
    found = {"name": name, "rows": int(lines[-1]), "seconds": seconds, "peak_mib": usage.ru_maxrss / 1024}
    parts = [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("parts ")]
    return {**found, **parts[-1]} if parts else found


def execute(server: PostgresServer, sql: str, params: list | None = None) -> list[tuple]:
    """One statement on the source database, committed at once; its rows, if it returns any."""
    conn = server.admin_connection("environment")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def settle(server: PostgresServer) -> None:
    """Vacuum and freeze the fresh table, as a production table would be: otherwise autovacuum
    (and the first reads setting hint bits) take CPU during whichever runs come first."""
    execute(server, "VACUUM (FREEZE, ANALYZE) env_readings")


def libpq_dsn(url: str) -> str:
    """The libpq form of a sandbox server's SQLAlchemy URL, as the bare scanner copy attaches it."""
    user_host, dbname = url.split("://", 1)[1].rsplit("/", 1)
    user, hostport = user_host.split("@")
    host, port = hostport.split(":")
    return f"host={host} port={port} user={user} dbname={dbname}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dirty-share", type=float, default=0.02)
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--skip-path", action="store_true", help="leave out the whole open-data path")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median counts")
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()

    from lgsp_sandbox.build import build_department

    work = opts.workdir or Path(tempfile.mkdtemp(prefix="lgsp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    with PostgresServer(work / "pg") as server:
        url = server.create_database("environment")
        with console.status(f"Loading {opts.rows:,} env_readings into PostgreSQL…"):
            started = time.perf_counter()
            build_department("environment", url, scale=opts.rows, dirty_share=opts.dirty_share)
        with console.status("VACUUM (FREEZE, ANALYZE): a settled table, not autovacuum racing the first runs…"):
            settle(server)
        console.print(f"Source ready: {opts.rows:,} rows in {time.perf_counter() - started:.0f} s")
        dsn = libpq_dsn(url)
        env = dict(os.environ)
        env.update(LGSP_HOME=str(work / "home"), LGSP_CONN_ENVIRONMENT=url)
        contenders = [
            ("bare copy (DuckDB postgres scanner CTAS)", BARE, [str(work / "bare.duckdb"), dsn, str(work / "ext")]),
            ("lgsp (extract → GX validation → publish)", LGSP, []),
            *(
                []
                if opts.skip_path
                else [("lgsp run, the whole open-data path (load + release + catalogue)", PATH, [])]
            ),
            *(
                []
                if opts.skip_dlt
                else [
                    ("dlt sql_database (connectorx) → duckdb", DLT, [str(work / "dlt.duckdb"), url, str(work / "dlt")])
                ]
            ),
        ]
        # Rounds alternate the contenders, so a machine that slows down or speeds up midway
        # (other jobs on the host) weighs on all of them alike.
        runs: dict[str, list[dict]] = {name: [] for name, _, _ in contenders}
        for i in range(opts.repeat):
            for name, code, args in contenders:
                with console.status(f"{name} (round {i + 1}/{opts.repeat})…"):
                    runs[name].append(measure(name, code, args, env))
                for leftover in (work / "bare.duckdb", work / "dlt.duckdb", work / "home"):
                    shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(
                        missing_ok=True
                    )
            console.print(
                f"round {i + 1}: "
                + ", ".join(f"{name.split(' (')[0]} {runs[name][-1]['seconds']:.1f} s" for name in runs)
            )
        results = []
        for name, _, _ in contenders:
            ordered = sorted(runs[name], key=lambda r: r["seconds"])
            results.append({**ordered[len(ordered) // 2], "all_seconds": [round(r["seconds"], 2) for r in runs[name]]})
            console.print(f"{name}: {', '.join(f'{r:.1f}' for r in results[-1]['all_seconds'])} s")
    bare = results[0]["seconds"]
    table = Table(title=f"Full load of env_readings, {opts.rows:,} rows from PostgreSQL, median of {opts.repeat}")
    for column in ("run", "rows", "seconds", "rows/s", "× bare copy", "peak memory"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for r in results:
        table.add_row(r["name"], f"{r['rows']:,}", f"{r['seconds']:.1f}", f"{r['rows'] / r['seconds']:,.0f}",
                      f"{r['seconds'] / bare:.2f}", f"{r['peak_mib']:,.0f} MiB")  # fmt: skip
    console.print(table)
    save("bench_load", {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()}, results)
    if not opts.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
