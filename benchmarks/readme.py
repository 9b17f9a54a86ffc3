"""The README's performance tables, rendered from the committed result files, so the figures shown
are the last ones measured, each beside its reference, its rounds and the machine it ran on.

A full-size run (`make bench`) writes `benchmarks/results/<name>.json` (committed); this script
replaces each block between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->` in README.md with
the tables rendered from that file (a section still written by hand has no such block until its
benchmark is measured again). `--check` changes nothing and fails when the README's blocks differ
from what the files give (tests/test_docs.py runs it): a hand-edited figure, or a result file
committed without its README, is caught.

Usage: python benchmarks/readme.py [--check] [--readme README.md] [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
RESULTS = HERE / "results"
BLOCK = re.compile(r"(<!-- bench:(?P<name>\w+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)

Document = dict[str, Any]


def _n(value: float, digits: int = 0) -> str:
    """A number with thousands separators, as the README writes them (1,501,102; 0.42)."""
    return f"{value:,.{digits}f}"


def _s(seconds: float) -> str:
    """Seconds with the precision their size deserves: 12.4, 0.75, 0.042."""
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 0.1:
        return f"{seconds:.2f}"
    return f"{seconds:.3f}"


def _pct(share: float, digits: int = 0) -> str:
    """A share as the README writes it: 83 %, 0.9 %."""
    return f"{share * 100:.{digits}f} %"


def _rounds(values: list[float]) -> str:
    return ", ".join(_s(v) for v in values)


def _verdict(met: bool, goal: str, got: str) -> str:
    return f"Goal: {goal}. **{'Met' if met else 'Not met'}: {got}.**"


def _table(header: list[str], align: str, rows: list[list[str]]) -> list[str]:
    """A Markdown table; `align` has one letter per column, l or r."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def provenance(doc: Document) -> str:
    """Where and when the figures were measured: the line under every table."""
    machine = doc["machine"]
    when = dt.datetime.fromisoformat(doc["measured_at"]).date().isoformat()
    start, end = machine["load_average_at_start"][0], machine["load_average_at_end"][0]
    return (
        f"_Measured {when} on commit `{doc['commit']}` (`{doc['command']}`): {machine['cpus']} cores "
        f"({machine['cpu']}), {machine['memory_gib']} GiB, Python {machine['python']}, DuckDB {machine['duckdb']}; "
        f"load average {start} at the start, {end} at the end._"
    )


def bench_load(doc: Document) -> list[str]:
    results = doc["results"]
    bare = results[0]["seconds"]
    rows = []
    for r in results:
        lgsp = r["name"].startswith("lgsp")
        name = f"**{r['name']}**" if lgsp else r["name"]
        ratio = f"**{r['seconds'] / bare:.2f}**" if lgsp else f"{r['seconds'] / bare:.2f}"
        rows.append([name, _s(r["seconds"]), _rounds(r["all_seconds"]), _n(r["rows"] / r["seconds"]), ratio,
                     f"{_n(r['peak_mib'])} MiB"])  # fmt: skip
    hub = next(r for r in results if r["name"].startswith("lgsp ("))
    ratio = hub["seconds"] / bare
    lines = _table(
        [f"run ({_n(doc['params']['rows'])} rows, {_pct(doc['params']['dirty_share'])} dirty)",
         f"seconds (median of {len(hub['all_seconds'])})", "rounds", "rows/s", "× bare copy", "peak memory"],
        "lrlrrr", rows,
    )  # fmt: skip
    lines += ["", _verdict(ratio <= 1.5, "the validated load within 1.5× the bare copy", f"{ratio:.2f}×")]
    path = next((r for r in results if "open-data path" in r["name"]), None)
    if path:
        whole = path["seconds"] / bare
        lines += [
            "",
            f"In the whole path's median round, the load took {_s(path['load_seconds'])} s and the release and catalogue "
            f"{_s(path['release_seconds'])} s; the release's files: "
            + ", ".join(f"{fmt} {_n(size / 1e6)} MB" for fmt, size in sorted(path["bytes"].items()))
            + ".",
            "",
            _verdict(
                whole <= 3 and path["peak_mib"] < 1536,
                "the whole open-data path within 3× the bare copy and under 1.5 GiB",
                f"{whole:.2f}×, {_n(path['peak_mib'])} MiB",
            ),
        ]
    return lines


