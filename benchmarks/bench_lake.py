"""Benchmark: the warehouse on DuckLake against the embedded DuckDB file (issue 15's acceptance).

One PostgreSQL table of env_readings (the sandbox's, dirt included) is loaded by the whole
validated run (extract → Great Expectations → publish), each time in a fresh process and home:
  1. embedded — into $LGSP_HOME/warehouse.duckdb;
  2. lake     — into a DuckLake: its catalog in PostgreSQL, its data files in SeaweedFS (S3);
  3. lake, two datasets one after the other on one worker — env_readings and a copy of its contract
     under another id;
  4. lake, the same two at once on two workers — two processes, as two worker hosts would run them.
The targets: (2) ≤ 1.5 × (1); (4) shorter than (3).

A worker host is stood in for by one core: (3) runs both processes on core 0, (4) one on core 0 and
one on core 1 (CPU affinity, and `LGSP_DUCKDB_THREADS=1`). Unpinned, each load already uses every
core of this 2-core machine, so two at once could only gain their overlapping start-ups; what (4)
measures is whether two hosts' writers get in each other's way through the lake (its catalog, its
store, its locks). Loads (1) and (2) use the whole machine.

Usage: python benchmarks/bench_lake.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_load import LGSP, measure, settle
from lgsp_sandbox.objectstore import ObjectStore
from lgsp_sandbox.postgres import PostgresServer
from results import save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
console = Console(width=120)
CORES = sorted(os.sched_getaffinity(0))  # a "worker host" is one of these

RUN = """
import sys
from lgsp.pipeline import Pipeline
run = Pipeline().run(sys.argv[1], "bench", release=False)
assert run.status == "published", run
print(run.rows_extracted)
"""


def contracts(work: Path) -> Path:
    """The province's contracts plus `env_readings_b`: the same source under another id."""
    folder = work / "contracts"
    shutil.copytree(REPO / "schemas" / "datasets", folder, dirs_exist_ok=True)
    data = yaml.safe_load((folder / "env_readings.yaml").read_text(encoding="utf-8"))
    data["id"] = "env_readings_b"
    (folder / "env_readings_b.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def pair(env: dict[str, str], at_once: bool) -> float:
    """Seconds to publish env_readings and env_readings_b on two one-core workers at once, or on one
    one-core worker one after the other."""
    started = time.perf_counter()
    procs: list[subprocess.Popen[str]] = []
    for worker, dataset in enumerate(("env_readings", "env_readings_b")):
        core = worker % len(CORES) if at_once else 0
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN, dataset], cwd=REPO, env=env | {"LGSP_DUCKDB_THREADS": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda core=core: os.sched_setaffinity(0, {CORES[core]}),
        )  # fmt: skip
        procs.append(proc)
        if not at_once:
            proc.wait()
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a run failed:\n{err[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median counts")
    opts = parser.parse_args()

    from lgsp_sandbox.build import build_department

    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-lake-"))
    with PostgresServer(work / "pg") as server, ObjectStore(work / "s3") as store:
        url = server.create_database("environment")
        with console.status(f"Loading {opts.rows:,} env_readings into PostgreSQL…"):
            build_department("environment", url, scale=opts.rows)
            settle(server)
        base = dict(os.environ, LGSP_CONN_ENVIRONMENT=url, LGSP_CONTRACTS=str(contracts(work)))
        s3 = {"LGSP_S3_ENDPOINT": store.endpoint, "LGSP_S3_KEY_ID": store.access_key,
              "LGSP_S3_SECRET": store.secret_key, "LGSP_S3_USE_SSL": "off"}  # fmt: skip
        seconds: dict[str, list[float]] = {"embedded": [], "lake": [], "lake, one after the other": [],
                                           "lake, at once": []}  # fmt: skip
        for i in range(opts.repeat):
            for name in seconds:
                home = work / "home"
                shutil.rmtree(home, ignore_errors=True)
                env = dict(base, LGSP_HOME=str(home))
                if name != "embedded":
                    catalog = server.create_database(f"lake_{i}_{len(seconds[name])}_{name[:4]}".replace(",", ""))
                    env |= s3 | {"LGSP_LAKE_CATALOG": catalog, "LGSP_LAKE_DATA_PATH": f"s3://lake/r{i}{name[-4:]}/"}
                    # Extensions installed and the catalog made once, before the clock starts.
                    subprocess.run([sys.executable, "-c", "from lgsp.warehouse.store import Warehouse\n"
                                    "from lgsp.core.settings import Settings\n"
                                    "with Warehouse(Settings.from_env()).writer(): pass"],
                                   cwd=REPO, env=env, check=True)  # fmt: skip
                with console.status(f"{name} (round {i + 1}/{opts.repeat})…"):
                    if name in ("embedded", "lake"):
                        done = measure(name, LGSP, [], env)
                        assert done["rows"] == opts.rows, done  # every row of the table was loaded
                        seconds[name].append(done["seconds"])
                    else:
                        seconds[name].append(pair(env, at_once=name.endswith("at once")))
            console.print(f"round {i + 1}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()))
    shutil.rmtree(work, ignore_errors=True)
    median = {n: sorted(s)[len(s) // 2] for n, s in seconds.items()}
    table = Table(title=f"env_readings, {opts.rows:,} rows, validated load; median of {opts.repeat}")
    for column in ("run", "seconds", "ratio"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_row("embedded DuckDB file", f"{median['embedded']:.1f}", "1.00")
    table.add_row("DuckLake (PostgreSQL + S3)", f"{median['lake']:.1f}", f"{median['lake'] / median['embedded']:.2f}")
    serial = median["lake, one after the other"]
    table.add_row("DuckLake, two datasets one after the other (one one-core worker)", f"{serial:.1f}", "1.00")
    table.add_row("DuckLake, two datasets at once (two one-core workers)", f"{median['lake, at once']:.1f}",
                  f"{median['lake, at once'] / serial:.2f}")  # fmt: skip
    console.print(table)
    save("bench_lake", vars(opts), {"median_seconds": median, "all_seconds": seconds})


if __name__ == "__main__":
    main()
