"""Atom feeds of releases over a live server: valid RFC 4287 documents, one entry per release
with what it changed, newest first, linked from the pages, and never a non-open dataset."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.conftest import serve

A = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def live(hub: Settings, contracts_dir: Path) -> Iterator[tuple[str, Settings]]:
    settings = Settings.from_env()  # reads the private, editable contracts folder
    pipeline = Pipeline(settings)
    for dataset_id in ("schools", "price_observations", "driving_licences"):
        assert pipeline.run(dataset_id).status == "published", dataset_id
    with sqlite3.connect(settings.sandbox_dir / "education.sqlite") as db:  # a second schools release
        db.execute("DELETE FROM schools WHERE school_code = (SELECT min(school_code) FROM schools)")
    assert pipeline.run("schools").status == "published"
    for url, _app in serve(settings):
        yield url, settings


def atom(url: str) -> ET.Element:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(answer.content)
    assert root.tag == f"{A}feed"
    # RFC 4287 4.1.1: id, title, updated once each; an author for the feed or for every entry
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{name}")) == 1, name
    assert root.find(f"{A}author/{A}name") is not None
    assert root.find(f"{A}link[@rel='self']") is not None
    ids = [e.findtext(f"{A}id") for e in root.findall(f"{A}entry")]
    assert len(ids) == len(set(ids)) and all(i and i.startswith("urn:uuid:") for i in ids)
    for entry in root.findall(f"{A}entry"):
        for name in ("id", "title", "updated", "summary"):
            assert entry.findtext(f"{A}{name}"), name
        dt.datetime.fromisoformat(entry.findtext(f"{A}updated").replace("Z", "+00:00"))  # RFC 3339
        assert entry.find(f"{A}link[@rel='alternate']") is not None
    return root


def test_a_datasets_feed_has_an_entry_per_release_with_what_changed(live: tuple[str, Settings]) -> None:
    url, _ = live
    root = atom(f"{url}/dataset/schools/feed.atom")
    entries = root.findall(f"{A}entry")
    assert [e.findtext(f"{A}title") for e in entries] == [
        "Danh sách cơ sở giáo dục: phiên bản 2",
        "Danh sách cơ sở giáo dục: phiên bản 1",
    ]
    assert entries[0].findtext(f"{A}summary") == "779 dòng; so với phiên bản trước: thêm 0, bớt 1, sửa 0"
    assert entries[1].findtext(f"{A}summary").endswith("phiên bản đầu tiên")
    assert entries[0].find(f"{A}link[@rel='alternate']").get("href") == f"{url}/dataset/schools?lang=vi#release-v2"
    enclosures = [link.get("href") for link in entries[0].findall(f"{A}link[@rel='enclosure']")]
    assert f"{url}/releases/schools/v2/schools.csv" in enclosures
    assert requests.get(enclosures[0], timeout=30).status_code == 200
    english = atom(f"{url}/dataset/schools/feed.atom?lang=en").findall(f"{A}entry")
    assert english[0].findtext(f"{A}summary") == "779 rows; against the previous release: 0 added, 1 removed, 0 changed"
    assert [e.findtext(f"{A}id") for e in english] == [e.findtext(f"{A}id") for e in entries]  # one id per release


def test_publisher_and_catalogue_feeds_hold_only_open_datasets(live: tuple[str, Settings]) -> None:
    url, _ = live
    catalogue = atom(f"{url}/feed.atom")
    links = [e.find(f"{A}link[@rel='alternate']").get("href") for e in catalogue.findall(f"{A}entry")]
    assert sorted({link.split("/dataset/")[1].split("?")[0] for link in links}) == ["price_observations", "schools"]
    assert len(links) == 3
    finance = atom(f"{url}/publisher/stc/feed.atom").findall(f"{A}entry")
    assert [e.find(f"{A}category").get("term") for e in finance] == ["stc"]
    assert "driving_licences" not in requests.get(f"{url}/feed.atom", timeout=30).text
    for path in ("/dataset/driving_licences/feed.atom", "/publisher/sxd/feed.atom", "/dataset/nope/feed.atom",
                 "/publisher/nope/feed.atom"):  # fmt: skip
        assert requests.get(f"{url}{path}", timeout=30).status_code == 404, path


def test_pages_link_their_feeds(live: tuple[str, Settings]) -> None:
    url, _ = live
    dataset = requests.get(f"{url}/dataset/schools", timeout=30).text
    assert '<link rel="alternate" type="application/atom+xml" href="/dataset/schools/feed.atom?lang=vi"' in dataset
    assert '<link rel="alternate" type="application/atom+xml" href="/feed.atom?lang=vi"' in dataset
    publisher = requests.get(f"{url}/publisher/sgddt?lang=en", timeout=30).text
    assert '<link rel="alternate" type="application/atom+xml" href="/publisher/sgddt/feed.atom?lang=en"' in publisher
    home = requests.get(f"{url}/", timeout=30).text
    assert '<link rel="alternate" type="application/atom+xml" href="/feed.atom?lang=vi"' in home


def test_a_reclassified_dataset_leaves_the_feeds_at_once(live: tuple[str, Settings], contracts_dir: Path) -> None:
    url, _ = live
    assert requests.get(f"{url}/dataset/schools/feed.atom", timeout=30).status_code == 200
    path = contracts_dir / "schools.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["classification"] = "restricted"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    time.sleep(1.1)  # the catalogue looks at the files again at most once a second
    assert requests.get(f"{url}/dataset/schools/feed.atom", timeout=30).status_code == 404
    assert requests.get(f"{url}/publisher/sgddt/feed.atom", timeout=30).status_code == 404
    assert "/dataset/schools" not in requests.get(f"{url}/feed.atom", timeout=30).text