def bench_drop(doc: Document) -> list[str]:
    res, rows_in = doc["results"], doc["params"]["rows"]
    ref = statistics.median(res["reference_seconds"])
    rows = []
    for label, times in (("DuckDB `read_csv` into a table (reference)", res["reference_seconds"]),
                         ("**lgsp**: submission → receipt", res["lgsp_seconds"])):  # fmt: skip
        median = statistics.median(times)
        rows.append([label, _s(median), _rounds(times), _n(rows_in / median), f"{median / ref:.1f}"])
    return _table(
        [f"run ({_n(rows_in)} rows)", f"seconds (median of {len(res['lgsp_seconds'])})", "rounds", "rows/s",
         "× reference"], "lrlrr", rows,
    )  # fmt: skip


def bench_derived(doc: Document) -> list[str]:
    res = doc["results"]
    full, inc = statistics.median(res["full_seconds"]), statistics.median(res["incremental_seconds"])
    full_x, inc_x = (
        statistics.median(res["full_extract_seconds"]),
        statistics.median(res["incremental_extract_seconds"]),
    )
    groups = statistics.median(res["groups"])
    rows = [
        ["full (`lgsp run --full`)", _s(full), _rounds(res["full_seconds"]), "1.00", _s(full_x),
         _rounds(res["full_extract_seconds"]), "1.00"],
        [f"**incremental** ({_n(groups)} of {_n(res['rows_out'])} groups)", f"**{_s(inc)}**",
         _rounds(res["incremental_seconds"]), f"**{inc / full:.2f}**", f"**{_s(inc_x)}**",
         _rounds(res["incremental_extract_seconds"]), f"**{inc_x / full_x:.2f}**"],
    ]  # fmt: skip
    lines = _table(
        [f"recompute of `env_readings_monthly` ({_n(doc['params']['rows'])} readings)",
         f"run s (median of {len(res['full_seconds'])})", "rounds", "× full", "extract step, the recompute proper (s)",
         "rounds", "× full"], "lrlrrlr", rows,
    )  # fmt: skip
    return [
        *lines,
        "",
        _verdict(inc / full <= 0.10, "an incremental run within 10 % of a full one", f"{inc / full:.2f}×"),
    ]


def bench_rest(doc: Document) -> list[str]:
    res, records = doc["results"], doc["params"]["records"]
    labels = {
        "reference": "plain paging loop (the reference)",
        "stream": "REST connector, records to Arrow",
        "extract": "**`lgsp` extract**: pages staged in the warehouse, typed",
        "run": "whole run: extract, validation, atomic publish",
    }
    rows = []
    for key, label in labels.items():
        r = res[key]
        rounds = r.get("all_seconds", [r["seconds"]])
        share = f"**{_pct(r['share'])}**" if key == "extract" else _pct(r["share"])
        rows.append([label, _s(r["seconds"]), _rounds(rounds), _n(r["records_per_second"]), share])
    lines = _table(
        [f"{_n(records)} enterprise records, page size {doc['params']['page_size']}", "seconds (median)", "rounds",
         "records/s", "share of the reference rate"], "lrlrr", rows,
    )  # fmt: skip
    share = res["extract"]["share"]
    return [*lines, "", _verdict(share >= 0.9, "the extract at ≥ 90 % of the plain paging rate", _pct(share))]


def _load_rows(loads: dict[str, Any], labels: dict[str, str]) -> list[list[str]]:
    return [
        [labels.get(name, name), _n(r["requests"]), str(r["errors"]), f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
         f"**{r['p99_ms']:.1f}**", f"{r['max_ms']:.1f}"]
        for name, r in loads.items()
    ]  # fmt: skip


def bench_publish(doc: Document) -> list[str]:
    res, p = doc["results"], doc["params"]
    exports = {e["name"]: e for e in res["exports"]}
    bare = exports["bare"]["seconds"]
    labels = {"bare": "bare `COPY … TO` CSV + Parquet",
              "release": "**lgsp release**: CSV (BOM), its `.csv.gz` and Parquet, key order, SHA-256 and CRC-32 of each"}  # fmt: skip
    rows = [
        [labels.get(n, n), _s(e["seconds"]), _rounds(e["all"]), f"{e['seconds'] / bare:.2f}"]
        for n, e in exports.items()
    ]
    lines = _table(
        [f"export of {_n(p['rows'])} rows", f"seconds (median of {len(exports['bare']['all'])})", "rounds",
         "× bare COPY"], "lrlr", rows,
    )  # fmt: skip
    ratio = exports["release"]["seconds"] / bare
    lines += ["", _verdict(ratio <= 1.2, "a release within 1.2× the bare `COPY`", f"{ratio:.2f}×"), ""]
    load_labels = {
        "package_search": "`package_search` (q with facets, fq, empty)",
        "datastore_search": f"`datastore_search` (100 rows at a random offset of the {_n(p['rows'])}-row dataset)",
    }
    lines += _table(
        [f"{p['rate']:.0f} requests/s for {p['seconds']:.0f} s", "requests", "errors", "p50 ms", "p95 ms", "p99 ms",
         "max ms"], "lrrrrrr", _load_rows(res["loads"], load_labels),
    )  # fmt: skip
    return lines


