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
import shutil
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel

from lgsp.duck import literal, quote
from lgsp.errors import LgspError
from publishing.datapackage import datapackage
from schemas.contract import Classification, Column, Contract, PersonalData

BOM = "\ufeff".encode()  # Excel needs it to read Vietnamese text in a CSV as UTF-8

FORMATS: dict[str, tuple[str, str]] = {
    # format: (media type, DuckDB COPY options)
    "csv": ("text/csv", "FORMAT csv, HEADER true"),
    "parquet": ("application/vnd.apache.parquet", "FORMAT parquet, COMPRESSION zstd"),
    "json": ("application/json", "FORMAT json, ARRAY true"),
}


class ReleaseError(LgspError):
    """A release could not be made (or must not be: the dataset is not open)."""


class Distribution(BaseModel):
    format: str
    media_type: str
    file: str
    bytes: int
    sha256: str


class Release(BaseModel):
    dataset: str
    version: int
    run_id: str
    created_at: dt.datetime
    rows: int
    columns: list[str]
    distributions: list[Distribution]
    temporal_start: dt.date | None = None  # coverage: the first date or timestamp column's range
    temporal_end: dt.date | None = None

    def distribution(self, fmt: str) -> Distribution:
        return next(d for d in self.distributions if d.format == fmt)


def public_columns(contract: Contract) -> list[Column]:
    """Columns that may leave the warehouse: no personal data, basic or sensitive."""
    return [c for c in contract.columns if c.personal_data is PersonalData.none]


def releases_dir(home: Path, dataset_id: str) -> Path:
    return home / "releases" / dataset_id


def list_releases(home: Path, dataset_id: str) -> list[Release]:
    """Every release of a dataset, oldest first."""
    found = []
    for manifest in sorted(releases_dir(home, dataset_id).glob("v*/release.json")):
        found.append(Release.model_validate_json(manifest.read_text(encoding="utf-8")))
    return sorted(found, key=lambda r: r.version)


def latest_release(home: Path, dataset_id: str) -> Release | None:
    pointer = releases_dir(home, dataset_id) / "latest.json"
    if not pointer.exists():
        return None
    return Release.model_validate_json(pointer.read_text(encoding="utf-8"))


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


def _export(con: duckdb.DuckDBPyConnection, contract: Contract, target: Path) -> tuple[int, list[Distribution]]:
    columns = ", ".join(quote(c.name) for c in public_columns(contract))
    order = ", ".join(quote(k) for k in contract.primary_key)
    query = f"SELECT {columns} FROM main.{quote(contract.id)} ORDER BY {order}"
    rows = int(con.execute(f"SELECT count(*) FROM main.{quote(contract.id)}").fetchone()[0])  # type: ignore[index]
    distributions = []
    for fmt, (media_type, options) in FORMATS.items():
        path = target / f"{contract.id}.{fmt}"
        raw = path.with_suffix(f".{fmt}.tmp")
        con.execute(f"COPY ({query}) TO {literal(str(raw))} ({options})")
        digest = hashlib.sha256()
        with raw.open("rb") as src, path.open("wb") as out:
            if fmt == "csv":
                out.write(BOM)
                digest.update(BOM)
            while chunk := src.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
        raw.unlink()
        distributions.append(
            Distribution(
                format=fmt, media_type=media_type, file=path.name, bytes=path.stat().st_size, sha256=digest.hexdigest()
            )
        )
    return rows, distributions


def make_release(con: duckdb.DuckDBPyConnection, home: Path, contract: Contract, run_id: str) -> Release:
    """Release the published table of an open dataset; returns the new release, or the latest one
    when the data has not changed since. Raises ReleaseError for a dataset that is not open."""
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
        rows, distributions = _export(con, contract, work)
        start, end = _coverage(con, contract)
        latest = latest_release(home, contract.id)
        if latest and [d.sha256 for d in latest.distributions] == [d.sha256 for d in distributions]:
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
        )
        _write_json(work / "release.json", release.model_dump(mode="json"))
        _write_json(work / "datapackage.json", datapackage(contract, release))
        final = root / f"v{version}"
        work.rename(final)  # a release directory appears whole or not at all
        _write_json(root / "latest.json", release.model_dump(mode="json"))
        return release
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
