"""The dataset page's map, drawn on the server: the stations' own points, the readings at the
stations they reference with their mean against the limit (checked against DuckDB on the same
Parquet files), the station with swapped coordinates in quarantine and not on the map."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
import requests

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.portal.i18n import number
from lgsp.portal.svg_map import degrees
from tests.conftest import serve, warehouse_rows
from tests.portal.test_dataset_page import sql


@pytest.fixture
def mapped(hub: Settings) -> Iterator[tuple[str, Settings]]:
    pipeline = Pipeline(hub)
    for dataset_id in ("env_stations", "env_readings", "env_readings_monthly", "schools"):
        assert pipeline.run(dataset_id).status == "published", dataset_id
    for url, _app in serve(hub):
        yield url, hub


def marks(page: str) -> dict[str, tuple[str, str]]:
    """{key: (fill colour, tooltip)} of the map's points."""
    svg = page.split('id="map-figure"', 1)[1].split("</svg>", 1)[0]
    found = re.findall(r'<circle class="mark" data-key="([^"]+)"[^>]*fill="([^"]+)"[^>]*><title>([^<]*)</title>', svg)
    return {k: (fill, html.unescape(tip)) for k, fill, tip in found}


def quarantined_station(hub: Settings) -> tuple[str, str]:
    rows = warehouse_rows(hub, "SELECT station_code, _reasons FROM quarantine.env_stations")
    assert len(rows) == 1, rows  # 2 % of 30 stations: one, its latitude and longitude swapped
    return rows[0]


def test_the_stations_page_shows_every_published_station(mapped: tuple[str, Settings]) -> None:
    url, hub = mapped
    page = requests.get(f"{url}/dataset/env_stations", timeout=30).text
    points = marks(page)
    published = dict(sql(hub, "env_stations", "SELECT station_code, station_name FROM DATA"))
    assert set(points) == set(published) and len(points) == 29
    code, reason = quarantined_station(hub)
    assert code not in points and "latitude" in reason
    # the kind's code, in the words the contract's labels give it
    assert points["QT-KK-01"][1] == f"{published['QT-KK-01']} (QT-KK-01) · Trạm quan trắc không khí"
    assert ">Trạm quan trắc nước mặt</text>" in page  # the legend
    assert {fill for fill, _ in points.values()} == {"#0b4f8a", "#d35400"}  # air and water
    svg = page.split('id="map-figure"', 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "aria-label=" in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert degrees(17.0, "lat", "vi") == "17°B" and degrees(106.5, "lon", "vi") == "106,5°Đ"
    assert ">17°B</text>" in svg and ">107°Đ</text>" in svg  # the graticule, Vietnamese first
    english = requests.get(f"{url}/dataset/env_stations?lang=en", timeout=30).text
    assert ">17°N</text>" in english and "29 locations from the dataset&#39;s coordinates" in english
    assert "Air monitoring station" in english and "Surface-water monitoring station" in english


def test_the_readings_page_shows_the_means_at_the_stations_they_reference(mapped: tuple[str, Settings]) -> None:
    url, hub = mapped
    page = requests.get(f"{url}/dataset/env_readings?chart_for=PM2.5", timeout=30).text
    points = marks(page)
    code, _ = quarantined_station(hub)
    located = {c for (c,) in sql(hub, "env_stations", "SELECT station_code FROM DATA")}
    reporting = {c for (c,) in sql(hub, "env_readings", "SELECT DISTINCT station_code FROM DATA")}
    assert set(points) == located & reporting and code not in points
    means = sql(
        hub,
        "env_readings",
        "SELECT station_code, avg(value), avg(limit_value), count(*) FROM DATA WHERE parameter = 'PM2.5' "
        "GROUP BY station_code",
    )
    for station, mean, limit, n in means:
        if station not in points:
            continue
        fill, tip = points[station]
        assert f": trung bình {number(mean, 'vi')} µg/m³ · giới hạn {number(limit, 'vi')} µg/m³" in tip
        assert tip.endswith(f"{number(n, 'vi')} lần đo")
        assert fill == ("#c0392b" if mean > limit else "#1e8449")
    water = [k for k in points if "-NM-" in k]
    assert water and all(points[k] == ("#9a9a9a", points[k][1]) and "không có số liệu" in points[k][1] for k in water)
    caption = page.split('id="map-figure"><figcaption>', 1)[1].split("</figcaption>", 1)[0]
    assert caption.startswith(f"Giá trị đo (trung bình) tại {len(points)} trạm · Chỉ tính thông số = PM2.5")
    assert 'href="/dataset/env_stations?lang=vi"' in caption
    assert "Trung bình không đạt giới hạn cho phép" in page


def test_dissolved_oxygen_breaks_its_limit_by_falling_below_it(mapped: tuple[str, Settings]) -> None:
    """QCVN 08 sets DO's 4 mg/L as a minimum (the contract's minimum_when): a mean above it is good."""
    url, hub = mapped
    points = marks(requests.get(f"{url}/dataset/env_readings?chart_for=DO", timeout=30).text)
    means = sql(
        hub,
        "env_readings",
        "SELECT station_code, avg(value), avg(limit_value) FROM DATA WHERE parameter = 'DO' GROUP BY station_code",
    )
    drawn = [(s, mean, limit) for s, mean, limit in means if s in points]
    assert drawn and any(mean > limit for _, mean, limit in drawn)  # the sandbox's rivers are mostly healthy
    for station, mean, limit in drawn:
        fill, tip = points[station]
        assert fill == ("#c0392b" if mean < limit else "#1e8449"), (station, mean, limit)
        assert f"giới hạn tối thiểu {number(limit, 'vi')} mg/L" in tip


def test_without_a_limit_the_means_are_drawn_in_one_colour(mapped: tuple[str, Settings]) -> None:
    url, hub = mapped
    page = requests.get(f"{url}/dataset/env_readings_monthly?chart_for=DO&lang=en", timeout=30).text
    points = marks(page)
    water = {
        c for (c,) in sql(hub, "env_readings_monthly", "SELECT DISTINCT station_code FROM DATA WHERE parameter = 'DO'")
    }
    assert {k for k, (fill, _) in points.items() if fill == "#0b4f8a"} == water & set(points) and water
    assert all(fill == "#9a9a9a" for k, (fill, _) in points.items() if k not in water)
    assert "limit" not in page.split('id="map-figure"', 1)[1].split("</figure>", 1)[0]


def test_no_map_without_coordinates(mapped: tuple[str, Settings]) -> None:
    url, _ = mapped
    assert 'id="map-figure"' not in requests.get(f"{url}/dataset/schools", timeout=30).text
