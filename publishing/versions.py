"""A dataset's releases on disk: the typed release record, every version, the latest one.

Read by the portal, the catalogue and the dump; written by `releases.make_release`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel

from lgsp.core.errors import LgspError
from lgsp.schemas.contract import Column, Contract, PersonalData


class ReleaseError(LgspError):
    """A release could not be made (or must not be: the dataset is not open)."""


class Distribution(BaseModel):
    format: str
    media_type: str
    file: str
    bytes: int
    sha256: str
    crc32: int | None = None  # what a zip member's header needs (the bulk dump); None in older releases


class RunQuality(BaseModel):
    """What the run whose rows a release holds found: the portal's quality badge. Counts are the
    run's own (an incremental run's, not the table's); `checks` is None when it left no report."""

    status: str
    rows_published: int
    rows_quarantined: int
    rows_warned: int
    rows_rejected: int = 0
    checks: int | None = None
    checks_passed: int | None = None


class Derivation(BaseModel):
    """An input a derived dataset's release was computed from: the input's run whose rows it read
    and the input's release holding those rows (None when the input is not open or not released)."""

    dataset: str
    run_id: str | None
    version: int | None = None


class Release(BaseModel):
    dataset: str
    version: int
    run_id: str  # the run whose rows these are: the dataset's latest published run when released
    created_at: dt.datetime
    rows: int
    columns: list[str]
    distributions: list[Distribution]
    temporal_start: dt.date | None = None  # coverage: the first date or timestamp column's range
    temporal_end: dt.date | None = None
    quality: RunQuality | None = None  # None in releases made before they recorded it
    derived_from: list[Derivation] | None = None  # a derived dataset's inputs; absent for any other
    snapshot: int | None = None  # the DuckLake snapshot the rows were cut from; absent for the DuckDB file

    def record(self) -> dict[str, object]:
        """The release as release.json holds it (`derived_from` only for a derived dataset,
        `snapshot` only for a warehouse on DuckLake)."""
        data = self.model_dump(mode="json")
        for optional in ("derived_from", "snapshot"):
            if data[optional] is None:
                del data[optional]
        return data

    def distribution(self, fmt: str) -> Distribution:
        return next(d for d in self.distributions if d.format == fmt)


def public_columns(contract: Contract) -> list[Column]:
    """Columns that may leave the warehouse: no personal data, basic or sensitive."""
    return [c for c in contract.columns if c.personal_data is PersonalData.none]


def releases_dir(home: Path, dataset_id: str) -> Path:
    return home / "releases" / dataset_id


def release_file(home: Path, release: Release, fmt: str) -> Path:
    """Where a release keeps its file of format `fmt` (parquet, csv, json)."""
    return releases_dir(home, release.dataset) / f"v{release.version}" / release.distribution(fmt).file


def list_releases(home: Path, dataset_id: str) -> list[Release]:
    """Every release of a dataset, oldest first."""
    found = []
    for manifest in sorted(releases_dir(home, dataset_id).glob("v*/release.json")):
        found.append(Release.model_validate_json(manifest.read_text(encoding="utf-8")))
    return sorted(found, key=lambda r: r.version)


def release_of_run(home: Path, dataset_id: str, run_id: str | None) -> Release | None:
    """The release holding run `run_id`'s rows: the one made from that run, else, when the run
    changed no bytes (it made no release of its own), the latest. None when there is none."""
    if run_id is None:
        return None
    own = next((r for r in reversed(list_releases(home, dataset_id)) if r.run_id == run_id), None)
    return own or latest_release(home, dataset_id)


def latest_release(home: Path, dataset_id: str) -> Release | None:
    pointer = releases_dir(home, dataset_id) / "latest.json"
    if not pointer.exists():
        return None
    return Release.model_validate_json(pointer.read_text(encoding="utf-8"))
