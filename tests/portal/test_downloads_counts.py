"""Counted downloads: once per download (its first byte), never for a 304, a continuation, a
refused range or a file that is not served; published as the open dataset `download_stats`,
with no personal data."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time

import httpx

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.counts import read_counts, store_path
from lgsp.publishing.versions import latest_release
from lgsp.schemas.loader import load_contracts
from tests.conftest import serve, warehouse_rows

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}


def _get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A GET that keeps the bytes as sent (a piece of a gzip stream does not decode on its own)."""
    with httpx.stream("GET", url, headers=headers, timeout=30) as r:
        b"".join(r.iter_raw())
        return r


def _counts(hub: Settings) -> dict[tuple[str, str], int]:
    return {(dataset, fmt): n for _, dataset, fmt, n in read_counts(hub.home)}


def test_each_download_counts_once_by_dataset_and_format(served: tuple[str, Settings]) -> None:
    url, hub = served
    base = f"{url}/releases/schools/latest"
    assert _counts(hub) == {}
    full = _get(f"{base}/schools.csv", headers=IDENTITY)
    assert full.status_code == 200
    assert _counts(hub) == {("schools", "csv"): 1}
    # gzip on request is the same CSV; the .gz file and the Parquet are formats of their own
    _get(f"{base}/schools.csv", headers=GZIP)
    _get(f"{base}/schools.csv.gz")
    _get(f"{url}/releases/schools/v1/schools.parquet")
    assert _counts(hub) == {("schools", "csv"): 2, ("schools", "csv.gz"): 1, ("schools", "parquet"): 1}
    day = read_counts(hub.home)[0][0]
    assert day == dt.datetime.now(dt.UTC).date().isoformat()


def test_a_download_in_ranges_counts_once(served: tuple[str, Settings]) -> None:
    url, hub = served
    address = f"{url}/releases/price_observations/latest/price_observations.csv"
    first = _get(address, headers={**GZIP, "range": "bytes=0-99"})
    assert first.status_code == 206
    size = int(first.headers["content-range"].rsplit("/", 1)[1])
    etag = first.headers["etag"]
    for start in range(100, size, 300):  # a download manager fetching the rest piece by piece
        piece = _get(address, headers={**GZIP, "range": f"bytes={start}-{start + 299}", "if-range": etag})
        assert piece.status_code == 206
    assert _get(address, headers={**GZIP, "range": "bytes=-50"}).status_code == 206  # the tail only
    assert _counts(hub) == {("price_observations", "csv"): 1}
    # a range the server refuses, or a tag that still matches, is no download
    assert _get(address, headers={**GZIP, "range": f"bytes={size + 1}-"}).status_code == 416
    assert _get(address, headers={**GZIP, "range": "bytes=abc"}).status_code == 400
    assert _get(address, headers={**GZIP, "if-none-match": etag}).status_code == 304
    assert _counts(hub) == {("price_observations", "csv"): 1}
    # a new download from the start counts again
    assert _get(address, headers={**GZIP, "range": "bytes=0-"}).status_code == 206
    assert _counts(hub) == {("price_observations", "csv"): 2}


def test_files_not_served_are_not_counted(served: tuple[str, Settings]) -> None:
    url, hub = served
    for path in (
        "/releases/driving_licences/latest/driving_licences.csv",
        "/releases/schools/latest/release.json",
        "/releases/schools/v7/schools.csv",
    ):
        assert _get(f"{url}{path}").status_code == 404
    assert _counts(hub) == {}


def test_a_store_that_cannot_be_written_never_stops_a_download(hub: Settings) -> None:
    assert Pipeline(hub).run("schools").status == "published"
    store_path(hub.home).mkdir(parents=True)  # not a database: every count fails
    for url, _app in serve(hub):
        r = _get(f"{url}/releases/schools/latest/schools.csv", headers=GZIP)
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert store_path(hub.home).is_dir() and not list(store_path(hub.home).iterdir())


def test_the_counts_are_published_as_an_open_dataset_without_personal_data(served: tuple[str, Settings]) -> None:
    url, hub = served
    for _ in range(3):
        _get(f"{url}/releases/schools/latest/schools.csv", headers=GZIP)
    _get(f"{url}/releases/ict_indicators/latest/ict_indicators.json", headers=IDENTITY)
    # the store holds the counts and nothing about who downloaded
    con = sqlite3.connect(store_path(hub.home))
    try:
        stored = [r[1] for r in con.execute("PRAGMA table_info(download_stats)")]
    finally:
        con.close()
    assert stored == ["day", "dataset_id", "format", "downloads"]

    contract = load_contracts(hub.contracts_dir)["download_stats"]
    assert contract.classification.value == "open" and contract.personal_columns == []
    run = Pipeline(hub).run("download_stats")  # while the server keeps counting beside it
    assert run.status == "published", run.error
    today = dt.datetime.now(dt.UTC).date()
    assert sorted(warehouse_rows(hub, "SELECT * FROM main.download_stats")) == [
        (today, "ict_indicators", "json", 1),
        (today, "schools", "csv", 3),
    ]
    release = latest_release(hub.home, "download_stats")
    assert release is not None and release.columns == ["day", "dataset_id", "format", "downloads"]
    deadline = time.monotonic() + 5  # the server looks at the releases on disk at most once a second
    while (
        served_csv := httpx.get(f"{url}/releases/download_stats/latest/download_stats.csv", headers=IDENTITY)
    ).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served_csv.status_code == 200
    lines = served_csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "day,dataset_id,format,downloads" and f"{today},schools,csv,3" in lines
    # the download of the counts is itself counted, after the release was made
    assert _counts(hub)[("download_stats", "csv")] == 1


def test_the_counts_dataset_runs_before_anything_was_downloaded(hub: Settings) -> None:
    from lgsp.publishing.counts import ensure_store

    ensure_store(hub.home)  # what the demo does before its first runs
    run = Pipeline(hub).run("download_stats")
    assert run.status == "published", run.error
    assert warehouse_rows(hub, "SELECT count(*) FROM main.download_stats") == [(0,)]
