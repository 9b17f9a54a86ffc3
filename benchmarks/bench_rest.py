"""Benchmark: pulling 1 million enterprise records from the national-API simulator.

The reference is the simulator's own serving rate, measured in the same run by the plainest
client there is (`paging_reference.plain_paging_loop`: one keep-alive session, orjson, next
cursor, nothing else). Against it:

1. the REST connector's stream alone (pages → flattened Arrow batches, drift checks included);
2. `Pipeline.extract`: the connector's pages typed into the run's staging file,
   i.e. the "pull" step of a run;
3. the whole run (extract, Great Expectations validation, atomic publish), for context.

Each is run `--repeat` times, alternating with the reference; medians are compared.
Usage: python benchmarks/bench_rest.py [--records 1000000] [--page-size 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from paging_reference import plain_paging_loop  # beside this script
from results import save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent

console = Console(width=120)
PATH = "/dkkd/v1/enterprises"


def hub_home(base: Path, simulator: Any, page_size: int) -> Any:
    """A hub home whose contracts folder has the enterprises contract, paged as the reference pages."""
    import yaml
    from lgsp_sandbox.build import add_connections

    from lgsp.core.settings import Settings
    from lgsp.demo import national_connections

    home = base / "home"
    shutil.rmtree(home, ignore_errors=True)
    contracts = base / "contracts"
    contracts.mkdir(parents=True, exist_ok=True)
    contract = yaml.safe_load((REPO / "schemas" / "datasets" / "enterprises.yaml").read_text(encoding="utf-8"))
    contract["source"].update(paging={"style": "cursor", "page_size": page_size}, rate_limit=None)
    (contracts / "enterprises.yaml").write_text(yaml.safe_dump(contract, allow_unicode=True), encoding="utf-8")
    os.environ["LGSP_HOME"], os.environ["LGSP_CONTRACTS"] = str(home), str(contracts)
    settings = Settings.from_env()
    add_connections(settings.sandbox_dir, national_connections(simulator))
    return settings


def stream_only(settings: Any) -> tuple[int, float]:
    from lgsp.connectors import registry
    from lgsp.schemas.loader import find_contract

    contract = find_contract(settings.contracts_dir, "enterprises")
    connector = registry.get("rest")
    started = time.perf_counter()
    rows = sum(batch.num_rows for batch in connector.extract(connector.configure(contract, settings), None, {}))
    return rows, time.perf_counter() - started


def extract_step(settings: Any, run: int) -> tuple[int, float]:
    from lgsp.pipeline import Pipeline

    pipeline = Pipeline(settings)
    started = time.perf_counter()
    manifest = pipeline.extract("enterprises", f"bench__{run}")
    seconds = time.perf_counter() - started
    pipeline.staging("enterprises", f"bench__{run}").remove_files()
    return manifest.rows_extracted, seconds


def whole_run(settings: Any) -> tuple[int, float]:
    from lgsp.pipeline import Pipeline

    started = time.perf_counter()
    run = Pipeline(settings).run("enterprises", release=False)
    if run.status != "published":
        raise SystemExit(f"the run did not publish: {run.error}")
    return run.rows_extracted, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    from lgsp_sandbox.national_api.server import Simulator

    base = Path(tempfile.mkdtemp(prefix="lgsp-bench-rest-"))
    timings: dict[str, list[float]] = {"reference": [], "stream": [], "extract": [], "run": []}
    counts: dict[str, int] = {}
    try:
        with Simulator(enterprises=opts.records, seed=2026) as simulator:
            settings = hub_home(base, simulator, opts.page_size)
            console.print(f"Simulator at {simulator.base_url} with {opts.records:,} enterprises")
            for i in range(opts.repeat):
                for name, measure in (
                    (
                        "reference",
                        lambda: plain_paging_loop(simulator.base_url, simulator.token(), PATH, opts.page_size),
                    ),
                    ("stream", lambda: stream_only(settings)),
                    ("extract", lambda i=i: extract_step(settings, i)),
                ):
                    rows, seconds = measure()
                    counts[name] = rows
                    timings[name].append(seconds)
                    console.print(
                        f"  {name:<9} run {i + 1}: {rows:,} records in {seconds:.2f} s ({rows / seconds:,.0f}/s)"
                    )
            rows, seconds = whole_run(settings)
            counts["run"] = rows
            timings["run"].append(seconds)
            console.print(f"  run       (extract + validate + publish): {rows:,} records in {seconds:.2f} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    for name, rows in counts.items():
        if rows != opts.records:
            raise SystemExit(f"{name} read {rows:,} records, expected {opts.records:,}")
    reference = statistics.median(timings["reference"])
    table = Table(title=f"Pulling {opts.records:,} enterprises, page size {opts.page_size} (median of {opts.repeat})")
    for column in ("measure", "seconds", "records/s", "share of the reference rate"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    labels = {
        "reference": "plain paging loop (the simulator's serving rate)",
        "stream": "REST connector, stream to Arrow",
        "extract": "lgsp extract (stream spooled into staging)",
        "run": "lgsp run (extract + validate + publish), 1 run",
    }
    results = {}
    for name, label in labels.items():
        seconds = statistics.median(timings[name])
        share = reference / seconds
        results[name] = {
            "seconds": round(seconds, 3),
            "records_per_second": round(opts.records / seconds),
            "share": round(share, 3),
            "all_seconds": [round(t, 3) for t in timings[name]],
        }
        table.add_row(label, f"{seconds:.2f}", f"{opts.records / seconds:,.0f}", f"{share:.0%}")
    console.print(table)
    save("bench_rest", vars(opts), results)
    verdict = "meets" if results["extract"]["share"] >= 0.9 else "MISSES"
    console.print(
        f"lgsp extract runs at {results['extract']['share']:.0%} of the reference rate: {verdict} the 90 % goal (issue 18)"
    )


if __name__ == "__main__":
    main()
