"""The file-drop connector: Vietnamese number formats and legacy encodings, archive, re-drop, set-aside."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lgsp_sandbox.departments.ict import csv_path

from lgsp.connectors.encodings import encode
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.submissions import ledger
from lgsp.submissions.archive import Archive, sha256
from lgsp.warehouse.store import Warehouse
from tests.conftest import warehouse_rows

PRICES = {
    "id": "market_prices",
    "title": {"vi": "Giá chợ", "en": "Market prices"},
    "description": {"vi": "Giá chợ do phòng kinh tế gửi", "en": "Market prices sent by district offices"},
    "publisher": {"code": "STC", "name": {"vi": "Sở Tài chính", "en": "Department of Finance"}},
    "source": {"kind": "files", "connection": "price_inbox", "pattern": ["*.csv", "*.xlsx"]},
    "primary_key": ["ma_mat_hang"],
    "columns": [
        {"name": "ma_mat_hang", "type": "string", "source": "Mã mặt hàng", "description": {"vi": "Mã", "en": "Code"}},
        {"name": "ten", "type": "string", "source": "Tên mặt hàng", "description": {"vi": "Tên", "en": "Name"}},
        {"name": "xa", "type": "string", "source": "Xã/phường", "description": {"vi": "Xã", "en": "Commune"}},
        {"name": "gia", "type": "number", "source": "Giá (đồng)", "description": {"vi": "Giá", "en": "Price"}},
        {"name": "so_luong", "type": "integer", "source": "Số lượng", "description": {"vi": "SL", "en": "Qty"}},
        {"name": "ngay", "type": "date", "source": "Ngày", "description": {"vi": "Ngày", "en": "Date"}},
        {
            "name": "muc_do",
            "type": "string",
            "qualifier_of": "so_luong",
            "description": {"vi": "Từ chỉ mức độ", "en": "Qualifier"},
        },
    ],
    "classification": "open",
    "licence": {"id": "CC-BY-4.0", "title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    "update_frequency": "monthly",
    "theme": ["ECON"],
}
ROWS = [
    ["Mã mặt hàng", "Tên mặt hàng", "Xã/phường", "Giá (đồng)", "Số lượng", "Ngày"],
    ["G01", "Gạo tẻ thường", "Phường Đông Hà", "15.500", "1.305.471", "05/03/2024"],
    ["G02", "Thịt lợn hơi", "Xã Hải Lăng", "103,97", "hơn 2.000", "06/03/2024"],
    ["G03", "Cá nục", "Đặc khu Cồn Cỏ", "96,876", "gần 14", "07/03/2024"],
    ["G04", "Nước mắm Cửa Tùng", "Xã Vĩnh Linh", "45.000", "...", "08/03/2024"],
]
EXPECTED = {
    "G01": ("Gạo tẻ thường", "Phường Đông Hà", 15500.0, 1305471, None, "2024-03-05"),
    "G02": ("Thịt lợn hơi", "Xã Hải Lăng", 103.97, 2000, "more_than", "2024-03-06"),
    "G03": ("Cá nục", "Đặc khu Cồn Cỏ", 96.876, 14, "nearly", "2024-03-07"),
    "G04": ("Nước mắm Cửa Tùng", "Xã Vĩnh Linh", 45000.0, None, None, "2024-03-08"),
}


@pytest.fixture
def inbox(hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "inbox" / "stc"
    folder.mkdir(parents=True)
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(folder))
    (contracts_dir / "market_prices.yaml").write_text(yaml.safe_dump(PRICES, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture
def hub(hub: Settings, contracts_dir: Path) -> Settings:
    """The hub, reading its contracts from the test's private, editable copy."""
    return Settings.from_env()


def csv_bytes(rows: list[list[str]], encoding: str, delimiter: str = ",") -> bytes:
    text = "\r\n".join(delimiter.join(f'"{c}"' if delimiter in c else c for c in row) for row in rows) + "\r\n"
    return encode(text, encoding) if encoding not in ("utf-8", "utf-8-sig") else text.encode(encoding)


table = warehouse_rows


