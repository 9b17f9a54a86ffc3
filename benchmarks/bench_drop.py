"""A department's file drop: one CSV of Vietnamese numbers and dates through the whole run
(submission, archive, reading, validation, publish, receipt), against DuckDB reading the same
file into a table with no Vietnamese reading at all (the reference, in the same run).

Usage: python benchmarks/bench_drop.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml
from results import save
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.connectors.test_files import PRICES  # noqa: E402  (the test suite's department contract)


def make_file(rows: int) -> bytes:
    lines = ["Mã mặt hàng,Tên mặt hàng,Xã/phường,Giá (đồng),Số lượng,Ngày"]
    for i in range(rows):
        lines.append(f'G{i:07d},Gạo tẻ thường,Phường Đông Hà,"{15 + i % 90}.500","1.{i % 1000:03d}",05/03/2024')
    return ("\r\n".join(lines) + "\r\n").encode()


def hub_run(data: bytes) -> float:
    from lgsp.core.settings import Settings
    from lgsp.pipeline import Pipeline

    root = Path(tempfile.mkdtemp(prefix="bench-drop-"))
    (root / "contracts").mkdir()
    (root / "inbox").mkdir()
    (root / "contracts" / "market_prices.yaml").write_text(yaml.safe_dump(PRICES, allow_unicode=True), encoding="utf-8")
    os.environ.update(
        LGSP_HOME=str(root / "home"), LGSP_CONTRACTS=str(root / "contracts"), LGSP_CONN_PRICE_INBOX=str(root / "inbox")
    )
    (root / "inbox" / "gia.csv").write_bytes(data)
    started = time.perf_counter()
    run = Pipeline(Settings.from_env()).run("market_prices", release=False)
    seconds = time.perf_counter() - started
    assert run.status == "published" and run.rows_published == run.rows_extracted, run
    return seconds


def reference(data: bytes) -> float:
    root = Path(tempfile.mkdtemp(prefix="bench-drop-ref-"))
    (root / "gia.csv").write_bytes(data)
    started = time.perf_counter()
    con = duckdb.connect(str(root / "ref.duckdb"))
    con.execute(f"CREATE TABLE prices AS SELECT * FROM read_csv('{root / 'gia.csv'}', all_varchar = true)")
    con.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = make_file(args.rows)
    hub, ref = [], []
    for i in range(args.repeat):
        ref.append(reference(data))
        hub.append(hub_run(data))
        print(f"round {i + 1}: DuckDB read_csv {ref[-1]:.2f} s, lgsp {hub[-1]:.2f} s", file=sys.stderr)
    table = Table(title=f"A {args.rows:,}-row file drop, median of {args.repeat}")
    for column in ("run", "seconds", "rows/s", "× reference"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name, times in (("DuckDB read_csv (reference)", ref), ("lgsp (submission → receipt)", hub)):
        median = statistics.median(times)
        table.add_row(name, f"{median:.2f}", f"{args.rows / median:,.0f}", f"{median / statistics.median(ref):.1f}")
    Console(width=120).print(table)
    save("bench_drop", vars(args), {"reference_seconds": ref, "lgsp_seconds": hub,
                                    "ratio": statistics.median(hub) / statistics.median(ref)})  # fmt: skip


if __name__ == "__main__":
    main()
