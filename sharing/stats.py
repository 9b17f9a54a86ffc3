"""Operational statistics of the exchange log, per consumer and dataset (requests, rows, errors,
p95 latency), and their anonymised daily form published as open data, as Estonia publishes
X-Road's: consumers appear only as their agency type, no filter, key or value appears, only open
and shared datasets are named, and a cell of fewer than K_ANONYMITY requests (which could point
at one agency) is merged into the day's `(other)` row.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lgsp.core import duck
from lgsp.core.duck import literal, quote
from lgsp.core.files import existing_secret
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Classification, Contract
from lgsp.sharing import checkpoints, log_database, registry
from lgsp.sharing.exchange_log import log_paths

ANSWERS = ("data", "no_data", "not_permitted")
K_ANONYMITY = 5  # a published cell counts at least this many requests
OTHER = "(other)"
LOG_CHUNK = 50_000  # entries read from the log table and parsed at a time
STATS_TABLE = "exchange_stats"
ANCHORS_TABLE = "log_anchors"
COLUMNS = {
    "seq": "BIGINT", "at": "VARCHAR", "operation": "VARCHAR", "consumer": "VARCHAR", "dataset": "VARCHAR",
    "rows": "BIGINT", "outcome": "VARCHAR", "status": "INTEGER", "latency_ms": "DOUBLE",
}  # fmt: skip


def stats_path(settings: Settings) -> Path:
    """The SQLite file the `exchange_stats` dataset's contract reads (connection `exchange_stats`)."""
    return settings.sharing_dir / "exchange_stats.sqlite"


def _log_relation(con: duckdb.DuckDBPyConnection, settings: Settings) -> str | None:
    if log_database.in_database(settings):
        return _table_relation(con, settings)
    path, _ = log_paths(settings.sharing_dir)
    if not path.exists() or path.stat().st_size == 0:
        return None
    columns = "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in COLUMNS.items()) + "}"
    # A line the server is writing at this very moment is skipped, not an error.
    return f"read_json({literal(str(path))}, format = 'newline_delimited', columns = {columns}, ignore_errors = true)"


def _table_relation(con: duckdb.DuckDBPyConnection, settings: Settings) -> str | None:
    """The cluster profile's log table as the same columns, in a table of the statistics' own
    connection: entries come from PostgreSQL LOG_CHUNK at a time and only their typed fields are
    kept, so a log of any length takes DuckDB's bounded memory (spilling to disk), never the whole
    log's JSON text in Python. A row that is not JSON is skipped, as a line is in the file."""
    con.execute(f"CREATE TEMP TABLE exchange_log_rows ({', '.join(f'{quote(k)} {v}' for k, v in COLUMNS.items())})")
    fields = ", ".join(f"TRY_CAST(json_extract_string(entry, {literal('$.' + k)}) AS {v})" for k, v in COLUMNS.items())
    found = False
    # Closed whatever happens: the generator holds a PostgreSQL connection and its snapshot.
    with contextlib.closing(log_database.log_texts(settings)) as texts:
        while chunk := list(itertools.islice(texts, LOG_CHUNK)):
            found = True
            con.register("exchange_log_chunk", pa.table({"entry": pa.array(chunk, pa.string())}))
            con.execute(
                f"INSERT INTO exchange_log_rows SELECT {fields} FROM exchange_log_chunk WHERE json_valid(entry)"
            )
            con.unregister("exchange_log_chunk")
    return "exchange_log_rows" if found else None


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duck.connect(
        memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads, temp_dir=settings.home / "tmp"
    )


def operational(settings: Settings, datasets: set[str] | None = None) -> list[dict[str, Any]]:
    """Per consumer and dataset: requests, rows returned, not-permitted answers, errors, p50/p95 latency."""
    con = _connect(settings)
    try:
        relation = _log_relation(con, settings)
        if relation is None:
            return []
        where = ""
        args: list[Any] = []
        if datasets is not None:
            if not datasets:
                return []
            where = f"WHERE dataset IN ({', '.join('?' for _ in datasets)})"
            args = sorted(datasets)
        rows = con.execute(
            f"""SELECT coalesce(consumer, '(unauthenticated)') AS consumer, coalesce(dataset, '(catalogue)') AS dataset,
                       count(*) AS requests, coalesce(sum("rows"), 0) AS rows,
                       count(*) FILTER (WHERE outcome = 'not_permitted') AS not_permitted,
                       count(*) FILTER (WHERE outcome NOT IN {ANSWERS}) AS errors,
                       round(quantile_cont(latency_ms, 0.5), 2) AS p50_ms,
                       round(quantile_cont(latency_ms, 0.95), 2) AS p95_ms,
                       min("at") AS first_at, max("at") AS last_at
                FROM {relation} {where}
                GROUP BY ALL ORDER BY consumer, dataset""",
            args,
        )
        names = [d[0] for d in rows.description or []]
        return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
    finally:
        con.close()


