"""Versioned, immutable releases of open datasets: CSV, Parquet and JSON with sizes and SHA-256.

A release is made from the published table, rows ordered by the primary key, so the same data
gives byte-identical files and a checksum changes only when the data does (an unchanged run makes
no new release). Personal-data columns never leave the warehouse, whatever the classification
says, and only `open` datasets are released at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from lgsp.core.duck import literal, memory_at_most, quote
from lgsp.publishing.compress import gzip_file
from lgsp.publishing.datapackage import datapackage
from lgsp.publishing.versions import (
    Derivation,
    Distribution,
    Release,
    ReleaseError,
    RunQuality,
    latest_release,
    public_columns,
    releases_dir,
)
from lgsp.schemas.contract import Classification, Column, ColumnType, Contract
from lgsp.warehouse import lake

log = logging.getLogger(__name__)
BOM = "\ufeff".encode()  # Excel needs it to read Vietnamese text in a CSV as UTF-8

# A double holds every whole number below 2**53 exactly: a number column's whole values below it go
# to the CSV as integers (596049, not DuckDB's 596049.0; -0.0 as 0). Larger ones, fractions, inf
# and nan are written as DuckDB writes a double (1e+16, 12.5, inf, nan): each reads back as itself.
EXACT_WHOLE = 2**53

FORMATS: dict[str, tuple[str, str]] = {
    # format: (media type, DuckDB COPY options)
    "csv": ("text/csv", "FORMAT csv, HEADER true"),
    # Small row groups let the datastore API read one page without decompressing 120,000 rows.
    "parquet": ("application/vnd.apache.parquet", "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384"),
    "json": ("application/json", "FORMAT json, ARRAY true"),
}
COMPRESSED = ("csv", "json")  # also released as `<file>.gz`; Parquet compresses its own pages
GZIP = "application/gzip"
# DuckDB's memory while it writes a release: the COPY streams the table (sorting it by key,
# spilling to disk, if it is not stored so), and more would only cache blocks. Measured at 10 M
# readings (stored out of key order, so sorted) on 2 threads: the whole `lgsp run` path peaked at
# 1,935 MiB with the connection's 1 GB, at the load's 1,247 MiB with 256 MiB (64 MiB was enough).
# Each thread needs buffers of its own, so a machine of many cores gets EXPORT_MEMORY_PER_THREAD
# each when that is more; a COPY that runs out anyway is written again under the connection's limit.
EXPORT_MEMORY = 256 * 2**20
EXPORT_MEMORY_PER_THREAD = 32 * 2**20


def _coverage(con: duckdb.DuckDBPyConnection, contract: Contract) -> tuple[dt.date | None, dt.date | None]:
    """Temporal coverage: the range of the first date or timestamp column (not personal data)."""
    dated = [c for c in public_columns(contract) if c.type.value in ("date", "timestamp")]
    if not dated:
        return None, None
    column = quote(dated[0].name)
    row = con.execute(
        f"SELECT CAST(min({column}) AS DATE), CAST(max({column}) AS DATE) FROM main.{quote(contract.id)}"
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def _digests(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (its checksum) and CRC-32 (what the bulk dump's zip headers need), in one read."""
    digest, crc = hashlib.sha256(), 0
    with path.open("rb") as src:
        while chunk := src.read(1 << 22):
            digest.update(chunk)  # hashlib and zlib release the GIL: files hash in parallel
            crc = zlib.crc32(chunk, crc)
    return digest.hexdigest(), crc


def _in_key_order(con: duckdb.DuckDBPyConnection, contract: Contract) -> bool:
    """True when the table is stored in key order already (a scan is cheaper than a sort)."""
    keys = ", ".join(quote(k) for k in contract.primary_key)
    row = con.execute(
        f"SELECT bool_and(ordered) FROM (SELECT ({keys}) >= lag(({keys})) OVER () OR lag(({keys})) OVER () IS NULL "
        f"AS ordered FROM main.{quote(contract.id)})"
    ).fetchone()
    return bool(row and row[0] is not False)


def _csv_column(column: Column) -> str:
    """The select-list item that writes `column` to the CSV release."""
    ref = quote(column.name)
    if column.type is not ColumnType.number:
        return ref
    return (
        f"CASE WHEN isfinite({ref}) AND {ref} = trunc({ref}) AND abs({ref}) < {EXACT_WHOLE} "
        f"THEN CAST(CAST({ref} AS BIGINT) AS VARCHAR) ELSE CAST({ref} AS VARCHAR) END"
    )


