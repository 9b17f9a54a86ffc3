"""The department pages over HTTP (the browser test drives the same pages in Chromium): staff of
one department send files, read receipts, download templates and decide held runs; another
department's staff get "not found" for all of it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from lgsp.app import create_app
from lgsp.core.settings import Settings
from lgsp.sharing.staff import add_staff
from tests.connectors.test_files import PRICES, ROWS, csv_bytes


@pytest.fixture
def hub_with_prices(hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    inbox = tmp_path / "inbox" / "stc"
    inbox.mkdir(parents=True)
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(inbox))
    (contracts_dir / "market_prices.yaml").write_text(yaml.safe_dump(PRICES, allow_unicode=True), encoding="utf-8")
    return Settings.from_env()


def logged_in(settings: Settings, username: str, department: str) -> TestClient:
    password = add_staff(settings, username, department)
    client = TestClient(create_app(settings), base_url="http://localhost")
    page = client.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/admin/login",
        data={"csrf": token, "username": username, "password": password, "next": "/department/"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/department/"
    return client


def token(client: TestClient) -> str:
    page = client.get("/department/")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def upload(client: TestClient, name: str, data: bytes, dataset: str = "market_prices", **extra: str) -> Any:
    return client.post(
        "/department/upload",
        data={"csrf": token(client), "dataset": dataset, **extra},
        files={"file": (name, data, "text/csv")},
        follow_redirects=False,
    )


def test_a_login_is_needed_and_leads_back(hub_with_prices: Settings) -> None:
    client = TestClient(create_app(hub_with_prices), base_url="http://localhost")
    answer = client.get("/department/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login?next=%2Fdepartment%2F"
    page = client.get(answer.headers["location"])
    assert 'name="next" value="/department/"' in page.text


def test_upload_receipt_template_and_the_english_switch(hub_with_prices: Settings) -> None:
    client = logged_in(hub_with_prices, "stc.lan", "STC")
    home = client.get("/department/")
    assert "market_prices" in home.text and "price_observations" in home.text and "schools" not in home.text
    rows = [r[:] for r in ROWS]
    rows[2][3] = "gần 15.000"
    sent = upload(client, "gia_thang_3.csv", csv_bytes(rows, "utf-8"))
    assert sent.status_code == 303, sent.text
    receipt = client.get(sent.headers["location"])
    assert "CÔNG BỐ MỘT PHẦN" in receipt.text and "gần 15.000" in receipt.text
    data = client.get(sent.headers["location"], params={"format": "json"}).json()
    assert (data["status"], data["rows_published"], data["rows_quarantined"]) == ("partial", 3, 1)
    assert data["sender"] == "staff:stc.lan" and data["channel"] == "upload"
    assert data["quarantined"][0]["line"] == 3
    english = client.get(sent.headers["location"], params={"lang": "en"})
    assert "Submission receipt" in english.text and "PARTLY PUBLISHED" in english.text
    assert "Send a data file" in client.get("/department/").text  # the choice is kept in the session
    template = client.get("/department/datasets/market_prices/template.xlsx")
    assert template.status_code == 200 and template.content.startswith(b"PK\x03\x04")
    listed = client.get("/department/", params={"format": "json"}).json()
    assert listed["submissions"][0]["name"] == "gia_thang_3.csv"
    (prices,) = [d for d in listed["datasets"] if d["id"] == "market_prices"]
    assert prices["last_run"]["status"] == "published" and prices["open_quarantine"] == 1


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("cu.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "save it as .xlsx"),
        ("gia.xlsx", b"Ma,Ten\n1,2\n", "is not really an .xlsx workbook"),
        ("gia.pdf", b"%PDF-1.4", "only .csv and .xlsx files"),
        ("trong.csv", b"", "the file is empty"),
        ("lon.csv", b"a" * 2048, "the file is too large"),
    ],
)
def test_uploads_that_are_refused_before_they_are_kept(
    hub_with_prices: Settings, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, reason: str
) -> None:
    monkeypatch.setenv("LGSP_UPLOAD_LIMIT", "1024")
    client = logged_in(hub_with_prices, "stc.lan", "STC")
    answer = upload(client, name, data)
    assert answer.status_code == 303 and "error=" in answer.headers["location"]
    assert reason in client.get(answer.headers["location"]).text
    assert client.get("/department/", params={"format": "json"}).json()["submissions"] == []


def test_a_workbook_that_unpacks_too_large_is_refused_before_it_is_read(
    hub_with_prices: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import zipfile

    monkeypatch.setenv("LGSP_UPLOAD_LIMIT", "100000")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as book:  # 2 MB of one character: compresses to ~2 kB
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/worksheets/sheet1.xml", "<" + "a" * 2_000_000 + ">")
    client = logged_in(hub_with_prices, "stc.lan", "STC")
    answer = upload(client, "gia.xlsx", bomb.getvalue())
    assert "unpack to 2 MB" in client.get(answer.headers["location"]).text
    assert client.get("/department/", params={"format": "json"}).json()["submissions"] == []


def test_a_form_without_the_sessions_token_is_refused(hub_with_prices: Settings) -> None:
    client = logged_in(hub_with_prices, "stc.lan", "STC")
    answer = client.post(
        "/department/upload",
        data={"csrf": "forged", "dataset": "market_prices"},
        files={"file": ("gia.csv", csv_bytes(ROWS, "utf-8"), "text/csv")},
        follow_redirects=False,
    )
    assert "form+expired" in answer.headers["location"] or "form%20expired" in answer.headers["location"]


def test_another_departments_staff_see_and_touch_nothing(hub_with_prices: Settings) -> None:
    owner = logged_in(hub_with_prices, "stc.lan", "STC")
    sent = upload(owner, "gia.csv", csv_bytes(ROWS, "utf-8"))
    receipt = sent.headers["location"]
    other = logged_in(hub_with_prices, "sgddt.an", "SGDDT")
    assert "market_prices" not in other.get("/department/").text
    assert other.get(receipt).status_code == 404
    assert other.get(receipt, params={"format": "json"}).status_code == 404
    assert other.get("/department/datasets/market_prices/template.xlsx").status_code == 404
    assert upload(other, "gia.csv", csv_bytes(ROWS, "utf-8")).status_code == 404
    assert other.get("/department/", params={"format": "json"}).json()["submissions"] == []


def test_a_held_run_is_decided_on_the_page(hub_with_prices: Settings, contracts_dir: Path) -> None:
    data = {**PRICES, "refresh": {"mode": "replace"}}
    (contracts_dir / "market_prices.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    client = logged_in(hub_with_prices, "stc.lan", "STC")
    upload(client, "day_du.csv", csv_bytes(ROWS, "utf-8"))
    held = client.get(upload(client, "mot_dong.csv", csv_bytes(ROWS[:2], "utf-8")).headers["location"])
    assert "CHỜ XEM XÉT" in held.text
    (prices,) = [d for d in client.get("/department/?format=json").json()["datasets"] if d["id"] == "market_prices"]
    (run_id,) = prices["held"]
    decided = client.post(
        f"/department/datasets/market_prices/review/{run_id}",
        data={"csrf": token(client), "decision": "publish"},
        follow_redirects=False,
    )
    assert "message=" in decided.headers["location"]
    (prices,) = [d for d in client.get("/department/?format=json").json()["datasets"] if d["id"] == "market_prices"]
    assert prices["held"] == [] and prices["last_run"]["rows_published"] == 1
