"""The admin pages in a real headless Chromium (Debian's): a department's staff log in, grant an
agency one commune of their dataset through the form, and the agency reads exactly that through
the API; revoking and refusing work from the page; staff see only their own department."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lgsp.sharing import consumers
from lgsp.sharing.grants import list_grants
from lgsp.sharing.requests import add_request
from lgsp.sharing.staff import add_staff
from lgsp.warehouse.store import Warehouse
from tests.browser import CHROMIUM, chromium
from tests.sharing.conftest import Hub

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/install-chromium")


@pytest.fixture
def page(live: Hub) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context()
        yield context.new_page()
        context.close()


def log_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/admin/")
    page.get_by_label("Tên đăng nhập / Username").fill(username)
    page.get_by_label("Mật khẩu / Password").fill(password)
    page.get_by_role("button", name="Đăng nhập / Log in").click()


def test_login_grant_read_revoke_refuse(live: Hub, page: Any) -> None:
    settings, url = live.settings, live.url
    password = add_staff(settings, "sxd", "SXD")
    consumers.add_consumer(settings, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "a@example.gov.vn", "provincial")
    key = consumers.issue_key(settings, "TTPVHCC")
    with Warehouse(settings).reader() as con:
        commune = con.execute("SELECT min(commune_code) FROM main.driving_licences").fetchone()[0]

    log_in(page, url, "sxd", "wrong password")
    assert "Sai tên đăng nhập" in page.get_by_role("alert").inner_text()
    log_in(page, url, "sxd", password)
    assert "SXD" in page.locator("header").inner_text()
    assert "driving_licences" in page.locator("#datasets").inner_text()
    assert "schools" not in page.locator("#datasets").inner_text()  # another department's

    form = page.locator("#new-grant")
    form.get_by_label("Cơ quan khai thác / Consumer").select_option("TTPVHCC")
    form.get_by_label("Bộ dữ liệu / Dataset").select_option("driving_licences")
    form.locator("#columns").fill("licence_no, licence_class, commune_code")
    form.locator("#row_filter").fill(f"commune_code={commune}")
    form.get_by_label("Mục đích / Purpose").fill("Giải quyết thủ tục hành chính")
    form.get_by_role("button", name="Cấp quyền / Grant").click()
    assert "TTPVHCC → driving_licences" in page.locator("#message").inner_text()
    assert f"commune_code ∈ {commune}" in page.locator("#grants").inner_text()

    rows = "/api/share/v1/datasets/driving_licences/rows"
    with httpx.Client(base_url=url, headers={"X-API-Key": key}) as api:
        body = api.get(rows, params={"limit": 1000}).json()
        assert body["fields"] == ["licence_no", "licence_class", "commune_code"]
        assert body["rows"] and {r["commune_code"] for r in body["rows"]} == {commune}

        page.locator("#grants").get_by_role("button", name="Thu hồi / Revoke").first.click()
        assert "revoked" in page.locator("#message").inner_text()
        assert api.get(rows).status_code == 403

    add_request(settings, "TTPVHCC", "driving_licences", "Đối chiếu hồ sơ")
    page.reload()
    requests = page.locator("#requests")
    assert "Đối chiếu hồ sơ" in requests.inner_text() and "pending" in requests.inner_text()
    requests.get_by_label("Lý do / Reason").fill("Chưa có văn bản đề nghị")
    requests.get_by_role("button", name="Từ chối / Refuse").click()
    assert "refused: Chưa có văn bản đề nghị" in page.locator("#requests").inner_text()
    assert page.request.get(f"{url}/admin/?format=json").json()["requests"][0]["status"] == "refused"

    page.get_by_role("button", name="Đăng xuất / Log out").click()
    page.goto(f"{url}/admin/")
    assert page.url.endswith("/admin/login")


def test_staff_manage_only_their_departments_datasets(live: Hub) -> None:
    password = add_staff(live.settings, "sgddt", "SGDDT")
    with httpx.Client(base_url=live.url, follow_redirects=True) as browser:
        page = browser.get("/admin/login").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        browser.post("/admin/login", data={"csrf": csrf, "username": "sgddt", "password": password})
        csrf = browser.get("/admin/").text.split('name="csrf" value="')[1].split('"')[0]  # a new session's
        data = browser.get("/admin/", params={"format": "json"}).json()
        # both datasets of the education department (schools_by_commune is derived from schools)
        assert [d["id"] for d in data["datasets"]] == ["schools", "schools_by_commune"]
        assert all(g["dataset"] == "schools" for g in data["grants"])
        refused = browser.post("/admin/grants", data={"csrf": csrf, "consumer": "TTPVHCC", "dataset": "driving_licences",
                                                      "purpose": "x"})  # fmt: skip
        assert "not one of your department" in refused.text
        forged = browser.post("/admin/grants", data={"csrf": "forged", "consumer": "TTPVHCC", "dataset": "schools",
                                                     "purpose": "x"})  # fmt: skip
        assert "form expired" in forged.text
    assert httpx.get(f"{live.url}/admin/", follow_redirects=False).status_code == 303  # not logged in


def test_a_form_needs_the_sessions_own_token_right_after_login(live: Hub) -> None:
    """Issue 14, point 5: right after login the session had no token and the fallback `-` passed."""
    password = add_staff(live.settings, "sgddt2", "SGDDT")
    with httpx.Client(base_url=live.url, follow_redirects=True) as browser:
        assert _try_login(browser, "sgddt2", password).url.path == "/admin/"
        for forged in ("-", "", "forged"):
            answer = browser.post("/admin/grants", data={"csrf": forged, "consumer": "TTPVHCC", "dataset": "schools",
                                                         "purpose": "x"})  # fmt: skip
            assert "form expired" in answer.text, forged
        assert not [g for g in list_grants(live.settings) if g.granted_by == "sgddt2"]


def _try_login(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    csrf = browser.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
    return browser.post("/admin/login", data={"csrf": csrf, "username": username, "password": password})


def test_repeated_wrong_passwords_lock_the_login_for_a_while(live: Hub) -> None:
    """Five wrong passwords within 15 minutes refuse even the right one, for that username only;
    unknown usernames are counted alike, so the answer does not tell which exist."""
    from lgsp.sharing import registry
    from lgsp.sharing.staff import LOCKOUT_FAILURES, LOCKOUT_WINDOW

    password = add_staff(live.settings, "sgddt", "SGDDT")
    other = add_staff(live.settings, "snnmt", "SNNMT")
    with httpx.Client(base_url=live.url, follow_redirects=True) as browser:
        for _ in range(LOCKOUT_FAILURES):
            assert "Wrong username or password" in _try_login(browser, "sgddt", "guess").text
            assert "Wrong username or password" in _try_login(browser, "nobody", "guess").text
        for username in ("sgddt", "nobody"):
            refused = _try_login(browser, username, password)
            assert "Too many failed logins" in refused.text and refused.url.path == "/admin/login"
        assert _try_login(browser, "snnmt", other).url.path == "/admin/"  # another login is untouched

    # a quarter of an hour later the failures have aged out (moved back here, not waited for)
    earlier = registry.stamp(registry.now() - LOCKOUT_WINDOW)
    with registry.transaction(live.settings) as con:
        registry.run(con, "UPDATE login_failures SET at = :at", at=earlier)
    with httpx.Client(base_url=live.url, follow_redirects=True) as browser:
        assert _try_login(browser, "sgddt", password).url.path == "/admin/"
    with registry.transaction(live.settings) as con:
        assert registry.value(con, "SELECT count(*) FROM login_failures WHERE username = 'sgddt'") == 0