def bench_search(doc: Document) -> list[str]:
    res, p = doc["results"], doc["params"]
    rows = []
    for name, r in res.items():
        alone, loaded = r["alone"], r["loaded"]
        at_rate = (
            f"{loaded['p50_ms']:.1f} / {loaded['p95_ms']:.1f} / **{loaded['p99_ms']:.1f}** / {loaded['max_ms']:.1f} ms, "
            f"{_n(loaded['requests'])} requests, {loaded['errors']} errors"
            if loaded
            else f"not run: below {p['rate']:.0f}/s"
        )
        label = f"**{name}**" if "lgsp" in name else name
        capacity = f"**{_n(alone['throughput_rps'], 1 if alone['throughput_rps'] < 10 else 0)} requests/s**"
        rows.append([label, f"{r['first_answer_s']:.1f} s", f"{capacity}, {alone['errors']} errors", at_rate])
    lines = _table(
        [f"{_n(p['datasets'])} datasets, 6 queries mixed", "first answer (catalogue load + index)",
         "capacity, 8 clients back to back", f"at {p['rate']:.0f} requests/s: p50 / p95 / **p99** / max"],
        "lrrl", rows,
    )  # fmt: skip
    ranked = next(r for n, r in res.items() if "lgsp" in n)
    reference = next(r for n, r in res.items() if "lgsp" not in n)
    p99 = ranked["loaded"]["p99_ms"] if ranked["loaded"] else float("inf")
    speedup = ranked["alone"]["throughput_rps"] / max(reference["alone"]["throughput_rps"], 1e-9)
    return [
        *lines,
        "",
        _verdict(p99 < 50, f"p99 < 50 ms at {p['rate']:.0f} requests/s", f"p99 {p99:.1f} ms")
        + f" The ranked index answers {_n(speedup)}× as many requests as the substring search.",
    ]


def bench_download(doc: Document) -> list[str]:
    res, p = doc["results"], doc["params"]
    transfers, mb = p["transfers"], res["bytes"] / 1e6
    labels = {
        "disk": "`curl file://` (the same file from disk)",
        "bare": "curl over loopback TCP: bare `sendfile` server (ceiling)",
        "http": "**curl over loopback TCP: `lgsp serve`**, gzip on request",
        "unix": "**curl over a Unix socket: `lgsp serve --uds`**, gzip on request",
    }
    disk = res["median"]["disk"]
    rows = []
    for key, label in labels.items():
        median = res["median"][key]
        share = f"{disk / median:.2f}"
        rows.append([label, _s(median), _rounds(res["rounds"][key]), _n(mb * transfers / median),
                     f"**{share}**" if key in ("http", "unix") else share])  # fmt: skip
    lines = _table(
        [f"{mb:.1f} MB `.csv.gz` ({_n(p['rows'])} rows), {transfers} transfer{'s' if transfers != 1 else ''} a round",
         f"seconds (median of {len(res['rounds']['disk'])})", "rounds", "MB/s", "× curl `file://`"], "lrlrr", rows,
    )  # fmt: skip
    share = res["share_of_reference"]
    return [
        *lines,
        "",
        _verdict(share >= 0.8, "≥ 80 % of `curl file://`", f"{_pct(share)} over TCP, {_pct(res['unix_share_of_reference'])} "
                 f"on the Unix socket; {_pct(res['share_of_bare'])} of the bare `sendfile` server"),
    ]  # fmt: skip


