"""The dataset page in a real headless Chromium: the dictionary, a chart with data marks, sorting
and filtering the preview by clicking, the example calls, dd/mm/yyyy dates and the English switch,
with every request the page makes staying on loopback (no CDN, no font, no tile server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from lgsp.core.settings import Settings
from lgsp.publishing.versions import latest_release, releases_dir
from tests.browser import CHROMIUM, chromium

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/install-chromium")


@pytest.fixture
def browser_page(served: tuple[str, Settings]) -> Iterator[tuple[object, list[str]]]:
    """A page and the list of every URL it requests."""
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        yield page, requested
        context.close()


def release_sql(settings: Settings, dataset_id: str, query: str) -> list[tuple]:
    release = latest_release(settings.home, dataset_id)
    assert release is not None
    path = releases_dir(settings.home, dataset_id) / f"v{release.version}" / release.distribution("parquet").file
    return duckdb.sql(query.replace("DATA", f"read_parquet('{path}')")).fetchall()


def test_dataset_page_in_chromium(served: tuple[str, Settings], browser_page) -> None:
    url, hub = served
    page, requested = browser_page
    page.goto(f"{url}/dataset/schools")
    # the dictionary
    dictionary = page.locator("#dictionary-table tbody tr")
    assert dictionary.count() == 9
    assert dictionary.nth(6).locator("td").all_inner_texts() == ["pupils", "Số học sinh", "số nguyên", "", "có"]
    # a chart: an inline SVG with one bar per school level
    bars = page.locator("#chart-bars svg .mark")
    assert bars.count() == 4 and page.locator("#chart-bars svg").is_visible()
    assert page.locator("#chart-bars figcaption").inner_text() == "Số học sinh (tổng) theo cấp học"
    # sorting: click the header twice, largest first
    page.locator("#preview-table th a", has_text="pupils").click()
    page.wait_for_url("**sort=pupils**dir=asc**")
    page.locator("#preview-table th a", has_text="pupils").click()
    page.wait_for_url("**dir=desc**")
    (largest,) = release_sql(hub, "schools", "SELECT max(pupils) FROM DATA")[0]
    first = page.locator("#preview-table tbody tr").first.locator("td").nth(6).inner_text()
    assert first == f"{largest:,}".replace(",", ".")
    # filtering with the form keeps the sort
    page.locator("#preview-filter select[name=col]").select_option("level")
    page.locator("#preview-filter input[name=val]").fill("THPT")
    page.locator("#preview-filter button").click()
    page.wait_for_url("**val=THPT**")
    (count,) = release_sql(hub, "schools", "SELECT count(*) FROM DATA WHERE level = 'THPT'")[0]
    assert page.locator("#preview-count").inner_text().endswith(f"trên {count}")
    levels = page.locator("#preview-table tbody tr td:nth-child(3)").all_inner_texts()
    assert levels and set(levels) == {"THPT"}
    pupils = [
        int(p.replace(".", "")) for p in page.locator("#preview-table tbody tr td:nth-child(7)").all_inner_texts() if p
    ]
    assert pupils == sorted(pupils, reverse=True)
    page.locator("#clear-filters").click()
    assert page.locator("#preview-count").inner_text().endswith("trên 780")
    # example calls against this server
    assert (
        f"curl '{url}/api/3/action/datastore_search?resource_id=schools" in page.locator("#example-curl").inner_text()
    )
    for name in ("ckanapi", "pandas", "duckdb"):
        assert url in page.locator(f"#example-{name}").inner_text()
    # Vietnamese dates
    created = page.locator("#releases .created").first.inner_text()
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", created), created
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2} UTC", page.locator("dl dd").nth(3).inner_text())
    # English
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#dictionary").inner_text() == "Data dictionary"
    assert page.locator("#chart-bars figcaption").inner_text() == "Pupils (total) by school level"
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", page.locator("#releases .created").first.inner_text())
    hosts = {urlsplit(u).hostname for u in requested}
    assert requested and hosts == {"127.0.0.1"}, requested


def test_time_series_and_choosing_what_it_shows(served: tuple[str, Settings], browser_page) -> None:
    url, hub = served
    page, requested = browser_page
    page.goto(f"{url}/dataset/price_observations?lang=en")
    points = page.locator("#chart-time svg circle.mark")
    assert points.count() > 1
    caption = page.locator("#chart-time figcaption").inner_text()
    assert caption.startswith("Price (VND) (mean) by observation date · Only item code = ")
    items = page.locator("#chart-choice select[name=chart_for] option").all_inner_texts()
    (expected,) = release_sql(hub, "price_observations", "SELECT count(DISTINCT item_code) FROM DATA")[0]
    assert len(items) == expected
    other = next(i for i in items if i not in caption)
    page.locator("#chart-choice select[name=chart_for]").select_option(other)
    page.locator("#chart-choice button").click()
    page.wait_for_url(f"**chart_for={other}**")
    assert page.locator("#chart-time figcaption").inner_text().endswith(f"= {other}")
    (days,) = release_sql(
        hub, "price_observations", f"SELECT count(DISTINCT observed_on) FROM DATA WHERE item_code = '{other}'"
    )[0]
    assert page.locator("#chart-time svg circle.mark").count() == days
    assert {urlsplit(u).hostname for u in requested} == {"127.0.0.1"}, requested