def prices(hub: Settings) -> dict[str, tuple[Any, ...]]:
    rows = table(
        hub, "SELECT ma_mat_hang, ten, xa, gia, so_luong, muc_do, CAST(ngay AS VARCHAR) FROM main.market_prices"
    )
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("windows-1258", ";"), ("tcvn3", ","), ("vni", "\t")],
)
def test_each_encoding_and_number_format_loads_correctly(
    hub: Settings, inbox: Path, encoding: str, delimiter: str
) -> None:
    (inbox / f"gia_{encoding}.csv").write_bytes(csv_bytes(ROWS, encoding, delimiter))
    run = Pipeline(hub).run("market_prices")
    assert run.status == "published", run.error
    assert run.rows_extracted == 4 and run.rows_quarantined == 0
    assert prices(hub) == EXPECTED
    report = json.loads(Path(run.report).with_suffix(".json").read_text(encoding="utf-8"))
    files = report["source_notes"]["submissions"]
    assert files[0]["encoding"].replace("_", "-").lower().startswith(encoding.split("-sig")[0].lower()[:4])
    # 96,876 in a column whose other values write decimals with ',' was read as 96.876, and said so
    decided = report["source_notes"]["decisions"]
    assert {(d["row"], d["column"], d["text"], d["read_as"]) for d in decided} >= {(4, "gia", "96,876", "96.876")}


def test_nfd_text_becomes_nfc(hub: Settings, inbox: Path) -> None:
    import unicodedata

    nfd = [[unicodedata.normalize("NFD", c) for c in row] for row in ROWS]
    (inbox / "gia_nfd.csv").write_bytes(csv_bytes(nfd, "utf-8"))
    run = Pipeline(hub).run("market_prices")
    assert run.status == "published", run.error
    assert prices(hub) == EXPECTED


