"""`/api/docs` works with no way out: Swagger UI's script and style come from the hub itself, and
in Chromium the page renders the API with no request leaving loopback."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from lgsp.core.settings import Settings
from tests.browser import CHROMIUM, chromium


def test_docs_reference_only_local_assets(served: tuple[str, Settings]) -> None:
    url, _ = served
    page = requests.get(f"{url}/api/docs", timeout=30)
    assert page.status_code == 200
    references = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text) + re.findall(r"url: ?['\"]([^'\"]+)", page.text)
    assert references and all(r.startswith("/") and not r.startswith("//") for r in references), references
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        answer = requests.get(f"{url}/api/docs/assets/{asset}", timeout=30)
        assert answer.status_code == 200 and len(answer.content) > 10_000
    assert requests.get(f"{url}/api/docs/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd", timeout=30).status_code == 404
    assert requests.get(f"{url}/redoc", timeout=30).status_code == 404  # ReDoc would load from a CDN: off
    assert requests.get(f"{url}/api/openapi.json", timeout=30).json()["openapi"].startswith("3.")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/install-chromium")
def test_docs_render_offline_in_chromium(served: tuple[str, Settings]) -> None:
    url, _ = served
    seen: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("request", lambda request: seen.append(request.url))
        page.goto(f"{url}/api/docs")
        page.locator(".swagger-ui .info .title").wait_for(timeout=20_000)
        assert "lgsp-hub" in page.locator(".swagger-ui .info .title").inner_text()
        page.locator(".opblock-summary-path", has_text="/api/3/action/{action}").first.wait_for(timeout=20_000)
    hosts = {urlparse(u).hostname for u in seen if urlparse(u).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}, seen  # nothing left loopback
