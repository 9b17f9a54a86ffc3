"""Benchmark: catalogue search over 5,000 open datasets, through the HTTP API, under load.

A hub home is generated with 5,000 dataset contracts (varied from the province's open contracts:
places, years, publishers, themes, licences) and a release manifest each (no data files: search
reads metadata only). Then, one after the other, in their own processes on loopback:
1. `lgsp serve`: package_search on the ranked index (lgsp.portal.search);
2. the reference: package_search as it was before issue 16 (benchmarks/search_reference.py:
   every package dict built per request, then a substring match).
A second process (loadgen.py) sends the same mix of queries: first 8 clients back to back (the
server's capacity), then, if it can keep up at all, a fixed rate; p50/p95/p99, errors.
Usage: python benchmarks/bench_search.py [--datasets 5000] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from lgsp_sandbox.servers import free_port
from results import run_tool, save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = ("schools", "schools_by_commune", "price_observations", "price_index_monthly", "env_readings",
             "env_readings_monthly", "ict_indicators", "online_public_services", "admin_units")  # fmt: skip
PLACES = ["Đông Hà", "Quảng Trị", "Vĩnh Linh", "Gio Linh", "Cam Lộ", "Triệu Phong", "Hải Lăng", "Hướng Hóa",
          "Đakrông", "Cồn Cỏ", "Lao Bảo", "Khe Sanh", "Cửa Việt", "Đồng Hới", "Ba Đồn", "Lệ Thủy"]  # fmt: skip
TOPICS = [("thống kê", "statistics"), ("báo cáo", "report"), ("danh mục", "register"), ("chỉ số", "index"),
          ("kết quả", "results"), ("tổng hợp", "summary")]  # fmt: skip
LICENCES = [
    {"id": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    {"id": "CC0-1.0", "title": "Creative Commons Zero 1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"},
    {"id": "ODC-BY-1.0", "title": "Open Data Commons Attribution 1.0", "url": "https://opendatacommons.org/licenses/by/1-0/"},
]  # fmt: skip
QUERIES = [
    "/api/3/action/package_search?q=gi%C3%A1&facet.field=[%22organization%22,%22groups%22,%22res_format%22]",
    "/api/3/action/package_search?q=giao%20duc&rows=10",
    "/api/3/action/package_search?q=chat%20luong%20nuoc&rows=20",
    "/api/3/action/package_search?q=moi%20truong&fq=res_format:CSV&sort=metadata_modified%20desc",
    "/api/3/action/package_search?fq=groups:envi&sort=name%20asc&rows=20&start=40",
    "/api/3/action/package_search?facet.field=[%22organization%22,%22license_id%22,%22update_frequency%22]",
]
console = Console(width=120)


def generate(home: Path, contracts: Path, count: int) -> None:
    """`count` open contracts and a v1 release manifest each."""
    from lgsp.publishing.versions import Distribution, Release, public_columns
    from lgsp.schemas.loader import load_contract

    rng = random.Random(16)
    templates = [
        yaml.safe_load((REPO / "schemas" / "datasets" / f"{t}.yaml").read_text(encoding="utf-8")) for t in TEMPLATES
    ]
    publishers = [t["publisher"] for t in templates]
    contracts.mkdir(parents=True)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for i in range(count):
        doc = json.loads(json.dumps(templates[i % len(templates)]))
        place, (topic_vi, topic_en), year = rng.choice(PLACES), rng.choice(TOPICS), rng.randint(2015, 2026)
        doc["id"] = dataset_id = f"{doc['id']}_{i:05d}"
        doc["title"] = {
            "vi": f"{doc['title']['vi']} {topic_vi} {place} {year}",
            "en": f"{doc['title']['en']} {topic_en} {year}",
        }
        doc["classification"] = "open"
        doc["publisher"] = rng.choice(publishers) if rng.random() < 0.3 else doc["publisher"]
        doc["licence"] = rng.choice(LICENCES)
        path = contracts / f"{dataset_id}.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        contract = load_contract(path)
        files = [("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet"), ("json", "application/json")]
        release = Release(
            dataset=dataset_id, version=1, run_id=f"bench-{i}", created_at=now - dt.timedelta(minutes=i),
            rows=rng.randint(10, 100_000), columns=[c.name for c in public_columns(contract)],
            distributions=[Distribution(format=f, media_type=m, file=f"{dataset_id}.{f}", bytes=rng.randint(1000, 10**8),
                                        sha256=hashlib.sha256(f"{dataset_id}{f}".encode()).hexdigest()) for f, m in files],
        )  # fmt: skip
        folder = home / "releases" / dataset_id
        (folder / "v1").mkdir(parents=True)
        (folder / "v1" / "release.json").write_text(release.model_dump_json(), encoding="utf-8")
        (folder / "latest.json").write_text(release.model_dump_json(), encoding="utf-8")


def load(command: list[str], env: dict[str, str], rate: float, seconds: float) -> tuple[dict, float]:
    """Start a server, wait until its first search answers (the catalogue loaded), then load it."""
    import httpx

    port = free_port()
    server = subprocess.Popen([*command, "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        started, deadline = time.monotonic(), time.monotonic() + 600
        while True:
            try:
                answer = httpx.get(f"{base}{QUERIES[0]}", timeout=600)
                if answer.status_code != 200:
                    raise SystemExit(f"{command}: {answer.status_code} {answer.text[:200]}")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"{command} did not start") from None
                time.sleep(0.2)
        first = time.monotonic() - started

        def loadgen(*options: str) -> dict:
            return dict(json.loads(run_tool([sys.executable, str(REPO / "benchmarks" / "loadgen.py"), base, *options,
                                             *QUERIES])))  # fmt: skip

        # Its capacity first (8 clients back to back): a server that cannot answer `rate` requests a
        # second is not flooded (its queue would only measure the client's timeouts).
        alone = loadgen("--concurrency", "8", "--seconds", "5")
        if alone["throughput_rps"] < rate:
            return {"alone": alone, "loaded": None}, first
        return {"alone": alone, "loaded": loadgen("--rate", str(rate), "--seconds", str(seconds))}, first
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-search-"))
    try:
        home, contracts = work / "home", work / "contracts"
        with console.status(f"Generating {opts.datasets:,} open datasets…"):
            generate(home, contracts, opts.datasets)
        env = dict(os.environ, LGSP_HOME=str(home), LGSP_CONTRACTS=str(contracts))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
        results = {}
        for name, command in (
            ("ranked index (lgsp serve)", [sys.executable, "-m", "lgsp.cli", "serve"]),
            ("reference: substring search", [sys.executable, str(REPO / "benchmarks" / "search_reference.py")]),
        ):
            with console.status(f"{name}: {opts.rate:.0f} requests/s for {opts.seconds:.0f} s…"):
                results[name] = load(command, env, opts.rate, opts.seconds)
        save("bench_search", vars(opts), {n: {**r, "first_answer_s": f} for n, (r, f) in results.items()})
        table = Table(title=f"package_search over {opts.datasets:,} datasets at {opts.rate:.0f} requests/s "
                            f"({opts.seconds:.0f} s, {len(QUERIES)} queries mixed)")  # fmt: skip
        for column in ("search", "first answer s", "max rps (8 clients)", "requests", "achieved rps", "errors",
                       "p50 ms", "p95 ms", "p99 ms", "max ms"):  # fmt: skip
            table.add_column(column)
        for name, (r, first) in results.items():
            alone = r["alone"]
            solo = f"{alone['throughput_rps']:.0f}"
            if (x := r["loaded"]) is None:
                table.add_row(name, f"{first:.1f}", solo, f"cannot sustain {opts.rate:.0f}/s", *[""] * 6)
                continue
            table.add_row(name, f"{first:.1f}", solo, str(x["requests"]), f"{x['achieved_rps']:.0f}", str(x["errors"]),
                          f"{x['p50_ms']:.1f}", f"{x['p95_ms']:.1f}", f"{x['p99_ms']:.1f}", f"{x['max_ms']:.1f}")  # fmt: skip
        console.print(table)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