def bench_sharing(doc: Document) -> list[str]:
    res, p = doc["results"], doc["params"]
    fixed = res["fixed_rate"]
    lines = _table(
        [f"{p['rate']:.0f} requests/s for {p['seconds']:.0f} s, exchange log on", "requests", "errors", "p50 ms",
         "p95 ms", "p99 ms", "max ms"], "lrrrrrr",
        _load_rows({"`GET /api/share/v1/datasets/driving_licences/rows?limit=100&after=…`": fixed}, {}),
    )  # fmt: skip
    rows = []
    for key, label in (("on", "on: every request hash-chained"), ("off", "off (reference)")):
        rps, cpu = res["throughput"][key], res["cpu_ms_per_request"][key]
        rows.append([label, f"**{_n(statistics.median(rps))}**" if key == "on" else _n(statistics.median(rps)),
                     ", ".join(_n(x) for x in rps), f"{statistics.median(cpu):.2f}", str(res["errors"][key])])  # fmt: skip
    on, off = statistics.median(res["cpu_ms_per_request"]["on"]), statistics.median(res["cpu_ms_per_request"]["off"])
    lines += [
        "",
        *_table(
            ["exchange log", f"requests/s (median of {len(res['throughput']['on'])}, {p['clients']} clients)", "rounds",
             "server CPU ms/request (median)", "errors"], "lrlrr", rows,
        ),
        "",
        f"Logging every request costs **{_pct(res['log_cost'], 1)}** of throughput "
        f"({_pct(1 - off / on, 1)} of server CPU per request).",
    ]  # fmt: skip
    return lines


def bench_incremental(doc: Document) -> list[str]:
    labels = {
        "soft_delete": "`soft_delete` (`deleted_at` through the cursor)",
        "key_diff": f"`key_diff` (every run reads the {_n(doc['params']['rows'] / 1e6)} M keys)",
        "tombstones": "`tombstones` (`deleted_licences`, own cursor)",
    }
    rows = []
    for r in doc["results"]:
        rounds = " / ".join(
            ", ".join(_s(run["seconds"]) for run in r[kind]) for kind in ("full_runs", "incremental_runs", "quiet_runs")
        )
        rows.append([
            labels.get(r["mode"], r["mode"]), _s(r["full_seconds"]), _s(r["incremental_seconds"]),
            f"**{_pct(r['share'])}**", _s(r["quiet_seconds"]), rounds,
            ", ".join(_pct(x) for x in r["round_shares"]),
        ])  # fmt: skip
    lines = _table(
        [f"{_n(doc['params']['rows'])} rows, 1 % changed", "full load s (reference)", "incremental s", "**share**",
         "nothing changed s", "rounds: full / incremental / nothing changed (s)", "round shares"],
        "lrrrrll", rows,
    )  # fmt: skip
    best = min(doc["results"], key=lambda r: r["share"])
    return [
        *lines,
        "",
        _verdict(all(r["share"] <= 0.05 for r in doc["results"]), "an incremental run within 5 % of the full load",
                 ", ".join(f"{r['mode']} {_pct(r['share'])}" for r in doc["results"]) + f" (best: {best['mode']})"),
    ]  # fmt: skip


def bench_growth(doc: Document) -> list[str]:
    results = doc["results"]
    sizes = sorted({r["size"] for r in results})
    per_row = {r["name"]: r["seconds"] / r["size"] for r in results if r["size"] == sizes[0]}
    rows = []
    for r in results:
        lgsp = r["name"].startswith("lgsp")
        bare = next(b for b in results if b["size"] == r["size"])["seconds"]
        linear = r["seconds"] / r["size"] / per_row[r["name"]]
        rows.append([
            _n(r["size"]), f"**{r['name']}**" if lgsp else r["name"], _s(r["seconds"]), _rounds(r["all_seconds"]),
            _n(r["size"] / r["seconds"]), f"{r['seconds'] / bare:.2f}", f"**{linear:.2f}**" if lgsp else f"{linear:.2f}",
            f"{_n(r['peak_mib'])} MiB", ", ".join(_n(m) for m in r["all_peak_mib"]),
        ])  # fmt: skip
    lines = _table(
        ["rows", "run", f"seconds (median of {len(results[0]['all_seconds'])})", "rounds", "rows/s", "× bare copy",
         f"× linear (from {_n(sizes[0] / 1e6)} M)", "peak memory", "rounds (MiB)"],
        "rlrlrrrrl", rows,
    )  # fmt: skip
    hub = [r for r in results if r["name"].startswith("lgsp")]
    worst = max(r["seconds"] / r["size"] / per_row[r["name"]] for r in hub)
    top = max(hub, key=lambda r: r["size"])
    return [
        *lines,
        "",
        _verdict(worst <= 1.1, "time within 1.1× of linear", f"at most {worst:.2f}×"),
        "",
        _verdict(top["peak_mib"] < 1536, f"peak memory under 1.5 GiB at {_n(top['size'] / 1e6)} M rows",
                 f"{_n(top['peak_mib'])} MiB"),
    ]  # fmt: skip


