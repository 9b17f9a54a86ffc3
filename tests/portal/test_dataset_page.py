"""The dataset page over a live server: the data dictionary from the contract, charts drawn from
the release (checked against DuckDB reading the same Parquet file), the preview's sorting and
filters, example calls that really run, release diffs with exact counts, and the formats."""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import requests

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.versions import latest_release, releases_dir
from lgsp.schemas.loader import load_contract
from tests.conftest import serve
from tests.paths import REPO_ROOT


@pytest.fixture
def charted(hub: Settings) -> Iterator[tuple[str, Settings]]:
    """A hub whose environment readings, schools and their derived datasets are released."""
    pipeline = Pipeline(hub)
    for dataset_id in ("env_readings", "env_readings_monthly", "schools", "schools_by_commune", "driving_licences"):
        assert pipeline.run(dataset_id).status == "published", dataset_id
    for url, _app in serve(hub):
        yield url, hub


def parquet(settings: Settings, dataset_id: str) -> str:
    release = latest_release(settings.home, dataset_id)
    assert release is not None
    return str(releases_dir(settings.home, dataset_id) / f"v{release.version}" / release.distribution("parquet").file)


def sql(settings: Settings, dataset_id: str, query: str) -> list[tuple]:
    return duckdb.sql(query.replace("DATA", f"read_parquet('{parquet(settings, dataset_id)}')")).fetchall()


def cells(page: str, table: str) -> list[list[str]]:
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", r, re.S)] for r in rows]


def test_dictionary_lists_the_public_columns_from_the_contract(charted: tuple[str, Settings]) -> None:
    url, _ = charted
    contract = load_contract(REPO_ROOT / "schemas" / "datasets" / "schools.yaml")
    page = requests.get(f"{url}/dataset/schools", timeout=30).text
    rows = cells(page, "dictionary-table")
    assert [r[0] for r in rows] == [c.name for c in contract.columns]
    assert rows[6] == ["pupils", "Số học sinh", "số nguyên", "", "có"]
    assert rows[1] == ["name", "Tên trường", "văn bản", "", "không"]
    english = cells(requests.get(f"{url}/dataset/schools?lang=en", timeout=30).text, "dictionary-table")
    assert english[6] == ["pupils", "Pupils", "integer", "", "yes"]


def test_bars_are_the_releases_sums_and_the_measure_can_be_changed(charted: tuple[str, Settings]) -> None:
    url, hub = charted
    page = requests.get(f"{url}/dataset/schools_by_commune", timeout=30).text
    assert "<figcaption>Số trường (tổng) theo cấp học</figcaption>" in page
    expected = sql(hub, "schools_by_commune", "SELECT level, sum(schools) s FROM DATA GROUP BY level ORDER BY s DESC")
    shown = re.findall(r'<rect class="mark"[^>]*><title>(.*?)</title>', page)
    assert shown == [f"{level}: {int(total):,}".replace(",", ".") for level, total in expected]
    page = requests.get(f"{url}/dataset/schools_by_commune?measure=pupils&lang=en", timeout=30).text
    assert "<figcaption>Pupils (total) by school level</figcaption>" in page
    expected = sql(hub, "schools_by_commune", "SELECT level, sum(pupils) s FROM DATA GROUP BY level ORDER BY s DESC")
    assert re.findall(r'<rect class="mark"[^>]*><title>(.*?)</title>', page) == [
        f"{level}: {int(total):,}" for level, total in expected
    ]


def test_time_series_keeps_to_one_unit(charted: tuple[str, Settings]) -> None:
    """Readings of different parameters (µg/m³, mg/L, pH) are never averaged together."""
    url, hub = charted
    page = requests.get(f"{url}/dataset/env_readings?chart_for=PM10", timeout=30).text
    assert "Giá trị đo (trung bình) theo thời điểm đo · Chỉ tính thông số = PM10" in page
    points = re.findall(r'<circle class="mark"[^>]*><title>(.*?)</title>', page)
    hourly = sql(
        hub,
        "env_readings",
        "SELECT measured_at, avg(value) FROM DATA WHERE parameter = 'PM10' GROUP BY measured_at ORDER BY measured_at",
    )
    assert 1 < len(hourly) <= 120  # few enough to show each hour: above 120 the chart buckets by day
    assert len(points) == len(hourly)
    for shown, (hour, mean) in zip(points, hourly, strict=True):
        label, value = shown.split(": ")
        assert label == f"{hour:%d/%m/%Y %H:%M}"
        assert abs(float(value.replace(".", "").replace(",", ".")) - mean) < 0.006
    assert "<option selected>PM10</option>" in page
    unknown = requests.get(f"{url}/dataset/env_readings?chart_for=nope&measure=nope", timeout=30)
    assert unknown.status_code == 200 and "<svg" in unknown.text  # an unknown choice falls back to the default


