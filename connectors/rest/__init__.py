"""REST connector: national systems and other JSON APIs, paged, throttled and retried politely.

The contract says where the records are and how to page; the connection (LGSP_CONN_<NAME> or an
Airflow Connection) holds the base URL and the secrets: for OAuth2 client credentials the login
and password are the client id and secret, for an API key the password is the key.

A run either gets every page or fails: 429 and 503 answers are retried after their Retry-After,
other transient faults (5xx, timeouts, dropped connections, a malformed page) with exponential
backoff and jitter; an expired token is replaced once per 401. Records are flattened to the
contract's columns by their dotted source paths; fields the contract does not know, and fields
it expects that are missing, are counted and handled by the contract's `schema_drift` policy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register
from lgsp.connectors.rest.client import Client
from lgsp.connectors.rest.config import RestConfig, configure
from lgsp.connectors.rest.paging import Page, pages
from lgsp.connectors.rest.spool import CHUNK_RECORDS, Sink, Spooler
from lgsp.core import duck
from lgsp.core.priority import lower_thread_priority


def load(config: RestConfig, state: dict[str, Any] | None, notes: dict[str, Any], sink: Sink, folder: Path) -> None:
    """Pull every record of the endpoint (or those updated since the cursor in `state`) and
    hand them to `sink` chunk by chunk, as SELECTs DuckDB runs over the saved pages (`folder`).
    A chunk is flattened while the next pages download. `notes` receives the requests, retries
    and tokens used and the schema drift found."""
    pages_dir = folder / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    client = Client(config)
    spooler = Spooler(config, sink)
    flattening = ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="lgsp-rest-flatten", initializer=lower_thread_priority
    )
    pending: Future[None] | None = None
    try:
        chunk: list[tuple[Path, Page]] = []
        for page in pages(client, state):
            saved = pages_dir / f"{page.number:07d}.json"
            saved.write_bytes(page.content)
            chunk.append((saved, replace(page, content=b"")))
            if sum(p.records for _, p in chunk) >= CHUNK_RECORDS:
                if pending is not None:
                    pending.result()
                pending = flattening.submit(spooler.load, chunk)
                chunk = []
        if pending is not None:
            pending.result()
        if chunk:
            spooler.load(chunk)
        if spooler.records == 0:
            sink(spooler.empty())
    except ConnectorError as exc:
        exc.dataset, exc.connector = config.dataset, config.connection
        raise
    finally:
        flattening.shutdown(wait=True, cancel_futures=True)
        client.close()
        shutil.rmtree(pages_dir, ignore_errors=True)
        notes.update(
            requests=client.requests,
            retries=client.retries,
            tokens=client.tokens,
            records=spooler.records,
            schema_drift={"policy": config.source.schema_drift.value, **spooler.drift.as_notes()},
        )


def extract(config: RestConfig, state: dict[str, Any] | None, notes: dict[str, Any]) -> pa.RecordBatchReader:
    """The records as Arrow batches (text columns), through a temporary DuckDB file."""
    folder = Path(tempfile.mkdtemp(prefix="lgsp-rest-"))
    con = duck.connect(folder / "records.duckdb", memory_limit=config.memory_limit)

    def sink(select: str) -> int:
        con.execute(f"CREATE TABLE IF NOT EXISTS records AS {select} LIMIT 0")
        return int((con.execute(f"INSERT INTO records {select}").fetchone() or (0,))[0])

    try:
        load(config, state, notes, sink, folder)
    except BaseException:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    reader = con.execute("SELECT * FROM records").fetch_record_batch()

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            con.close()
            shutil.rmtree(folder, ignore_errors=True)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


register("rest", configure=configure, load=load)(extract)