def bench_stall(doc: Document) -> list[str]:
    r = doc["results"][0]
    labels = {
        "alone_seconds": "env_stations run alone (reference)",
        "beside_seconds": "env_stations run beside the long run",
        "longest_wait_during_staging": "**longest wait for the writer lock while the long run scans and validates**",
        "longest_wait_during_publish": "longest wait for the writer lock while the long run publishes",
        "scan_seconds": "long run: its scan (reference: what each small run would wait had the scan held the lock)",
        "validate_seconds": "long run: its validation",
        "publish_seconds": "long run: its publish (holds the lock)",
    }
    rows = [[label, _s(r[key]), ", ".join(_s(x[key]) for x in r["rounds"])] for key, label in labels.items()]
    runs = ", ".join(str(x["small_runs_during_staging"]) for x in r["rounds"])
    lines = _table([f"a {_n(doc['params']['rows'])}-row run beside env_stations runs", "seconds (median)", "rounds"],
                   "lrl", rows)  # fmt: skip
    return [
        *lines,
        "",
        f"env_stations runs that began while the long run scanned or validated, per round: {runs}.",
        "",
        _verdict(r["longest_wait_during_staging"] <= 1, "a long scan delays another dataset's publish by at most a second",
                 f"{_s(r['longest_wait_during_staging'])} s"),
    ]  # fmt: skip


def bench_lake(doc: Document) -> list[str]:
    median, every = doc["results"]["median_seconds"], doc["results"]["all_seconds"]
    embedded, serial = median["embedded"], median["lake, one after the other"]
    labels = [
        ("embedded", "the embedded DuckDB file (reference)", embedded),
        ("lake", "**DuckLake** (catalog in PostgreSQL, files in SeaweedFS)", embedded),
        ("lake, one after the other", "DuckLake, two datasets one after the other on one one-core worker (reference)",
         serial),
        ("lake, at once", "**DuckLake, the same two at once on two one-core workers**", serial),
    ]  # fmt: skip
    rows = [[label, _s(median[key]), _rounds(every[key]), f"{median[key] / ref:.2f}"] for key, label, ref in labels]
    lines = _table([f"{_n(doc['params']['rows'])} env_readings, validated load", "seconds (median)", "rounds",
                    "× reference"], "lrlr", rows)  # fmt: skip
    lake, at_once = median["lake"] / embedded, median["lake, at once"] / serial
    return [
        *lines,
        "",
        _verdict(lake <= 1.5, "the load into DuckLake at most 1.5× the load into the file", f"{lake:.2f}×"),
        "",
        _verdict(at_once < 1, "two datasets at once from two workers take less time than one after the other",
                 f"{at_once:.2f}×"),
    ]  # fmt: skip


RENDERERS: dict[str, Callable[[Document], list[str]]] = {
    "bench_lake": bench_lake,
    "bench_growth": bench_growth,
    "bench_stall": bench_stall,
    "bench_incremental": bench_incremental,
    "bench_load": bench_load,
    "bench_drop": bench_drop,
    "bench_derived": bench_derived,
    "bench_rest": bench_rest,
    "bench_publish": bench_publish,
    "bench_search": bench_search,
    "bench_download": bench_download,
    "bench_sharing": bench_sharing,
}


def render(name: str, results: Path) -> str:
    """The Markdown block of benchmark `name`, from its committed result file."""
    path = results / f"{name}.json"
    if name not in RENDERERS:
        raise SystemExit(f"README.md: no renderer for the block bench:{name}")
    if not path.exists():
        return f"_Not measured yet: `make bench` (or `python benchmarks/run.py --only {name}`) writes {path.name}._\n"
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("smoke"):
        raise SystemExit(f"{path}: a smoke run's figures, not fit for the README")
    return "\n".join([*RENDERERS[name](doc), "", provenance(doc)]) + "\n"


def update(text: str, results: Path) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name"), results) + m.group(4), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the README is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results", type=Path, default=RESULTS)
    opts = parser.parse_args()
    text = opts.readme.read_text(encoding="utf-8")
    new = update(text, opts.results)
    if opts.check:
        if new != text:
            print(f"{opts.readme}: performance tables differ from {opts.results}: run python benchmarks/readme.py",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    if new != text:
        opts.readme.write_text(new, encoding="utf-8")
        print(f"{opts.readme}: performance tables rewritten from {opts.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