def test_preview_sorts_and_filters_through_datastore_search(charted: tuple[str, Settings]) -> None:
    url, hub = charted
    page = requests.get(f"{url}/dataset/schools?sort=pupils&dir=desc", timeout=30).text
    top = sql(hub, "schools", "SELECT pupils FROM DATA ORDER BY pupils DESC NULLS LAST LIMIT 3")
    assert [r[6] for r in cells(page, "preview-table")[:3]] == [f"{p:,}".replace(",", ".") for (p,) in top]
    assert 'aria-sort="descending"' in page
    # the header link flips the order
    assert "sort=pupils&amp;dir=asc" in page
    page = requests.get(f"{url}/dataset/schools", params={"col": "level", "val": "THPT", "lang": "en"}, timeout=30).text
    (count,) = sql(hub, "schools", "SELECT count(*) FROM DATA WHERE level = 'THPT'")[0]
    assert f"of {count:,}</p>" in page and {r[2] for r in cells(page, "preview-table")} == {"THPT"}
    page = requests.get(f"{url}/dataset/schools", params={"q": "tieu hoc", "sort": "school_code"}, timeout=30).text
    (count,) = sql(
        hub,
        "schools",
        "SELECT count(*) FROM DATA WHERE strip_accents(lower(name || ' ' || level || ' ' || coalesce(address, '') || ' ' || coalesce(commune_name, ''))) LIKE '%tieu hoc%'",
    )[0]
    assert f"trên {count:,}</p>".replace(",", ".") in page
    nothing = requests.get(f"{url}/dataset/schools", params={"col": "level", "val": "Đại học"}, timeout=30).text
    assert "Không có dòng nào khớp." in nothing and not cells(nothing, "preview-table")


def test_preview_refuses_unknown_columns_and_hides_non_open_datasets(charted: tuple[str, Settings]) -> None:
    url, _ = charted
    assert requests.get(f"{url}/dataset/schools?sort=citizen_id", timeout=30).status_code == 400
    assert requests.get(f"{url}/dataset/schools?col=nope&val=1", timeout=30).status_code == 400
    assert requests.get(f"{url}/dataset/schools?page=abc", timeout=30).status_code == 200
    assert requests.get(f"{url}/dataset/driving_licences", timeout=30).status_code == 404
    assert requests.get(f"{url}/dataset/no_such_dataset", timeout=30).status_code == 404


def test_example_calls_run_against_this_server(charted: tuple[str, Settings], tmp_path: Path) -> None:
    url, _ = charted
    page = requests.get(f"{url}/dataset/env_readings_monthly", timeout=30).text
    code = {
        name: html.unescape(re.search(rf'<pre id="example-{name}"><code>(.*?)</code></pre>', page, re.S).group(1))
        for name in ("curl", "ckanapi", "pandas", "duckdb")
    }
    assert all(url in snippet for snippet in code.values())
    assert f"'{url}/releases/env_readings_monthly/latest/env_readings_monthly.parquet'" in code["duckdb"]
    for name in ("ckanapi", "pandas"):
        done = subprocess.run([sys.executable, "-c", code[name]], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "station_code" in done.stdout
    if shutil.which("curl"):
        done = subprocess.run(code["curl"], shell=True, capture_output=True, text=True, timeout=60)
        assert '"success":true' in done.stdout and '"total":' in done.stdout


def test_vietnamese_dates_and_numbers(charted: tuple[str, Settings]) -> None:
    url, hub = charted
    release = latest_release(hub.home, "env_readings")
    assert release is not None and release.rows > 1000
    page = requests.get(f"{url}/dataset/env_readings", timeout=30).text
    assert f"{release.created_at:%d/%m/%Y %H:%M} UTC" in page
    assert f"trên {release.rows:,}</p>".replace(",", ".") in page
    assert re.search(r"<td>\d{2}/\d{2}/\d{4} \d{2}:\d{2}</td>", page)  # measured_at in the preview
    text = re.sub(r"<[^>]+>", " ", page.split('<h2 id="examples">')[0].split("</script>", 1)[1])
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text), "no ISO dates in what a reader sees"
    english = requests.get(f"{url}/dataset/env_readings?lang=en", timeout=30).text
    assert f"of {release.rows:,}</p>" in english and f"{release.created_at.day} {release.created_at:%b %Y}" in english


