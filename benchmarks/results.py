"""Where a benchmark's figures go, with the parameters, the machine, its load and the commit they
were measured on, so a figure is never quoted without its context.

A full-size run writes `benchmarks/results/<name>.json`, which is committed: the README's tables
are rendered from it (benchmarks/readme.py). `LGSP_BENCH_SMOKE=1` (set by `benchmarks/run.py
--smoke`) marks a smoke run (small sizes through the same code paths, to catch a benchmark that no
longer runs, not to measure); its file goes to the ignored `benchmarks/out/` instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"  # smoke runs (ignored by git)
RESULTS = REPO / "benchmarks" / "results"  # full-size runs (committed; the README's tables)
_LOAD_AT_START = os.getloadavg()


def smoke() -> bool:
    return os.environ.get("LGSP_BENCH_SMOKE") == "1"


def result_path(name: str, smoke_run: bool) -> Path:
    """Where benchmark `name` writes its figures: a full run's are committed, a smoke run's are not."""
    return (OUT if smoke_run else RESULTS) / f"{name}.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    # Result files written by this very run (benchmarks/results/) are not changes to what is measured.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
    return f"{commit}+changes" if changed else commit


def run_tool(args: list[str]) -> str:
    """Run a helper process (the load generator, curl) and return its output; when it fails, what it
    printed on stderr is in the error, not lost with the captured output."""
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)[:200]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def machine() -> dict[str, Any]:
    import duckdb

    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load_average_at_start": [round(x, 2) for x in _LOAD_AT_START],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def save(name: str, params: dict[str, Any], results: Any) -> Path:
    """Write the result file of benchmark `name` (bench_load, bench_search…) and return its path."""
    path = result_path(name, smoke())
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "commit": _commit(),
        "smoke": smoke(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "params": params,
        "machine": machine(),
        "results": results,
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