def daily_anchors(settings: Settings) -> list[tuple[str, int, str, str, str, str]]:
    """Each day's last signed checkpoint of the exchange log (day, count, hash, at, signature,
    verifying key), for the open dataset `exchange_log_anchors`: published, they let anyone show
    that the log was later cut, rewritten or deleted."""
    seed = existing_secret(settings, checkpoints.KEY_NAME)
    if seed is None:
        return []
    public = checkpoints.public_text(checkpoints.private_key(seed))
    last: dict[str, dict[str, Any]] = {}
    for claim in log_database.log_checkpoints(settings):
        if "at" in claim and "count" in claim:
            day = str(claim["at"])[:10]
            if day not in last or int(claim["count"]) >= int(last[day]["count"]):
                last[day] = claim
    return [(day, int(c["count"]), c["hash"], c["at"], c["signature"], public) for day, c in sorted(last.items())]


def nameable(contracts: dict[str, Contract]) -> set[str]:
    """The datasets whose names the statistics may show: the open and shared ones."""
    return {k for k, c in contracts.items() if c.classification in (Classification.open, Classification.shared)}


def write_open_stats(settings: Settings, named_datasets: set[str]) -> int:
    """Rewrite the anonymised daily statistics that the `exchange_stats` dataset publishes; returns
    the row count. Consumers become their agency type; a dataset is named only when it is in
    `named_datasets` (the open and shared ones: a restricted dataset's name is not public), else
    `(restricted or unknown)`; cells of fewer than K_ANONYMITY requests become one `(other)` row a day."""
    con = registry.connect(settings)
    try:
        kinds = {r["code"]: r["kind"] for r in registry.rows(con, "SELECT code, kind FROM consumers")}
    finally:
        con.close()
    db = _connect(settings)
    try:
        relation = _log_relation(db, settings)
        rows: list[tuple[Any, ...]] = []
        if relation is not None:
            db.execute("CREATE TEMP TABLE kinds (code VARCHAR, kind VARCHAR)")
            if kinds:
                db.executemany("INSERT INTO kinds VALUES (?, ?)", list(kinds.items()))
            db.execute("CREATE TEMP TABLE named (dataset VARCHAR)")
            if named_datasets:
                db.executemany("INSERT INTO named VALUES (?)", [[d] for d in sorted(named_datasets)])
            other = literal(OTHER)
            rows = db.execute(
                f"""WITH entries AS (
                        SELECT CAST(CAST("at" AS TIMESTAMP) AS DATE)::VARCHAR AS day,
                               coalesce(k.kind, CASE WHEN l.consumer IS NULL THEN 'unauthenticated' ELSE 'other' END) AS agency_type,
                               CASE WHEN l.dataset IS NULL THEN '(catalogue)'
                                    WHEN l.dataset IN (SELECT dataset FROM named) THEN l.dataset
                                    ELSE '(restricted or unknown)' END AS dataset_id,
                               operation, outcome, "rows", latency_ms
                        FROM {relation} l LEFT JOIN kinds k ON k.code = l.consumer),
                    cells AS (
                        SELECT *, count(*) OVER (PARTITION BY day, agency_type, dataset_id, operation) < {K_ANONYMITY} AS small
                        FROM entries)
                    SELECT day,
                           CASE WHEN small THEN {other} ELSE agency_type END AS agency_type,
                           CASE WHEN small THEN {other} ELSE dataset_id END AS dataset_id,
                           CASE WHEN small THEN {other} ELSE operation END AS operation,
                           count(*) AS requests,
                           count(*) FILTER (WHERE outcome = 'data') AS answered_data,
                           count(*) FILTER (WHERE outcome = 'no_data') AS answered_no_data,
                           count(*) FILTER (WHERE outcome = 'not_permitted') AS answered_not_permitted,
                           count(*) FILTER (WHERE outcome NOT IN {ANSWERS}) AS errors,
                           coalesce(sum("rows"), 0) AS rows_returned,
                           round(quantile_cont(latency_ms, 0.95), 2) AS p95_latency_ms
                    FROM cells
                    GROUP BY ALL ORDER BY ALL"""
            ).fetchall()
    finally:
        db.close()
    path = stats_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    out = sqlite3.connect(building)
    try:
        out.execute(
            f"CREATE TABLE {STATS_TABLE} (day TEXT NOT NULL, agency_type TEXT NOT NULL, dataset_id TEXT NOT NULL, "
            "operation TEXT NOT NULL, requests INTEGER, answered_data INTEGER, answered_no_data INTEGER, "
            "answered_not_permitted INTEGER, errors INTEGER, rows_returned INTEGER, p95_latency_ms REAL, "
            "PRIMARY KEY (day, agency_type, dataset_id, operation))"
        )
        out.executemany(f"INSERT INTO {STATS_TABLE} VALUES ({', '.join('?' for _ in range(11))})", rows)
        out.execute(
            f"CREATE TABLE {ANCHORS_TABLE} (day TEXT PRIMARY KEY, count INTEGER NOT NULL, hash TEXT NOT NULL, "
            "at TEXT NOT NULL, signature TEXT NOT NULL, public_key TEXT NOT NULL)"
        )
        out.executemany(f"INSERT INTO {ANCHORS_TABLE} VALUES (?, ?, ?, ?, ?, ?)", daily_anchors(settings))
        out.commit()
    finally:
        out.close()
    building.replace(path)  # readers never see a half-written file
    return len(rows)