def test_xlsx_with_legacy_font_cells(hub: Settings, inbox: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(ROWS[0])
    for row in ROWS[1:]:
        cells: list[Any] = list(row)
        cells[1] = encode(row[1], "tcvn3").decode("latin-1")  # typed in a .VnTime font
        sheet.append(cells)
    book.save(inbox / "gia.xlsx")
    run = Pipeline(hub).run("market_prices")
    assert run.status == "published", run.error
    assert prices(hub) == EXPECTED


def test_xlsx_numbers_typed_as_numbers_are_read_as_they_are(hub: Settings, inbox: Path) -> None:
    """A workbook cell holding the number 9.748 is nine point seven four eight: only text is read
    the Vietnamese way (where `9.748` would be 9748), and numbers held as numbers are no evidence
    of how the file writes its text (`2.000` beside them is still two thousand)."""
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(ROWS[0])
    typed = [("G01", 9.748, 14), ("G02", 0.125, 1305471), ("G03", 1e-05, 3), ("G04", 45000, 2), ("G05", 12.5, 1)]
    for code, price, quantity in [*typed, ("G06", "2.000", 6)]:
        sheet.append([code, "Gạo", "Xã Hải Lăng", price, quantity, dt.date(2024, 3, 5)])
    book.save(inbox / "gia.xlsx")
    run = Pipeline(hub).run("market_prices")
    assert run.status == "published", run.error
    expected = {c: (p, q) for c, p, q in typed} | {"G06": (2000.0, 6)}
    assert {k: (v[2], v[3]) for k, v in prices(hub).items()} == expected


def test_every_file_is_archived_by_content_and_a_resent_file_is_read_again(hub: Settings, inbox: Path) -> None:
    data = csv_bytes(ROWS, "windows-1258", ";")
    (inbox / "gia_thang_3.csv").write_bytes(data)
    pipeline = Pipeline(hub)
    first = pipeline.run("market_prices")
    assert first.status == "published" and first.rows_published == 4
    assert not (inbox / "gia_thang_3.csv").exists()
    assert Archive(hub).get(sha256(data)) == data
    with Warehouse(hub).reader() as con:
        (taken,) = ledger.of_run(con, "market_prices", first.run_id)
    assert (taken.name, taken.status, taken.rows_total, taken.rows_published) == ("gia_thang_3.csv", "published", 4, 4)
    before = table(hub, "SELECT * EXCLUDE (_lgsp_submission, _lgsp_origin) FROM main.market_prices ORDER BY 1")

    (inbox / "gia_gui_lai.csv").write_bytes(data)  # the same file sent again, under another name
    second = pipeline.run("market_prices")
    assert second.status == "published" and second.rows_extracted == 4  # a submission, read again
    assert table(hub, "SELECT * EXCLUDE (_lgsp_submission, _lgsp_origin) FROM main.market_prices ORDER BY 1") == before
    with Warehouse(hub).reader() as con:
        (again,) = ledger.of_run(con, "market_prices", second.run_id)
    assert again.same_as == taken.id and again.id > taken.id
    assert len(list((hub.submissions_dir / "archive").rglob("*"))) == 2  # one folder, one copy of the bytes

    changed = [r[:] for r in ROWS]
    changed[1][3] = "16.000"
    (inbox / "gia_thang_3_sua.csv").write_bytes(csv_bytes(changed, "utf-8"))
    third = pipeline.run("market_prices")
    assert third.mode == "incremental" and third.rows_extracted == 4
    assert prices(hub)["G01"][2] == 16000.0
    assert len(table(hub, "SELECT * FROM main.market_prices")) == 4
    receipts = sorted((inbox / "receipts").iterdir())
    assert len(receipts) == 3 and "ĐÃ CÔNG BỐ / PUBLISHED" in receipts[-1].read_text(encoding="utf-8")


def test_a_publish_retried_after_the_receipt_failed_publishes_nothing_twice(hub: Settings, inbox: Path) -> None:
    """The warehouse transaction committed, then writing the receipt failed: the retried task (as
    Airflow retries it) writes it, and the data and the run record stay as they were."""
    (inbox / "gia.csv").write_bytes(csv_bytes(ROWS, "utf-8"))
    pipeline = Pipeline(hub)
    pipeline.extract("market_prices", "r1")
    pipeline.validate("market_prices", "r1")
    (inbox / "receipts").write_text("not a folder")  # the receipts folder cannot be made
    with pytest.raises(FileExistsError):
        pipeline.publish("market_prices", "r1")
    published = table(hub, "SELECT * FROM main.market_prices ORDER BY 1")
    assert len(published) == 4

    (inbox / "receipts").unlink()
    run = pipeline.publish("market_prices", "r1")
    assert run.status == "published" and run.rows_published == 4
    assert len(list((inbox / "receipts").iterdir())) == 1
    assert table(hub, "SELECT * FROM main.market_prices ORDER BY 1") == published
    assert table(hub, "SELECT count(*) FROM meta.runs WHERE run_id = 'r1'") == [(1,)]
    assert pipeline.publish("market_prices", "r1").status == "published"  # and again: nothing to do


def test_unreadable_files_are_rejected_with_a_receipt(hub: Settings, inbox: Path) -> None:
    (inbox / "a_good.csv").write_bytes(csv_bytes(ROWS, "utf-8"))
    missing_key = [[c for i, c in enumerate(r) if i != 0] for r in ROWS]
    (inbox / "b_no_key.csv").write_bytes(csv_bytes(missing_key, "utf-8"))
    ragged = [r[:] for r in ROWS]
    ragged[3] = ragged[3] + ["thừa", "nữa"]
    (inbox / "c_ragged.csv").write_bytes(csv_bytes(ragged, "utf-8"))
    (inbox / "d_broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    dropped = {p.name: p.read_bytes() for p in inbox.iterdir()}
    run = Pipeline(hub).run("market_prices")
    assert run.status == "partial", run.error  # the good file is published, three were rejected
    assert (run.rows_extracted, run.rows_published, run.rows_rejected) == (12, 4, 8)
    receipts = {p.name.split("__", 2)[2]: p.read_text(encoding="utf-8") for p in (inbox / "receipts").iterdir()}
    assert set(receipts) == {"a_good.csv.txt", "b_no_key.csv.txt", "c_ragged.csv.txt", "d_broken.xlsx.txt"}
    assert "missing column(s) 'Mã mặt hàng'" in receipts["b_no_key.csv.txt"]
    assert "dòng / row 4: 8 giá trị cho 6 cột / values for 6 columns" in receipts["c_ragged.csv.txt"]
    assert "not a readable XLSX workbook" in receipts["d_broken.xlsx.txt"]
    assert "BỊ TỪ CHỐI / REJECTED" in receipts["d_broken.xlsx.txt"]
    # nothing lost: every dropped file is in the archive, byte for byte
    assert all(Archive(hub).get(sha256(data)) == data for data in dropped.values())
    assert [p for p in inbox.iterdir() if p.is_file()] == []


def test_values_that_are_not_numbers_are_quarantined_with_file_and_line(hub: Settings, inbox: Path) -> None:
    rows = [r[:] for r in ROWS]
    rows[2][3] = "C"
    rows[4][4] = "1-2"
    (inbox / "gia.csv").write_bytes(csv_bytes(rows, "utf-8"))
    run = Pipeline(hub).run("market_prices")
    assert run.status == "published"  # rows quarantined, every file read
    assert (run.rows_published, run.rows_quarantined) == (2, 2)
    quarantined = table(
        hub, "SELECT ma_mat_hang, gia, so_luong, _lgsp_origin, _reasons FROM quarantine.market_prices ORDER BY 1"
    )
    assert [(q[0], q[1], q[2], q[3]) for q in quarantined] == [
        ("G02", "C", "hơn 2.000", "gia.csv:3"),
        ("G04", "45.000", "1-2", "gia.csv:5"),  # as typed
    ]
    assert "'C' không phải là số / is not a number" in quarantined[0][4]
    assert "'1-2' là một khoảng giá trị, không phải một số / is a range, not one number" in quarantined[1][4]


def test_the_ict_department_drop_loads_the_real_indicators(hub: Settings) -> None:
    run = Pipeline(hub).run("ict_indicators")
    assert run.status == "published", run.error
    assert run.rows_extracted == 345
    assert run.rows_extracted == run.rows_published + run.rows_quarantined
    with csv_path().open(encoding="utf-8", newline="") as handle:
        original = {(r["province"], r["period"], r["indicator_vi"]): r for r in csv.DictReader(handle)}
    loaded = table(hub, "SELECT province, period, indicator_vi, value, value_qualifier, unit FROM main.ict_indicators")
    assert len(loaded) == 345 - 3  # 'C', '1-2' and '3-4' are not numbers: quarantined
    for province, period, indicator, value, qualifier, unit in loaded:
        source = original[(province, period, indicator)]  # text intact through TCVN3, 1258 and XLSX
        assert value == pytest.approx(float(source["value"])), (indicator, value, source["value"])
        assert unit == source["unit"]
        expected = (
            "more_than"
            if "('more than')" in source["indicator_en"]
            else "nearly"
            if "('nearly')" in source["indicator_en"]
            else None
        )
        assert qualifier == expected
    inbox = hub.sandbox_dir / "inbox" / "skhcn"
    assert len(list((inbox / "receipts").glob("*__chi_tieu_*"))) == 3


def test_a_rejected_runs_submissions_are_rejected_with_the_reason(
    hub: Settings, inbox: Path, contracts_dir: Path
) -> None:
    data = dict(PRICES)
    data["expectations"] = [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "gia", "max_value": 1}, "severity": "error"}
    ]
    (contracts_dir / "market_prices.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (inbox / "gia.csv").write_bytes(csv_bytes(ROWS, "utf-8"))
    run = Pipeline(hub).run("market_prices")
    assert run.status == "rejected"
    (receipt,) = (inbox / "receipts").iterdir()
    text = receipt.read_text(encoding="utf-8")
    assert "BỊ TỪ CHỐI / REJECTED" in text and "4 cách ly / quarantined" in text
    assert list(inbox.glob("*.csv")) == []


def test_a_file_replaced_during_the_run_is_a_new_submission(hub: Settings, inbox: Path) -> None:
    path = inbox / "gia.csv"
    path.write_bytes(csv_bytes(ROWS, "utf-8"))
    pipeline = Pipeline(hub)
    pipeline.extract("market_prices", "r1")
    corrected = [r[:] for r in ROWS]
    corrected[1][3] = "17.000"
    path.write_bytes(csv_bytes(corrected, "utf-8"))  # the department sends a corrected file meanwhile
    pipeline.validate("market_prices", "r1")
    assert pipeline.publish("market_prices", "r1").status == "published"
    assert path.exists()  # the new version waits for the next run
    second = pipeline.run("market_prices")
    assert second.rows_extracted == 4 and prices(hub)["G01"][2] == 17000.0
