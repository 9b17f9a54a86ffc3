"""Errors speak both languages: a browser asking for a portal page that is not there gets a page
(Vietnamese first, English with ?lang=en) with the right status; API clients keep CKAN's JSON
envelope, its message now bilingual too."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lgsp.app import create_app
from lgsp.core.settings import Settings
from tests.paths import REPO_ROOT

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LGSP_CONTRACTS", str(REPO_ROOT / "schemas" / "datasets"))
    return TestClient(create_app(Settings.from_env()))


@pytest.mark.parametrize("path", ["/dataset/no_such_dataset", "/publisher/nobody", "/no/such/page"])
def test_a_browser_gets_a_page_in_its_language(client: TestClient, path: str) -> None:
    vi = client.get(path, headers=BROWSER)
    assert vi.status_code == 404 and vi.headers["content-type"].startswith("text/html")
    assert "<h1>Không tìm thấy trang</h1>" in vi.text and "Mã lỗi HTTP 404" in vi.text
    assert "Không tìm thấy / Not found" in vi.text and '<html lang="vi"' in vi.text
    en = client.get(f"{path}?lang=en", headers=BROWSER)
    assert en.status_code == 404 and "<h1>Page not found</h1>" in en.text and "HTTP status 404" in en.text


def test_api_clients_keep_ckans_envelope_with_bilingual_messages(client: TestClient) -> None:
    shown = client.get("/api/3/action/package_show", params={"id": "nope"}, headers=BROWSER)
    assert shown.status_code == 404 and shown.json()["error"] == {
        "__type": "Not Found Error",
        "message": "Không tìm thấy / Not found",
    }
    missing = client.get("/api/3/action/resource_show")
    assert missing.status_code == 409 and missing.json()["error"]["id"] == ["Thiếu giá trị / Missing value"]
    page = client.get("/dataset/nope")  # no text/html in Accept: a script, not a browser
    assert page.status_code == 404 and page.json()["success"] is False
    unknown = client.get("/no/such/page")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