def _export(
    con: duckdb.DuckDBPyConnection, contract: Contract, target: Path, formats: tuple[str, ...], json_max_rows: int
) -> tuple[int, list[Distribution]]:
    public = public_columns(contract)
    table = f"main.{quote(contract.id)}"
    rows = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
    if json_max_rows and rows > json_max_rows:
        formats = tuple(f for f in formats if f != "json")  # gigabytes of one array help nobody
    # Output follows the key order either way: sorted here, or kept as stored.
    con.execute("SET preserve_insertion_order = true")
    paths = {fmt: target / f"{contract.id}.{fmt}" for fmt in formats}  # the distributions' order
    try:
        source = table
        order = "" if _in_key_order(con, contract) else " ORDER BY " + ", ".join(quote(k) for k in contract.primary_key)
        cap = _export_memory(con)
        # One sort, not one per format: the Parquet file is written first, in key order, and the
        # other formats read it in its order.
        for fmt in sorted(formats, key=lambda f: f != "parquet") if order else formats:
            options = FORMATS[fmt][1]
            columns = [quote(c.name) for c in public]
            if fmt == "csv":
                names = [c.name for c in public]
                names[0] = BOM.decode() + names[0]  # the BOM rides in front of the first header: no second pass
                columns = [f"{_csv_column(c)} AS {quote(name)}" for c, name in zip(public, names, strict=True)]
            copy = f"COPY (SELECT {', '.join(columns)} FROM {source}{order}) TO {literal(str(paths[fmt]))} ({options})"
            try:
                with memory_at_most(con, cap):
                    con.execute(copy)
            except duckdb.OutOfMemoryException as exc:  # very wide rows, say: the file is written anew
                log.warning("%s: %s export under its memory cap failed (%s); again with the connection's", contract.id,
                            fmt, str(exc).splitlines()[0])  # fmt: skip
                con.execute(copy)
            if fmt == "parquet" and order:
                source, order = f"read_parquet({literal(str(paths[fmt]))})", ""
    finally:
        con.execute("SET preserve_insertion_order = false")
    with ThreadPoolExecutor(max_workers=len(paths) or 1) as pool:
        hashing = {fmt: pool.submit(_digests, path) for fmt, path in paths.items()}
        # gzip uses every core itself while the plain files hash beside it
        gzipped = {fmt: gzip_file(path, _gz(path)) for fmt, path in paths.items() if fmt in COMPRESSED}
        digests = {fmt: future.result() for fmt, future in hashing.items()}
    distributions = [
        Distribution(
            format=fmt,
            media_type=FORMATS[fmt][0],
            file=path.name,
            bytes=path.stat().st_size,
            sha256=digests[fmt][0],
            crc32=digests[fmt][1],
        )
        for fmt, path in paths.items()
    ]
    distributions += [
        Distribution(format=f"{fmt}.gz", media_type=GZIP, file=_gz(paths[fmt]).name, bytes=size, sha256=sha, crc32=crc)
        for fmt, (size, sha, crc) in gzipped.items()
    ]
    return rows, distributions


def _export_memory(con: duckdb.DuckDBPyConnection) -> int:
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])  # type: ignore[index]
    return max(EXPORT_MEMORY, EXPORT_MEMORY_PER_THREAD * threads)


def _gz(path: Path) -> Path:
    return path.with_name(path.name + ".gz")


def _data_digests(release_or_list: Release | list[Distribution]) -> list[str]:
    """The checksums that say whether the data changed: the uncompressed files' (a release made
    before the `.gz` files existed holds the same data as one with them)."""
    found = release_or_list.distributions if isinstance(release_or_list, Release) else release_or_list
    return [d.sha256 for d in found if d.media_type != GZIP]


def make_release(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    contract: Contract,
    run_id: str,
    formats: tuple[str, ...] = tuple(FORMATS),
    quality: RunQuality | None = None,
    derived_from: list[Derivation] | None = None,
    json_max_rows: int = 0,
) -> Release:
    """Release the published table of an open dataset, as the rows of run `run_id` (whose
    `quality`, and for a derived dataset the inputs it was computed from, it records); returns the
    new release, or the latest one when the data has not changed since (it names the run that
    first published those bytes). A table of more than `json_max_rows` rows (0: no limit) gets no
    JSON. Raises ReleaseError for a dataset that is not open. Call it outside a transaction: an
    export that runs out of memory is tried again, which an aborted transaction would refuse."""
    if contract.classification is not Classification.open:
        raise ReleaseError(
            f"'{contract.id}' is {contract.classification.value}: only open datasets are released",
            dataset=contract.id,
        )
    root = releases_dir(home, contract.id)
    work = root / f".building-{hashlib.sha1(run_id.encode()).hexdigest()[:12]}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        # The writer holds the dataset's lock: its table stays as it is at this snapshot while it is cut.
        snapshot = lake.snapshot(con)
        rows, distributions = _export(con, contract, work, formats, json_max_rows)
        start, end = _coverage(con, contract)
        latest = latest_release(home, contract.id)
        orphan = root / f"v{(latest.version if latest else 0) + 1}" / "release.json"
        if orphan.exists():
            # A run killed after its release directory appeared (whole: it appears by one rename)
            # but before latest.json moved to it: finish that run's release instead of colliding.
            latest = Release.model_validate_json(orphan.read_text(encoding="utf-8"))
            _write_json(root / "latest.json", latest.record())
        if latest and _data_digests(latest) == _data_digests(distributions):
            return latest  # same data, same bytes: nothing new to release
        version = (latest.version if latest else 0) + 1
        release = Release(
            dataset=contract.id,
            version=version,
            run_id=run_id,
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
            rows=rows,
            columns=[c.name for c in public_columns(contract)],
            distributions=distributions,
            temporal_start=start,
            temporal_end=end,
            quality=quality,
            derived_from=derived_from,
            snapshot=snapshot,
        )
        _write_json(work / "release.json", release.record())
        _write_json(work / "datapackage.json", datapackage(contract, release))
        final = root / f"v{version}"
        work.rename(final)  # a release directory appears whole or not at all
        _write_json(root / "latest.json", release.record())
        return release
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
