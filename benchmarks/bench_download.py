"""Benchmark: a compressed 10-million-row CSV download through `lgsp serve`, against curl reading
the same `.csv.gz` from disk in the same run.

A warehouse with 10 M environmental readings is released by the real release code (CSV and its
deterministic `.csv.gz`; the release is timed too), `lgsp serve` runs in its own process (uvicorn
on loopback), and in rounds that alternate them: `curl file://…/env_readings.csv.gz` (the
reference: the same bytes from the page cache) and `curl -H 'Accept-Encoding: gzip'
http://…/releases/env_readings/latest/env_readings.csv` (the real route: the precompressed file,
its ETag, the download counted). A third reader shows the ceiling of HTTP itself on this machine:
the same curl against a bare server (a socket, the response head and one `sendfile`, no framework).
A fourth is `lgsp serve --uds`, the same route on a Unix socket, as a reverse proxy on the same
host reaches it (`curl --unix-socket`). Each round sums several transfers of each; curl's own timer.
Usage: python benchmarks/bench_download.py [--rows 10000000] [--rounds 5] [--transfers 5]
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

from lgsp_sandbox.servers import free_port
from results import run_tool, save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
console = Console(width=120)


def release(home: Path, rows: int) -> tuple[Path, float]:
    """The 10 M-row release (CSV and .csv.gz), made by make_release; its .gz and the seconds it took."""
    from bench_publish import build_warehouse

    from lgsp.core import duck
    from lgsp.publishing.releases import make_release
    from lgsp.schemas.loader import find_contract

    build_warehouse(home, rows)
    con = duck.connect(home / "warehouse.duckdb")
    try:
        started = time.perf_counter()
        made = make_release(con, home, find_contract(REPO / "schemas" / "datasets", "env_readings"), "bench", ("csv",))
        seconds = time.perf_counter() - started
    finally:
        con.close()
    return home / "releases" / "env_readings" / f"v{made.version}" / "env_readings.csv.gz", seconds


def curl(url: str, *headers: str) -> tuple[float, int, str]:
    """curl's own transfer time, the bytes it received and the Content-Encoding it was sent; a
    `unix:<socket>|<url>` goes over that Unix socket."""
    via: list[str] = []
    if url.startswith("unix:"):
        socket_path, url = url.removeprefix("unix:").split("|", 1)
        via = ["--unix-socket", socket_path]
    args = [
        "curl",
        "-s",
        *via,
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download} %header{content-encoding}",
        url,
    ]
    for header in headers:
        args += ["-H", header]
    out = run_tool(args).split(" ", 2)
    return float(out[0]), int(out[1]), out[2].strip() if len(out) > 2 else ""


def start_server(home: Path, uds: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`lgsp serve` on a loopback port, or on the Unix socket `uds` (its base is then `unix:<path>|http://hub`)."""
    port = free_port()
    env = dict(os.environ, LGSP_HOME=str(home), LGSP_CONTRACTS=str(REPO / "schemas" / "datasets"))
    where = ["--uds", str(uds)] if uds else ["--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "lgsp.cli", "serve", *where], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"unix:{uds}|http://hub" if uds else f"http://127.0.0.1:{port}"
    via = ["--unix-socket", str(uds)] if uds else []
    status = f"{base.split('|')[-1]}/api/3/action/status_show"
    deadline = time.monotonic() + 30
    while subprocess.run(["curl", "-sf", *via, "-o", "/dev/null", status]).returncode:
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("server did not start")
        time.sleep(0.2)
    return server, base


BARE_SERVER = """
import os, socket, sys
path, port = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
server = socket.create_server(("127.0.0.1", port))
while True:
    client, _ = server.accept()
    client.recv(65536)
    client.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % size)
    with open(path, "rb") as f:
        client.sendfile(f)
    client.close()
"""


def start_bare(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The HTTP ceiling: one sendfile per request, no parsing, no framework."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(path), str(port)])
    deadline = time.monotonic() + 10
    while subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/"]).returncode:
        if time.monotonic() > deadline:
            raise SystemExit("bare server did not start")
        time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--transfers", type=int, default=5, help="transfers of each kind per round")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-download-"))
    server = bare = unix_server = None
    try:
        with console.status(f"Releasing {opts.rows:,} readings (CSV + .csv.gz)…"):
            gz, release_seconds = release(work, opts.rows)
        size, plain = gz.stat().st_size, gz.with_suffix("").stat().st_size
        console.print(
            f"Release: {plain / 1e6:,.0f} MB CSV → {size / 1e6:,.1f} MB gzip ({plain / size:.1f}×) in {release_seconds:.1f} s"
        )
        server, base = start_server(work)
        unix_server, unix_base = start_server(work, work / "lgsp.sock")
        bare, ceiling = start_bare(gz)
        http = f"{base}/releases/env_readings/latest/env_readings.csv"
        unix = f"{unix_base}/releases/env_readings/latest/env_readings.csv"
        local = gz.resolve().as_uri()
        for url, headers in ((local, ()), (http, ("Accept-Encoding: gzip",)), (unix, ("Accept-Encoding: gzip",))):
            _, got, encoding = curl(url, *headers)
            assert got == size, f"{url}: {got} bytes, expected {size}"
            assert url == local or encoding == "gzip", f"not gzip-encoded: {encoding!r}"
        readers = (
            ("disk", local, ()),
            ("bare", ceiling, ()),
            ("http", http, ("Accept-Encoding: gzip",)),
            ("unix", unix, ("Accept-Encoding: gzip",)),
        )
        rounds: dict[str, list[float]] = {name: [] for name, _, _ in readers}
        for _ in range(opts.rounds):
            for name, url, headers in readers:
                rounds[name].append(sum(curl(url, *headers)[0] for _ in range(opts.transfers)))
        median = {k: sorted(v)[len(v) // 2] for k, v in rounds.items()}
        table = Table(
            title=f"{size / 1e6:,.1f} MB .csv.gz ({opts.rows:,} rows) × {opts.transfers} per round, median of {opts.rounds} rounds"
        )
        for column in ("read by", "seconds (median)", "rounds", "MB/s", "× curl file://"):
            table.add_column(column)
        for name, label in (
            ("disk", "curl file:// (the same file from disk)"),
            ("bare", "curl over HTTP: bare sendfile server (ceiling)"),
            ("http", "curl over HTTP: lgsp serve, gzip on request"),
            ("unix", "curl over HTTP on lgsp serve --uds (a reverse proxy's way in)"),
        ):
            rate = size * opts.transfers / median[name] / 1e6
            table.add_row(label, f"{median[name]:.3f}", ", ".join(f"{x:.3f}" for x in rounds[name]), f"{rate:,.0f}",
                          f"{median['disk'] / median[name]:.2f}")  # fmt: skip
        console.print(table)
        console.print(
            f"lgsp serve at {median['disk'] / median['http']:.0%} of curl file:// (goal ≥ 80 %), "
            f"{median['bare'] / median['http']:.0%} of the bare sendfile server; "
            f"on its Unix socket at {median['disk'] / median['unix']:.0%} of curl file://"
        )
        save(
            "bench_download",
            vars(opts),
            {"bytes": size, "csv_bytes": plain, "release_seconds": release_seconds, "rounds": rounds, "median": median,
             "share_of_reference": median["disk"] / median["http"], "share_of_bare": median["bare"] / median["http"],
             "unix_share_of_reference": median["disk"] / median["unix"]},
        )  # fmt: skip
    finally:
        for process in (server, unix_server, bare):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
