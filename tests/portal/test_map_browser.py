"""Issue 16's acceptance in a real headless Chromium: searching `giao duc` finds the education
datasets first; the readings' page shows the dictionary, a chart and the map of the stations, and
every request the page makes (recorded by the browser itself over the DevTools protocol) stays on
loopback; the station with swapped coordinates is on no map, and the hub's quarantine names it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.browser import chromium, needs_chromium
from tests.conftest import serve, warehouse_rows
from tests.portal.test_dataset_page import sql

pytestmark = needs_chromium
LOOPBACK = {"127.0.0.1", "localhost"}


@pytest.fixture
def served_map(hub: Settings) -> Iterator[tuple[str, Settings]]:
    pipeline = Pipeline(hub)
    for dataset_id in ("env_stations", "env_readings", "env_readings_monthly", "schools", "schools_by_commune"):
        assert pipeline.run(dataset_id).status == "published", dataset_id
    assert pipeline.run("price_observations").status == "published"
    for url, _app in serve(hub):
        yield url, hub


@pytest.fixture
def recorded(served_map: tuple[str, Settings]) -> Iterator[tuple[Any, list[str]]]:
    """A page, and every URL the browser's network stack is asked for (DevTools `Network` events)."""
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        requested: list[str] = []
        cdp.on("Network.requestWillBeSent", lambda event: requested.append(event["request"]["url"]))
        page.on("request", lambda request: requested.append(request.url))
        yield page, requested
        context.close()


def test_giao_duc_finds_the_education_datasets_first(served_map: tuple[str, Settings], recorded) -> None:
    url, _ = served_map
    page, requested = recorded
    page.goto(f"{url}/")
    page.get_by_label("Tìm bộ dữ liệu").fill("giao duc")  # no diacritics, as people type
    page.get_by_label("Tìm bộ dữ liệu").press("Enter")
    page.wait_for_url("**q=giao+duc**")
    found = [href.split("?")[0].rsplit("/", 1)[-1] for href in _result_links(page)]
    assert set(found[:2]) == {"schools", "schools_by_commune"}, found
    assert {urlsplit(u).hostname for u in requested} <= LOOPBACK, requested


def _result_links(page: Any) -> list[str]:
    links = page.locator("main h2 a[href^='/dataset/']")
    return [h for h in (links.nth(i).get_attribute("href") for i in range(links.count())) if h]


def test_the_readings_page_shows_dictionary_chart_and_map_on_loopback_only(
    served_map: tuple[str, Settings], recorded, tmp_path: Path
) -> None:
    url, hub = served_map
    page, requested = recorded
    page.goto(f"{url}/dataset/env_readings")
    page.wait_for_load_state("networkidle")
    assert page.locator("#dictionary-table tbody tr").count() == 7
    assert page.locator("#charts ~ figure.chart svg .mark").count() > 1
    svg = page.locator("#map-figure svg")
    assert svg.is_visible() and svg.get_attribute("role") == "img" and svg.get_attribute("aria-label")
    keys = page.locator("#map-figure svg circle.mark").evaluate_all("marks => marks.map(m => m.dataset.key)")
    stations = {c for (c,) in sql(hub, "env_stations", "SELECT station_code FROM DATA")}
    reporting = {c for (c,) in sql(hub, "env_readings", "SELECT DISTINCT station_code FROM DATA")}
    assert sorted(keys) == sorted(stations & reporting) and len(keys) >= 29  # one point per located station
    tip = page.locator("#map-figure svg circle.mark title").first.text_content()
    assert "trung bình" in tip or "không có số liệu" in tip
    box = svg.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200
    page.locator("#map-figure").screenshot(path=str(tmp_path / "map.png"))
    page.get_by_role("link", name="English").click()
    assert page.locator("#map").inner_text() == "Map"
    assert "(mean) at" in page.locator("#map-figure figcaption").inner_text()
    page.set_viewport_size({"width": 375, "height": 740})  # on a phone, with the longest chart choices
    for lang in ("vi", "en"):
        page.goto(f"{url}/dataset/env_readings?chart_for=DO&lang={lang}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the readings page scrolls sideways on a phone ({lang}): {overflow} px"
    hosts = {urlsplit(u).hostname for u in requested}
    assert requested and hosts <= LOOPBACK, requested


def test_the_quarantined_station_is_on_no_map_and_named_in_quarantine(
    served_map: tuple[str, Settings], recorded
) -> None:
    url, hub = served_map
    page, requested = recorded
    ((code, reason, latitude),) = warehouse_rows(
        hub, "SELECT station_code, _reasons, CAST(latitude AS VARCHAR) FROM quarantine.env_stations"
    )
    assert "latitude" in reason and float(latitude) > 90  # swapped: the longitude typed as latitude
    for dataset_id in ("env_stations", "env_readings"):
        page.goto(f"{url}/dataset/{dataset_id}")
        assert page.locator("#map-figure svg circle.mark").count() > 0
        assert page.locator(f'#map-figure svg circle.mark[data-key="{code}"]').count() == 0, dataset_id
    page.goto(f"{url}/dataset/env_stations")
    assert "1 dòng bị cách ly" in page.locator("#quality").inner_text()
    page.get_by_role("link", name="báo cáo kiểm tra").click()
    report = page.locator("body").inner_text()
    assert "latitude" in report and latitude in report.replace(",", "."), report
    assert {urlsplit(u).hostname for u in requested} <= LOOPBACK, requested
