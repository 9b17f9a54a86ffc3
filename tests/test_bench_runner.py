"""benchmarks/run.py: a benchmark that fails, or that ends without writing its result file, fails
the run (what `make bench-smoke` in CI relies on); the real smoke run is `.ci/run`'s."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import types
from pathlib import Path

from rich.console import Console

from tests.paths import REPO_ROOT as REPO


def _runner(here: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_runner", REPO / "benchmarks" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE, module.OUT, module.RESULTS = here, here / "out", here / "results"  # benchmarks of its own
    return module


def test_a_failing_or_silent_benchmark_fails_the_run(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    (tmp_path / "bench_broken.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "bench_silent.py").write_text("print('measured nothing')\n")
    (tmp_path / "bench_stale.py").write_text("print('wrote nothing new')\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "bench_stale.json").write_text('{"smoke": true, "results": {"x": 1}}')
    stale = (tmp_path / "out" / "bench_stale.json").stat().st_mtime - 60
    os.utime(tmp_path / "out" / "bench_stale.json", (stale, stale))
    (tmp_path / "bench_good.py").write_text(
        "import json, os, pathlib\n"
        "smoke = os.environ['LGSP_BENCH_SMOKE'] == '1'\n"
        "out = pathlib.Path(__file__).parent / ('out' if smoke else 'results')\n"
        "out.mkdir(exist_ok=True)\n"
        "(out / 'bench_good.json').write_text(json.dumps({'smoke': smoke, 'results': {'seconds': 1.0}}))\n"
    )
    console = Console(file=io.StringIO())
    assert runner.run("bench_broken", [], True, console)[0] == 3
    assert runner.run("bench_silent", [], True, console)[2].startswith("no result file")
    assert runner.run("bench_stale", [], True, console)[2].startswith("no result file")
    (tmp_path / "bench_mislabelled.py").write_text(
        "import pathlib\n"
        "(pathlib.Path(__file__).parent / 'results' / 'bench_mislabelled.json').write_text("
        '\'{"smoke": true, "results": {"seconds": 1.0}}\')\n'
    )
    assert runner.run("bench_good", [], True, console)[::2] == (0, "")
    assert runner.run("bench_good", [], False, console)[::2] == (0, "")
    assert runner.run("bench_mislabelled", [], False, console)[2] == "bench_mislabelled.json: not this run's results"
    # A full run's committed result file, left from an earlier measurement, is kept but does not pass.
    committed = tmp_path / "results" / "bench_stale.json"
    committed.write_text('{"smoke": false, "results": {"x": 1}}')
    assert runner.run("bench_stale", [], False, console)[2] == "no result file results/bench_stale.json written"
    assert committed.exists()
    (tmp_path / "bench_hung.py").write_text("import time\ntime.sleep(60)\n")
    runner.SMOKE_TIMEOUT = 1
    code, seconds, problem = runner.run("bench_hung", [], True, console)
    assert (code, problem) == (124, "still running after 1 s: stopped") and seconds < 30


def test_unknown_benchmark_names_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--only", "bench_nothing"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown benchmark(s): bench_nothing" in done.stderr