def test_release_diffs_count_added_removed_and_changed_rows(charted: tuple[str, Settings]) -> None:
    url, hub = charted
    codes = [r[0] for r in sql(hub, "schools", "SELECT school_code FROM DATA WHERE pupils < 9000 ORDER BY school_code")]
    with sqlite3.connect(hub.sandbox_dir / "education.sqlite") as db:
        single = {c for (c,) in db.execute("SELECT school_code FROM schools GROUP BY school_code HAVING count(*) = 1")}
        usable = [c for c in codes if c in single]
        removed, changed, template = usable[:3], usable[3:7], usable[7]
        db.executemany("DELETE FROM schools WHERE school_code = ?", [(c,) for c in removed])
        db.executemany("UPDATE schools SET pupils = pupils + 7 WHERE school_code = ?", [(c,) for c in changed])
        columns = [r[1] for r in db.execute("PRAGMA table_info(schools)")]
        row = dict(
            zip(columns, db.execute("SELECT * FROM schools WHERE school_code = ?", (template,)).fetchone(), strict=True)
        )
        for new_code in ("99990001", "99990002"):
            values = {**row, "school_code": new_code}
            db.execute(
                f"INSERT INTO schools ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                [values[c] for c in columns],
            )
    assert Pipeline(hub).run("schools").status == "published"
    page = requests.get(f"{url}/dataset/schools", timeout=30).text
    v2 = re.search(r'<li id="release-v2">.*?data-added="(\d+)" data-removed="(\d+)" data-changed="(\d+)"', page)
    assert v2 is not None and v2.groups() == ("2", "3", "4")
    assert "thêm 2, bớt 3, sửa 4" in page and "phiên bản đầu tiên" in page
    cached = list((releases_dir(hub.home, "schools") / "diffs").glob("v2-against-v1-*.json"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    requests.get(f"{url}/dataset/schools?lang=en", timeout=30).raise_for_status()
    assert cached[0].stat().st_mtime_ns == stamp  # computed once
    assert not list((releases_dir(hub.home, "schools") / "v2").glob("*diff*"))  # not shipped in the dump


def test_the_value_axis_covers_every_value() -> None:
    from lgsp.portal.svg import nice_ticks

    assert nice_ticks(0, 16540) == [0, 5000, 10000, 15000, 20000]
    assert nice_ticks(0, 15000) == [0, 5000, 10000, 15000]
    assert nice_ticks(-3.2, 7.9)[0] <= -3.2 and nice_ticks(-3.2, 7.9)[-1] >= 7.9
    assert nice_ticks(5, 5)[-1] >= 5  # one value still gets an axis


def test_a_release_that_cannot_be_read_does_not_break_the_page(charted: tuple[str, Settings]) -> None:
    url, hub = charted
    with sqlite3.connect(hub.sandbox_dir / "education.sqlite") as db:
        db.execute("UPDATE schools SET pupils = pupils + 1 WHERE school_code = (SELECT min(school_code) FROM schools)")
    assert Pipeline(hub).run("schools").status == "published"
    (releases_dir(hub.home, "schools") / "v1" / "schools.parquet").unlink()  # lost from disk
    page = requests.get(f"{url}/dataset/schools", timeout=30)
    assert page.status_code == 200 and "không so sánh được với phiên bản trước" in page.text
    assert not (releases_dir(hub.home, "schools") / "diffs").exists()  # nothing wrong was cached
    feed = requests.get(f"{url}/dataset/schools/feed.atom?lang=en", timeout=30)
    assert feed.status_code == 200 and "cannot be compared with the previous release" in feed.text
