"""Benchmark: the agency-sharing API under load.

A warehouse with N driving licences (typed as the contract says, 78 communes) and one agency
granted one commune's rows and seven of the ten columns. `lgsp serve` runs in its own process;
a second process (benchmarks/loadgen.py) sends:
1. authorised reads of 100 rows (keyset pages at random places in the commune) at a fixed
   200 requests per second for 10 s: p50/p95/p99 and errors, latency from each request's
   scheduled start;
2. the same reads back-to-back from 8 clients (maximum throughput), against a server that logs
   every request and one started with LGSP_EXCHANGE_LOG=off, alternating, in the same run (a
   fresh server each round); the server's CPU time per request is reported too, which other
   work on the machine disturbs less than throughput.
Usage: python benchmarks/bench_sharing.py [--rows 1000000] [--rate 200] [--seconds 10]
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
import time
from pathlib import Path

from lgsp_sandbox.servers import free_port
from results import run_tool, save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent

console = Console(width=120)
ROWS_PATH = "/api/share/v1/datasets/driving_licences/rows?limit=100"


def build(home: Path, rows: int) -> str:
    """The warehouse, and the agency granted one commune; returns its API key."""
    from lgsp.core.settings import Settings
    from lgsp.demo.sharing import GRANTED_COLUMNS
    from lgsp.sharing import consumers
    from lgsp.sharing.grants import add_grant
    from lgsp.warehouse.store import Warehouse

    os.environ["LGSP_HOME"] = str(home)
    settings = Settings.from_env()
    with Warehouse(settings).writer() as con:
        con.execute(f"""
            CREATE OR REPLACE TABLE main.driving_licences AS
            SELECT lpad(CAST(440000000000 + range * 7919 % 99999999999 AS VARCHAR), 12, '0') AS licence_no,
                   lpad(CAST(45000000000 + range * 104729 % 999999999 AS VARCHAR), 12, '0') AS citizen_id,
                   'Nguyễn Văn ' || CAST(range AS VARCHAR) AS full_name,
                   DATE '1960-01-01' + CAST(range % 15000 AS INTEGER) AS birth_date,
                   ['A1', 'A', 'B', 'C1', 'C', 'D'][1 + range % 6] AS licence_class,
                   DATE '2015-01-01' + CAST(range % 3650 AS INTEGER) AS issued_on,
                   DATE '2035-01-01' + CAST(range % 3650 AS INTEGER) AS expires_on,
                   CAST(19000 + range % 78 AS VARCHAR) AS commune_code,
                   'Phường ' || CAST(19000 + range % 78 AS VARCHAR) AS commune_name,
                   TIMESTAMP '2025-01-01' + INTERVAL (range) SECOND AS updated_at
            FROM range({rows})""")
        con.execute("INSERT INTO meta.runs (run_id, dataset_id, started_at, ended_at, status, rows_published) "
                    "VALUES ('bench', 'driving_licences', now(), now(), 'published', ?)", [rows])  # fmt: skip
        commune = "19007"
    consumers.add_consumer(
        settings, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "bench@example.gov.vn", "provincial"
    )
    add_grant(settings, "TTPVHCC", "driving_licences", purpose="benchmark", granted_by="bench",
              columns=GRANTED_COLUMNS, row_filter={"commune_code": [commune]})  # fmt: skip
    key = consumers.issue_key(settings, "TTPVHCC")
    return key


def cursors(base: str, key: str, pages: int = 300) -> list[str]:
    """The pages a client walks: each path carries a `next` cursor the server gave out."""
    import httpx

    paths = [ROWS_PATH]
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        while len(paths) < pages:
            following = client.get(paths[-1]).json()["next"]
            if following is None:
                break
            paths.append(f"{ROWS_PATH}&after={following}")
    return paths


def serve(home: Path, log: bool) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = dict(os.environ, LGSP_HOME=str(home), LGSP_EXCHANGE_LOG="on" if log else "off")
    server = subprocess.Popen(
        [sys.executable, "-m", "lgsp.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/api/share/v1/datasets", timeout=5)
            return server, base
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise SystemExit("server did not start") from None
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc): steadier than wall-clock
    throughput on a machine whose cores other work also uses."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(base: str, key: str, paths_file: Path, *extra: str) -> dict:
    return json.loads(run_tool(
        [sys.executable, str(REPO / "benchmarks" / "loadgen.py"), base, "--header", f"X-API-Key: {key}",
         "--paths-file", str(paths_file), *extra],
    ))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--throughput-seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=5, help="alternating on/off throughput rounds")
    parser.add_argument("--clients", type=int, default=8)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-sharing-"))
    servers = []
    try:
        with console.status(f"Building a warehouse with {opts.rows:,} driving licences…"):
            key = build(work / "home", opts.rows)
        logged_server, logged = serve(work / "home", log=True)
        servers.append(logged_server)
        paths_file = work / "paths.txt"
        paths_file.write_text("\n".join(cursors(logged, key)))
        with console.status(f"{opts.rate:.0f} authorised reads of 100 rows per second for {opts.seconds:.0f} s…"):
            fixed = load(logged, key, paths_file, "--rate", str(opts.rate), "--seconds", str(opts.seconds))
        logged_server.terminate()
        logged_server.wait(timeout=10)
        servers.remove(logged_server)
        rounds: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        errors = {"on": 0, "off": 0}
        # Each round starts a fresh server, so both settings start alike; the order alternates.
        for i in range(opts.rounds):
            for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
                with console.status(f"Throughput, logging {name}, round {i + 1}/{opts.rounds}…"):
                    server, base = serve(work / "home", log=name == "on")
                    servers.append(server)
                    load(base, key, paths_file, "--concurrency", str(opts.clients), "--seconds", "2")  # warm up
                    before = cpu_seconds(server.pid)
                    got = load(base, key, paths_file, "--concurrency", str(opts.clients), "--seconds",
                               str(opts.throughput_seconds))  # fmt: skip
                    used = cpu_seconds(server.pid) - before
                    server.terminate()
                    server.wait(timeout=10)
                    servers.remove(server)
                rounds[name].append(got["throughput_rps"])
                cpu[name].append(used / max(got["requests"], 1) * 1000)
                errors[name] += got["errors"]
        table = Table(title=f"Sharing API: {opts.rate:.0f} authorised reads of 100 rows/s for {opts.seconds:.0f} s "
                            f"({opts.rows:,} licences; load from a second process)")  # fmt: skip
        for column in ("requests", "achieved rps", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"):
            table.add_column(column, justify="right")
        table.add_row(str(fixed["requests"]), f"{fixed['achieved_rps']:.0f}", str(fixed["errors"]),
                      f"{fixed['p50_ms']:.1f}", f"{fixed['p95_ms']:.1f}", f"{fixed['p99_ms']:.1f}",
                      f"{fixed['max_ms']:.1f}")  # fmt: skip
        console.print(table)
        on, off = statistics.median(rounds["on"]), statistics.median(rounds["off"])
        table = Table(title=f"Maximum throughput, {opts.clients} clients back-to-back, median of {opts.rounds} "
                            f"alternating rounds of {opts.throughput_seconds:.0f} s")  # fmt: skip
        for column in ("exchange log", "requests/s (median)", "rounds", "server CPU ms/request (median)", "errors"):
            table.add_column(column)
        cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
        for name, label, rps, per in (
            ("on", "on (every request hash-chained)", on, cpu_on),
            ("off", "off (LGSP_EXCHANGE_LOG=off, reference)", off, cpu_off),
        ):
            table.add_row(
                label,
                f"{rps:.0f}",
                ", ".join(f"{x:.0f}" for x in rounds[name]),
                f"{per:.2f} ({', '.join(f'{x:.2f}' for x in cpu[name])})",
                str(errors[name]),
            )
        console.print(table)
        console.print(
            f"Logging costs {(1 - on / off) * 100:.1f} % of throughput (on/off = {on / off:.3f}); "
            f"server CPU per request {cpu_on / cpu_off:.3f}× the reference ({(1 - cpu_off / cpu_on) * 100:.1f} % of "
            "the throughput a CPU-bound server has)."
        )
        save(
            "bench_sharing",
            vars(opts),
            {
                "cpu_ms_per_request": cpu,
                "rows": opts.rows,
                "fixed_rate": fixed,
                "throughput": rounds,
                "errors": errors,
                "log_cost": 1 - on / off,
            },
        )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
