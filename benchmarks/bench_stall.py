"""Benchmark: does a long run of one dataset hold up another dataset's publish?

A full run of env_readings (10 M rows from PostgreSQL: scan → validation → publish) starts; while
it runs, env_stations (the same department's small table) is run again and again, back to back, as
other departments' schedules would. The warehouse logs every wait for its writer lock, so each
small run knows how long other writers held it up. The long run notes when each of its steps began
and ended, so each wait is placed: during its scan and validation (which stage in the run's own
file, without the lock) or during its publish (which holds the lock while it copies the rows in).
References in the same run: env_stations run alone, and how long the long run's scan and
validation took (the stall each small run would have seen had they held the lock).

Usage: python benchmarks/bench_stall.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench_load import settle
from lgsp_sandbox.postgres import PostgresServer
from results import save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
console = Console(width=120)

LONG = """
import json, sys, time
from lgsp.pipeline import Pipeline
pipeline = Pipeline()
steps = {}
for step, call in (
    ("scan", lambda: pipeline.extract("env_readings", sys.argv[1])),
    ("validate", lambda: pipeline.validate("env_readings", sys.argv[1])),
    ("publish", lambda: pipeline.publish("env_readings", sys.argv[1], release=False)),
):
    began = time.time()
    done = call()
    steps[step] = [began, time.time()]
assert done.status == "published", done
print("steps", json.dumps(steps))
"""

SMALL = """
import json, logging, os, sys, time
from lgsp.pipeline import Pipeline
waits = []

class Waits(logging.Handler):
    def emit(self, record):
        if hasattr(record, "waited"):
            waits.append((time.time() - record.waited, record.waited))

store = logging.getLogger("lgsp.warehouse.store")
store.setLevel(logging.DEBUG)
store.addHandler(Waits())
pipeline = Pipeline()
long_pid, times = int(sys.argv[1]), int(sys.argv[2])

def alive():
    if long_pid == 0:
        return False
    try:
        return os.waitpid(long_pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        try:
            os.kill(long_pid, 0)
            return True
        except ProcessLookupError:
            return False

pipeline.run("env_stations", f"warm-{os.getpid()}", release=False)  # Great Expectations imported: every run alike
n = 0
while n < times or alive():
    waits.clear()
    began = time.time()
    run = pipeline.run("env_stations", f"small-{os.getpid()}-{n}", release=False)
    assert run.status in ("published", "unchanged"), run
    print("small", json.dumps({"began": began, "ended": time.time(), "waits": waits}), flush=True)
    n += 1
"""


def python(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finished(proc: subprocess.Popen[str], name: str) -> list[str]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    return out.splitlines()


def smalls(lines: list[str]) -> list[dict]:
    return [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("small ")]


def one_round(work: Path, env: dict[str, str], n: int) -> dict:
    """The small dataset alone, then beside a long run; the waits placed in the long run's steps."""
    alone = smalls(finished(python(SMALL, "0", "3", env=env), "env_stations alone"))
    long = python(LONG, f"long-{n}", env=env)
    # The small runs start once the long run is in its scan (its run file exists), not while it imports.
    deadline = time.time() + 120
    while not any((work / "home" / "staging" / "env_readings").glob("*/lgsp_run.duckdb")):
        if long.poll() is not None or time.time() > deadline:
            finished(long, "env_readings")
            raise SystemExit("the long run never began its scan")
        time.sleep(0.05)
    beside = python(SMALL, str(long.pid), "1", env=env)
    steps = json.loads(next(x for x in finished(long, "env_readings") if x.startswith("steps ")).split(" ", 1)[1])
    runs = smalls(finished(beside, "env_stations beside the long run"))
    staged_until = steps["validate"][1]  # the scan and validation: the run works in its own file

    def placed(during_publish: bool) -> list[float]:
        return [
            seconds
            for r in runs
            for at, seconds in r["waits"]
            if (steps["publish"][0] <= at + seconds and at <= steps["publish"][1]) is during_publish
            and (during_publish or at <= staged_until)
        ]

    during_staging, during_publish = placed(False), placed(True)
    return {
        "alone_seconds": statistics.median(r["ended"] - r["began"] for r in alone),
        "beside_seconds": statistics.median(r["ended"] - r["began"] for r in runs),
        "small_runs": len(runs),
        "small_runs_during_staging": sum(1 for r in runs if r["began"] < staged_until),
        "longest_wait_during_staging": max(during_staging, default=0.0),
        "longest_wait_during_publish": max(during_publish, default=0.0),
        "scan_seconds": steps["scan"][1] - steps["scan"][0],
        "validate_seconds": steps["validate"][1] - steps["validate"][0],
        "publish_seconds": steps["publish"][1] - steps["publish"][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dirty-share", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()

    from lgsp_sandbox.build import build_department

    work = opts.workdir or Path(tempfile.mkdtemp(prefix="lgsp-bench-stall-"))
    work.mkdir(parents=True, exist_ok=True)
    rounds = []
    with PostgresServer(work / "pg") as server:
        url = server.create_database("environment")
        with console.status(f"Loading {opts.rows:,} env_readings into PostgreSQL…"):
            build_department("environment", url, scale=opts.rows, dirty_share=opts.dirty_share)
            settle(server)
        env = dict(os.environ, LGSP_HOME=str(work / "home"), LGSP_CONN_ENVIRONMENT=url)
        for n in range(opts.repeat):
            shutil.rmtree(work / "home", ignore_errors=True)
            with console.status(f"round {n + 1}/{opts.repeat}: env_stations alone, then beside env_readings…"):
                rounds.append(one_round(work, env, n))
            r = rounds[-1]
            console.print(
                f"round {n + 1}: scan {r['scan_seconds']:.1f} s + validation {r['validate_seconds']:.1f} s, "
                f"{r['small_runs_during_staging']} small runs meanwhile, longest wait "
                f"{r['longest_wait_during_staging']:.2f} s; during its publish ({r['publish_seconds']:.1f} s) "
                f"{r['longest_wait_during_publish']:.2f} s"
            )
    median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    table = Table(title=f"env_stations runs beside a {opts.rows:,}-row env_readings run, median of {opts.repeat}")
    for column in ("figure", "seconds", "rounds"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    labels = {
        "alone_seconds": "env_stations run alone (reference)",
        "beside_seconds": "env_stations run beside the long run",
        "longest_wait_during_staging": "longest lock wait during its scan and validation",
        "longest_wait_during_publish": "longest lock wait during its publish",
        "scan_seconds": "long run: scan (reference: the stall had it held the lock)",
        "validate_seconds": "long run: validation",
        "publish_seconds": "long run: publish (holds the lock)",
    }
    for key, label in labels.items():
        table.add_row(label, f"{median[key]:.2f}", ", ".join(f"{r[key]:.2f}" for r in rounds))
    console.print(table)
    save(
        "bench_stall",
        {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
        [median | {"rounds": rounds}],
    )
    if not opts.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
