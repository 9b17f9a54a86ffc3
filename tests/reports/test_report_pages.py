"""The portal's report pages in a real headless Chromium: the list, a report with its disputed
cell highlighted and each cell's sources on hover and in footnotes, the downloads matching their
checksums, the next version after the conflict is resolved; a report over non-open data is hidden."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.reports.run import build_reports
from lgsp.reports.versions import latest
from tests.conftest import serve
from tests.portal.test_portal_browser import CHROMIUM
from tests.portal.test_portal_browser import page as page
from tests.reports.test_reports import SENT, resolve_for_the_office


def _publish(hub: Settings) -> None:
    for dataset in ("ict_indicators", "online_public_services"):
        assert Pipeline(hub).run(dataset).status in ("published", "partial")
    build_reports(hub)


@pytest.fixture
def served(hub: Settings) -> Iterator[tuple[str, Settings]]:
    _publish(hub)
    for url, _app in serve(hub):
        yield url, hub


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/install-chromium")
def test_a_report_with_its_disputed_cell_sources_and_downloads(served: tuple[str, Settings], page) -> None:
    url, hub = served
    page.goto(f"{url}/")
    page.click("text=Báo cáo chỉ tiêu")
    assert page.locator("article.card").count() == 3
    assert "1 ô đang có hai số liệu khác nhau" in page.inner_text("#report-online_public_services")
    page.click("#report-online_public_services h2 a")
    assert page.inner_text("h1") == "Phụ lục II: Dịch vụ công trực tuyến năm 2024"
    assert "1 ô đang có hai số liệu khác nhau" in page.inner_text("#disputed")
    cell = page.locator("#cell-DVCTT_TOAN_TRINH_QG-2024")
    assert cell.get_attribute("data-status") == "disputed"
    assert cell.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 226, 225)"
    assert "777 (SKHCN)" in cell.inner_text() and "781 (VPUBND)" in cell.inner_text()
    hover = cell.get_attribute("title") or ""
    assert "chi_tieu_quang_tri_2024.csv:48" in hover and "dvc_quang_tri_2024.csv:2" in hover
    agreed = page.locator("#cell-DVCTT_TOAN_TRINH_TINH-2024")
    assert agreed.get_attribute("data-status") == "agreed" and agreed.inner_text().startswith("1.197")
    agreed.locator("sup a").click()  # the footnote names both files and lines
    note = page.locator("ol.notes li:target")
    assert "dvc_quang_tri_2024.csv:4" in note.inner_text() and "chi_tieu_quang_tri_2024.csv:46" in note.inner_text()
    made = latest(hub.home, SENT)
    assert made is not None
    for name in ("report.pdf", "report.xlsx"):
        with page.expect_download() as download:
            page.click(f"#downloads a:text-is('{name}')")
        data = Path(download.value.path()).read_bytes()
        expected = next(f.sha256 for f in made.files if f.name == name)
        assert hashlib.sha256(data).hexdigest() == expected
    page.click("text=English")
    assert "1 cells where the sources disagree" in page.inner_text("#disputed")
    assert "Disputed: sources differ" in page.inner_text("#cell-DVCTT_TOAN_TRINH_QG-2024")

    resolve_for_the_office(hub)
    build_reports(hub, [SENT])
    page.goto(f"{url}/reports/{SENT}")
    assert page.locator("#disputed").count() == 0
    resolved = page.locator("#cell-DVCTT_TOAN_TRINH_QG-2024")
    assert resolved.get_attribute("data-status") == "resolved" and resolved.inner_text().startswith("781")
    assert page.locator("#versions li").count() == 2
    page.click("#versions a:text-is('phiên bản 1')")
    assert page.locator("#cell-DVCTT_TOAN_TRINH_QG-2024").get_attribute("data-status") == "disputed"


def test_the_json_twins_and_a_report_over_data_that_is_not_open(hub: Settings, contracts_dir: Path) -> None:
    _publish(hub)
    for url, _app in serve(hub):
        listed = httpx.get(f"{url}/reports?format=json").json()["reports"]
        assert {r["code"] for r in listed} == {SENT, "ict_infrastructure", "digital_transformation"}
        shown = httpx.get(f"{url}/reports/{SENT}?format=json").json()
        assert shown["version"] == 1 and shown["lines"][1]["cells"][0]["status"] == "disputed"
        assert httpx.get(f"{url}/reports/{SENT}?version=9").status_code == 404
        assert httpx.get(f"{url}/reports/{SENT}/1/secrets.txt").status_code == 404
    path = contracts_dir / "online_public_services.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    path.write_text(yaml.safe_dump({**data, "classification": "shared"}, allow_unicode=True), "utf-8")
    for url, _app in serve(Settings.from_env()):
        listed = httpx.get(f"{url}/reports?format=json").json()["reports"]
        assert SENT not in {r["code"] for r in listed}  # it reads a shared dataset: not for the public
        assert httpx.get(f"{url}/reports/{SENT}").status_code == 404
        assert httpx.get(f"{url}/reports/{SENT}/1/report.pdf").status_code == 404
    shown = CliRunner().invoke(app, ["report", "show", SENT, "--json"])  # staff still see it
    assert shown.exit_code == 0 and json.loads(shown.output)["code"] == SENT
