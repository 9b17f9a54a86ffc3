"""Run every benchmark, one after the other, and fail if any of them fails or writes no result.

`make bench` runs them at their real sizes (minutes each); `make bench-smoke` (and CI) runs them
with small sizes through the same code paths (bench_load without its dlt comparison, which needs
the bench dependency group) in about a minute and a half, so a benchmark that stops working
is noticed the day it breaks. A smoke run fails on an error, never on a slow figure: figures on a
shared CI machine mean nothing.

Usage: python benchmarks/run.py [--smoke] [--only bench_load,bench_search]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"  # smoke runs' result files (ignored by git)
RESULTS = HERE / "results"  # full runs' result files (committed; benchmarks/readme.py renders the README from them)

SMOKE_TIMEOUT = 300  # seconds one benchmark may take in a smoke run (each takes under 30 s)
FULL_TIMEOUT = 3 * 3600

# name, arguments for the real run, arguments for the smoke run
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("bench_load", [], ["--rows", "20000", "--repeat", "1", "--skip-dlt"]),
    ("bench_publish", [], ["--rows", "20000", "--rate", "20", "--seconds", "1", "--repeat", "1"]),
    ("bench_sharing", [], ["--rows", "20000", "--rate", "20", "--seconds", "1", "--throughput-seconds", "1",
                           "--rounds", "1", "--clients", "2"]),
    ("bench_rest", [], ["--records", "5000", "--repeat", "1"]),
    ("bench_drop", [], ["--rows", "5000", "--repeat", "1"]),
    ("bench_derived", [], ["--rows", "100000", "--repeat", "1"]),
    ("bench_download", [], ["--rows", "20000", "--rounds", "1", "--transfers", "1"]),
    ("bench_search", [], ["--datasets", "50", "--rate", "20", "--seconds", "1"]),
    ("bench_incremental", [], ["--rows", "20000", "--repeat", "1"]),
    ("bench_growth", [], ["--sizes", "20000,50000", "--repeat", "1"]),
    ("bench_stall", [], ["--rows", "50000", "--repeat", "1"]),
    ("bench_lake", [], ["--rows", "20000", "--repeat", "1"]),
]  # fmt: skip


def run(name: str, args: list[str], smoke: bool, console: Console) -> tuple[int, float, str]:
    """(exit code, seconds, what went wrong or "") of one benchmark; its result file must be new."""
    result = (OUT if smoke else RESULTS) / f"{name}.json"
    # A file left by an earlier run must not pass for this one's: it must be written after the start.
    before = result.stat().st_mtime_ns if result.exists() else -1
    started = time.perf_counter()
    env = dict(os.environ, LGSP_BENCH_SMOKE="1" if smoke else "0")
    console.rule(f"{name} {' '.join(args)}")
    try:
        code = subprocess.run(
            [sys.executable, str(HERE / f"{name}.py"), *args], env=env, check=False,
            timeout=SMOKE_TIMEOUT if smoke else FULL_TIMEOUT,
        ).returncode  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        return 124, time.perf_counter() - started, f"still running after {exc.timeout:.0f} s: stopped"
    seconds = time.perf_counter() - started
    if code != 0:
        return code, seconds, f"exit code {code}"
    if not result.exists() or result.stat().st_mtime_ns == before:
        return 1, seconds, f"no result file {result.relative_to(HERE)} written"
    written = json.loads(result.read_text(encoding="utf-8"))
    if written.get("smoke") is not smoke or not written.get("results"):
        return 1, seconds, f"{result.name}: not this run's results"
    return 0, seconds, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small sizes, same code paths; fail only on errors")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    opts = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not opts.only or b[0] in opts.only.split(",")]
    unknown = set(filter(None, opts.only.split(","))) - {b[0] for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    console = Console(width=120)
    outcomes = []
    for name, real, small in chosen:
        outcomes.append((name, *run(name, small if opts.smoke else real, opts.smoke, console)))
    table = Table(title="Benchmarks (smoke: small sizes, errors only)" if opts.smoke else "Benchmarks")
    for column in ("benchmark", "outcome", "seconds", "result file"):
        table.add_column(column)
    folder = "out" if opts.smoke else "results"
    for name, code, seconds, problem in outcomes:
        table.add_row(
            name, "ok" if code == 0 else f"FAILED: {problem}", f"{seconds:.0f}", f"benchmarks/{folder}/{name}.json"
        )
    console.print(table)
    if not opts.smoke:
        console.print("README.md's performance tables: python benchmarks/readme.py (make bench runs it after this)")
    return 1 if any(code for _, code, _, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
