"""The portal in a real headless Chromium (Debian's, driven by Playwright): search, open a dataset,
page the preview, switch language, download a file whose checksum matches, and a phone screen."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lgsp.core.settings import Settings
from tests.browser import CHROMIUM, chromium

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/install-chromium")


@pytest.fixture
def page(served: tuple[str, Settings], tmp_path: Path) -> Iterator[object]:
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        context.close()


def test_search_open_preview_and_download(served: tuple[str, Settings], page, tmp_path: Path) -> None:
    url, _ = served
    page.goto(f"{url}/")
    assert page.locator("html").get_attribute("lang") == "vi"
    page.get_by_label("Tìm bộ dữ liệu").fill("truong hoc")  # no diacritics, as people type
    page.get_by_label("Tìm bộ dữ liệu").press("Enter")
    assert page.locator("#result-count").inner_text() == "1 bộ dữ liệu"
    page.get_by_role("link", name="Danh sách cơ sở giáo dục").click()
    assert page.locator("h1").inner_text() == "Danh sách cơ sở giáo dục"
    quality = page.locator("#quality").inner_text()
    assert "780 dòng được công bố · 20 dòng bị cách ly" in quality and "kiểm tra" in quality, quality
    assert page.get_by_role("link", name="báo cáo kiểm tra").get_attribute("href").startswith("/reports/schools/cli__")
    rows = page.locator("#preview ~ div table tbody tr")
    assert rows.count() == 20
    first_code = rows.first.locator("td").first.inner_text()
    next_link = page.get_by_role("link", name="Trang sau →")
    next_link.focus()
    page.keyboard.press("Enter")  # keyboard navigation works
    page.wait_for_url("**page=2**")
    assert page.locator("#preview ~ div table tbody tr").first.locator("td").first.inner_text() != first_code
    structured = json.loads(page.locator('script[type="application/ld+json"]').inner_text())
    assert structured["@type"] == "Dataset" and structured["identifier"] == "schools"
    checksum = page.locator("#downloads ~ div table tbody tr").first.locator("code").inner_text()
    with page.expect_download() as info:
        page.locator("#downloads ~ div").get_by_role("link", name="CSV", exact=True).click()
    saved = tmp_path / "schools.csv"
    info.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == checksum
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en" and page.locator("h1").inner_text() == "Schools"


def test_facets_and_publisher_pages(served: tuple[str, Settings], page) -> None:
    url, _ = served
    page.goto(f"{url}/?lang=en")
    assert page.locator("#result-count").inner_text() == "3 datasets"
    page.locator("aside").get_by_role("link", name="Department of Finance").click()
    assert page.locator("#result-count").inner_text() == "1 datasets"
    page.get_by_role("link", name="Market prices of essential goods").click()
    page.get_by_role("link", name="Department of Finance").first.click()
    assert page.locator("h1").inner_text() == "Department of Finance"


def test_usable_on_a_phone(served: tuple[str, Settings], page, tmp_path: Path) -> None:
    url, _ = served
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{url}/dataset/price_observations")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page must not scroll sideways on a phone (tables scroll inside their box)"
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=False)
