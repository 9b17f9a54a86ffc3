"""The department flow in a real headless Chromium (Debian's): a department's staff log in, upload
a dirty workbook, read the receipt, download the correction sheet, fix it (with openpyxl, as
someone would in Excel), upload it and see the release; retract a row and see it gone from the
next release; another department's staff can neither see nor touch any of it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from lgsp.core.settings import Settings
from lgsp.publishing.versions import latest_release, releases_dir
from lgsp.sharing.staff import add_staff
from tests.browser import CHROMIUM, chromium
from tests.conftest import serve, warehouse_rows
from tests.connectors.test_files import PRICES, ROWS

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/install-chromium")


@pytest.fixture
def live(
    hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, str]]:
    inbox = tmp_path / "inbox" / "stc"
    inbox.mkdir(parents=True)
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(inbox))
    (contracts_dir / "market_prices.yaml").write_text(yaml.safe_dump(PRICES, allow_unicode=True), encoding="utf-8")
    settings = Settings.from_env()
    for url, _ in serve(settings):
        yield settings, url


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def log_in(browser: Any, url: str, username: str, password: str) -> Any:
    page = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True).new_page()  # a phone
    page.goto(f"{url}/department/")
    page.get_by_label("Tên đăng nhập / Username").fill(username)
    page.get_by_label("Mật khẩu / Password").fill(password)
    page.get_by_role("button", name="Đăng nhập / Log in").click()
    assert page.url.endswith("/department/"), page.url
    return page


def dirty_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["BÁO CÁO GIÁ CHỢ THÁNG 3/2024"])  # a title row above the header
    sheet.append(ROWS[0])
    for i, row in enumerate(ROWS[1:]):
        cells: list[Any] = list(row)
        if i == 1:
            cells[3] = "gần 104"  # no qualifier column for prices: quarantined
        if i == 3:
            cells[3] = "45-46"  # a range: quarantined
        sheet.append(cells)
    book.save(path)
    return path


def release_csv(settings: Settings) -> dict[str, dict[str, str]]:
    release = latest_release(settings.home, "market_prices")
    assert release is not None
    path = releases_dir(settings.home, "market_prices") / f"v{release.version}" / "market_prices.csv"
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    return {r["ma_mat_hang"]: r for r in rows}


def test_a_department_sends_fixes_and_retracts_and_another_cannot_touch_it(
    live: tuple[Settings, str], browser: Any, tmp_path: Path
) -> None:
    settings, url = live
    page = log_in(browser, url, "stc.lan", add_staff(settings, "stc.lan", "STC"))
    assert "market_prices" in page.locator("#datasets").inner_text()

    # 1. upload a dirty workbook and read the receipt
    page.get_by_label("Bộ dữ liệu", exact=True).and_(page.locator("select")).select_option("market_prices")
    page.get_by_label("Tệp CSV hoặc Excel (.xlsx)").set_input_files(str(dirty_workbook(tmp_path / "gia_t3.xlsx")))
    page.get_by_role("button", name="Gửi").click()
    assert "CÔNG BỐ MỘT PHẦN" in page.locator("#outcome").inner_text()
    assert (page.locator("#published").inner_text(), page.locator("#quarantined").inner_text()) == ("2", "2")
    quarantined = page.locator("#quarantined-rows").inner_text()
    assert "gần 104" in quarantined and "45-46" in quarantined and "is a range" in quarantined
    receipt_url = page.url

    # 2. download the correction sheet, fix it, send it back
    with page.expect_download() as download:
        page.locator("#corrections-link").click()
    sheet_path = tmp_path / download.value.suggested_filename
    download.value.save_as(sheet_path)
    book = openpyxl.load_workbook(sheet_path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    price, code = header.index("Giá (đồng)") + 1, header.index("Mã mặt hàng") + 1
    fixed = {"G02": 103.97, "G04": 45000}
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row, price).value = fixed[sheet.cell(row, code).value]
    book.save(sheet_path)
    page.goto(f"{url}/department/")
    page.get_by_label("Bộ dữ liệu", exact=True).and_(page.locator("select")).select_option("market_prices")
    page.get_by_label("Tệp CSV hoặc Excel (.xlsx)").set_input_files(str(sheet_path))
    page.get_by_role("button", name="Gửi").click()
    assert "ĐÃ CÔNG BỐ" in page.locator("#outcome").inner_text()
    assert page.locator("#published").inner_text() == "2"

    # 3. the release has every row, the corrected ones as fixed
    released = release_csv(settings)
    assert set(released) == {"G01", "G02", "G03", "G04"}
    assert (released["G02"]["gia"], released["G04"]["gia"]) == ("103.97", "45000")

    # 4. retract a row on the dataset page: gone from the next release
    page.goto(f"{url}/department/datasets/market_prices")
    form = page.locator("#retract")
    form.get_by_label("ma_mat_hang").fill("G01")
    form.get_by_label("Lý do").fill("Nhập nhầm mặt hàng")
    form.get_by_role("button", name="Rút lại").click()
    assert "retract" in page.locator("#message").inner_text()
    assert "G01" not in release_csv(settings)
    assert "Nhập nhầm mặt hàng" in page.locator("#history").inner_text()

    # 5. another department's staff see and touch none of it
    other = log_in(browser, url, "sgddt.an", add_staff(settings, "sgddt.an", "SGDDT"))
    assert "market_prices" not in other.content()
    assert other.goto(receipt_url).status == 404
    assert other.goto(f"{url}/department/datasets/market_prices").status == 404
    assert other.goto(f"{url}/department/datasets/market_prices/corrections.xlsx").status == 404
    token = other.goto(f"{url}/department/").text() and other.locator('input[name="csrf"]').first.get_attribute("value")
    refused = other.request.post(
        f"{url}/department/datasets/market_prices/retract",
        form={"csrf": token or "", "key.ma_mat_hang": "G03", "why": "x"},
        max_redirects=0,
    )
    assert refused.status == 404
    assert warehouse_rows(settings, "SELECT count(*) FROM main.market_prices WHERE ma_mat_hang = 'G03'") == [(1,)]
