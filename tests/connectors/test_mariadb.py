"""A departmental MariaDB (the Department of Construction's permit system) read by the SQL
connector, through DuckDB's MySQL scanner and through SQLAlchemy (PyMySQL), against a real server.

The legacy dirt such a database holds: names in NFD, emoji in notes (utf8mb4), DECIMAL money,
NULLs, a TINYINT(1) flag holding 2, zero dates ('0000-00-00') and dates with a zero day that the
server's default sql_mode accepts. Both engines publish the same rows and quarantine the same ones.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.sql import SqlConfig, engine_for, extract
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.conftest import warehouse_rows

pytestmark = pytest.mark.mariadb

DB = "so_xay_dung"
ENGINES = ["duckdb", "sqlalchemy"]


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# -- the department's database ---------------------------------------------------------------------

PERMITS_TABLE = """
CREATE TABLE giay_phep (
  so_giay_phep VARCHAR(30) NOT NULL PRIMARY KEY,
  chu_dau_tu VARCHAR(200) NOT NULL,
  dia_chi VARCHAR(300),
  phuong_xa VARCHAR(100) NOT NULL,
  loai_cong_trinh VARCHAR(60),
  so_tang TINYINT,
  dien_tich_san DECIMAL(10, 2),
  le_phi DECIMAL(14, 0),
  ngay_cap DATE,
  da_khoi_cong TINYINT(1),
  ghi_chu TEXT,
  cap_nhat_luc DATETIME
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""
NHA_O, CONG_NGHIEP, THUONG_MAI = "Nhà ở riêng lẻ", "Công trình công nghiệp", "Công trình thương mại"
# (permit, investor, address, ward, kind, floors, floor area m², fee VND, issued, started, note, updated)
PERMITS: list[tuple[Any, ...]] = [
    ("GPXD-0001/2024", "Nguyễn Văn Ánh", "Số 12 Lê Lợi", "Phường Đông Hà", NHA_O, 3, "245.50", 75000, "2024-03-04", 1, None, "2024-03-04 09:15:00"),
    ("GPXD-0002/2024", nfd("Trần Thị Ngọc Ước"), nfd("Kiệt 5 Hùng Vương"), "Phường Nam Đông Hà", NHA_O, 2, "180.00", 75000, "2024-04-10", 0, "Đã bổ sung hồ sơ 👍", "2024-04-10 14:02:11"),
    ("GPXD-0003/2024", "Công ty TNHH Xây dựng Thành Đạt", "Lô B2 KCN Nam Đông Hà", "Phường Nam Đông Hà", CONG_NGHIEP, 1, "5400.75", 150000, "2024-05-21", 1, None, "2024-05-21 08:00:00"),
    ("GPXD-0004/2024", "Hộ kinh doanh Lê Thị Hằng", "Số 3 Trần Hưng Đạo", "Phường Đông Hà", THUONG_MAI, 4, "612.30", 150000, "2024-06-02", 1, "Ghi chú có ký tự lạ: 𠀧", "2024-06-02 10:30:00"),
    # A permit keyed by hand, most fields left empty.
    ("GPXD-0005/2024", "Phan Văn Đức", None, "Xã Gio Linh", None, None, None, None, "2024-07-15", None, None, "2024-07-15 16:45:00"),
    # The dirt: a zero date, a day of zero, a flag of 2, a negative area.
    ("GPXD-0006/2023", "Võ Thị Bích", "Thôn An Xuân", "Xã Gio Linh", NHA_O, 1, "95.00", 75000, "0000-00-00", 0, "Nhập bù từ sổ giấy", "2023-12-30 11:00:00"),
    ("GPXD-0007/2023", "Hoàng Minh Tuấn", "Khu phố 4", "Phường Đông Hà", NHA_O, 2, "140.00", 75000, "2023-07-00", 1, None, "2023-07-31 15:20:00"),
    ("GPXD-0008/2024", "Đặng Quốc Bảo", "Số 88 Quốc lộ 9", "Phường Nam Đông Hà", THUONG_MAI, 5, "890.00", 150000, "2024-08-19", 2, None, "2024-08-19 09:05:00"),
    ("GPXD-0009/2024", "Bùi Thị Thu", "Thôn Hà Thượng", "Xã Gio Linh", NHA_O, 2, "-12.50", 75000, "2024-09-09", 0, None, "2024-09-09 13:13:13"),
]  # fmt: skip
GENERATED = 300  # plain permits, so the engines stream more than one batch
DIRTY = {"GPXD-0006/2023": "ngay_cap", "GPXD-0007/2023": "ngay_cap", "GPXD-0008/2024": "da_khoi_cong"}
OUT_OF_RANGE = "GPXD-0009/2024"
VIEW = """
CREATE VIEW v_thong_ke_phuong_xa AS
SELECT phuong_xa, COUNT(*) AS so_giay_phep, SUM(dien_tich_san) AS tong_dien_tich, MAX(cap_nhat_luc) AS cap_nhat_luc
FROM giay_phep GROUP BY phuong_xa
"""


def generated_permits() -> list[tuple[Any, ...]]:
    wards = ["Phường Đông Hà", "Phường Nam Đông Hà", "Xã Gio Linh"]
    names = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
    return [
        (
            f"GPXD-{1000 + i:04d}/2025",
            f"{names[i % 10]} Văn {names[(i * 3) % 10]}",
            f"Số {i + 1} Đường {i % 17 + 1}",
            wards[i % 3],
            NHA_O,
            1 + i % 4,
            f"{80 + i % 200}.{i % 100:02d}",
            75000,
            f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
            i % 2,
            None,
            f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
        )
        for i in range(GENERATED)
    ]


APPLICATIONS_TABLE = """
CREATE TABLE ho_so_xin_phep (
  ma_ho_so VARCHAR(20) NOT NULL PRIMARY KEY,
  nguoi_nop VARCHAR(200) NOT NULL,
  phuong_xa VARCHAR(100),
  trang_thai VARCHAR(40) NOT NULL,
  phi_tham_dinh DECIMAL(12, 0),
  cap_nhat_luc DATETIME NOT NULL,
  KEY (cap_nhat_luc)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""
APPLICATIONS = 200


def applications() -> list[tuple[Any, ...]]:
    statuses = ["Đã tiếp nhận", "Đang thẩm định", "Chờ bổ sung"]
    return [
        (
            f"HS-2025-{i:05d}",
            nfd("Người nộp số ") + str(i) if i % 7 == 0 else f"Người nộp số {i}",
            ["Phường Đông Hà", "Xã Gio Linh"][i % 2],
            statuses[i % 3],
            500000,
            f"2025-01-{1 + i % 28:02d} {8 + i % 9:02d}:{i % 60:02d}:00",
        )
        for i in range(APPLICATIONS)
    ]


@pytest.fixture(scope="module")
def department(mariadb: Any) -> Any:
    """The permit system's database on the session's MariaDB server, as the department's legacy
    application left it (sql_mode '', so the server takes whatever it is given)."""
    mariadb.create_database(DB)
    mariadb.execute(
        DB,
        "SET SESSION sql_mode = ''",
        PERMITS_TABLE,
        (
            "INSERT INTO giay_phep VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            PERMITS + generated_permits(),
        ),
        VIEW,
    )
    return mariadb


# -- contracts ------------------------------------------------------------------------------------

PUBLISHER = """publisher: {code: SXD, name: {vi: Sở Xây dựng, en: Department of Construction}}
classification: shared
licence: {id: CC-BY-4.0, title: Creative Commons Attribution 4.0, url: https://creativecommons.org/licenses/by/4.0/}
update_frequency: daily
theme: [GOVE]
"""
PERMITS_CONTRACT = """id: giay_phep_xay_dung
title: {vi: Giấy phép xây dựng, en: Building permits}
description: {vi: Giấy phép xây dựng do Sở cấp., en: Building permits issued by the department.}
source: {kind: sql, connection: so_xay_dung, table: giay_phep, engine: ENGINE}
primary_key: [so_giay_phep]
columns:
  - {name: so_giay_phep, type: string, nullable: false, description: {vi: Số giấy phép, en: Permit number}}
  - {name: chu_dau_tu, type: string, nullable: false, description: {vi: Chủ đầu tư, en: Investor}}
  - {name: dia_chi, type: string, description: {vi: Địa chỉ công trình, en: Site address}}
  - {name: phuong_xa, type: string, description: {vi: Phường/xã, en: Ward or commune}}
  - {name: loai_cong_trinh, type: string, description: {vi: Loại công trình, en: Kind of building}}
  - {name: so_tang, type: integer, description: {vi: Số tầng, en: Floors}}
  - {name: dien_tich_san, type: number, description: {vi: Diện tích sàn (m²), en: Floor area (m²)}}
  - {name: le_phi, type: integer, description: {vi: Lệ phí (đồng), en: Fee (VND)}}
  - {name: ngay_cap, type: date, description: {vi: Ngày cấp, en: Issued on}}
  - {name: da_khoi_cong, type: boolean, description: {vi: Đã khởi công, en: Construction started}}
  - {name: ghi_chu, type: string, description: {vi: Ghi chú, en: Note}}
  - {name: cap_nhat_luc, type: timestamp, description: {vi: Cập nhật lúc, en: Updated at}}
expectations:
  - {type: expect_column_values_to_be_between, kwargs: {column: dien_tich_san, min_value: 0, max_value: 1000000}}
"""
APPLICATIONS_CONTRACT = """id: ho_so_xin_phep
title: {vi: Hồ sơ xin cấp phép xây dựng, en: Building permit applications}
description: {vi: Hồ sơ đang xử lý tại bộ phận một cửa., en: Applications being processed at the one-stop desk.}
source: {kind: sql, connection: so_xay_dung, table: ho_so_xin_phep, engine: ENGINE}
primary_key: [ma_ho_so]
incremental: {cursor: cap_nhat_luc}
columns:
  - {name: ma_ho_so, type: string, nullable: false, description: {vi: Mã hồ sơ, en: Application number}}
  - {name: nguoi_nop, type: string, nullable: false, description: {vi: Người nộp, en: Applicant}}
  - {name: phuong_xa, type: string, description: {vi: Phường/xã, en: Ward or commune}}
  - {name: trang_thai, type: string, nullable: false, description: {vi: Trạng thái, en: Status}}
  - {name: phi_tham_dinh, type: integer, description: {vi: Phí thẩm định (đồng), en: Appraisal fee (VND)}}
  - {name: cap_nhat_luc, type: timestamp, description: {vi: Cập nhật lúc, en: Updated at}}
"""
VIEW_CONTRACT = """id: thong_ke_giay_phep
title: {vi: Thống kê giấy phép theo phường/xã, en: Permits by ward}
description: {vi: Số giấy phép và tổng diện tích sàn theo phường/xã., en: Permits and floor area by ward.}
source: {kind: sql, connection: so_xay_dung, table: v_thong_ke_phuong_xa, engine: ENGINE}
primary_key: [phuong_xa]
columns:
  - {name: phuong_xa, type: string, nullable: false, description: {vi: Phường/xã, en: Ward or commune}}
  - {name: so_giay_phep, type: integer, description: {vi: Số giấy phép, en: Permits}}
  - {name: tong_dien_tich, type: number, description: {vi: Tổng diện tích sàn (m²), en: Total floor area (m²)}}
  - {name: cap_nhat_luc, type: timestamp, description: {vi: Cập nhật lúc, en: Updated at}}
"""


def hub_for(tmp_path: Path, engine: str, url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A hub home and a contracts folder of its own, the connection given in the environment."""
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for text in (PERMITS_CONTRACT, APPLICATIONS_CONTRACT, VIEW_CONTRACT):
        name = text.split("\n", 1)[0].removeprefix("id: ")
        (contracts / f"{name}.yaml").write_text(PUBLISHER + text.replace("ENGINE", engine), encoding="utf-8")
    monkeypatch.setenv("LGSP_CONN_SO_XAY_DUNG", url)
    return Settings(home=tmp_path / "home", contracts_dir=contracts)


PERMIT_COLUMNS = (
    "so_giay_phep, chu_dau_tu, dia_chi, phuong_xa, loai_cong_trinh, so_tang, dien_tich_san, le_phi, ngay_cap, "
    "da_khoi_cong, ghi_chu, cap_nhat_luc"
)


# -- a full refresh of a table ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def permits_published(
    department: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Settings, Any]]]:
    """The permits table run once through each engine, each into a hub of its own."""
    runs = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for engine in ENGINES:
            settings = hub_for(tmp_path_factory.mktemp(engine), engine, department.url(DB), monkeypatch)
            runs[engine] = (settings, Pipeline(settings).run("giay_phep_xay_dung"))
        yield runs


@pytest.mark.parametrize("engine", ENGINES)
def test_a_full_refresh_publishes_the_clean_rows_and_quarantines_the_dirt_with_its_reason(
    permits_published: dict[str, tuple[Settings, Any]], engine: str
) -> None:
    settings, run = permits_published[engine]
    total = len(PERMITS) + GENERATED
    assert run.status == "published", run.error
    assert run.mode == "full"
    assert (run.rows_extracted, run.rows_published, run.rows_quarantined) == (total, total - 4, 4)
    reasons = dict(warehouse_rows(settings, "SELECT so_giay_phep, _reasons FROM quarantine.giay_phep_xay_dung"))
    assert set(reasons) == {*DIRTY, OUT_OF_RANGE}
    assert (
        "'0000-00-00' không phải ngày hợp lệ cho cột ngay_cap / is not a valid date for ngay_cap"
        in reasons["GPXD-0006/2023"]
    )
    assert (
        "'2023-07-00' không phải ngày hợp lệ cho cột ngay_cap / is not a valid date for ngay_cap"
        in reasons["GPXD-0007/2023"]
    )
    assert "'2' không phải giá trị đúng/sai hợp lệ cho cột da_khoi_cong" in reasons["GPXD-0008/2024"]
    assert "ngoài khoảng cho phép" in reasons[OUT_OF_RANGE] and "outside the allowed range" in reasons[OUT_OF_RANGE]

    published = {
        r[0]: r for r in warehouse_rows(settings, f"SELECT {PERMIT_COLUMNS} FROM main.giay_phep_xay_dung ORDER BY 1")
    }
    assert len(published) == total - 4
    # Typed as the contract says; DECIMAL money exact; NULLs stay NULL; booleans from TINYINT(1).
    assert published["GPXD-0001/2024"] == (
        "GPXD-0001/2024", "Nguyễn Văn Ánh", "Số 12 Lê Lợi", "Phường Đông Hà", NHA_O, 3, 245.5, 75000,
        dt.date(2024, 3, 4), True, None, dt.datetime(2024, 3, 4, 9, 15),
    )  # fmt: skip
    assert published["GPXD-0003/2024"][6:10] == (5400.75, 150000, dt.date(2024, 5, 21), True)
    assert published["GPXD-0005/2024"] == (
        "GPXD-0005/2024", "Phan Văn Đức", None, "Xã Gio Linh", None, None, None, None, dt.date(2024, 7, 15), None,
        None, dt.datetime(2024, 7, 15, 16, 45),
    )  # fmt: skip
    # NFD in the source is NFC in the warehouse; four-byte characters (utf8mb4) arrive whole.
    assert published["GPXD-0002/2024"][1:3] == ("Trần Thị Ngọc Ước", "Kiệt 5 Hùng Vương")
    assert published["GPXD-0002/2024"][10] == "Đã bổ sung hồ sơ 👍"
    assert published["GPXD-0004/2024"][10] == "Ghi chú có ký tự lạ: 𠀧"
    assert all(unicodedata.is_normalized("NFC", r[1]) for r in published.values())


def test_both_engines_publish_the_same_table(permits_published: dict[str, tuple[Settings, Any]]) -> None:
    tables = [
        warehouse_rows(settings, f"SELECT {PERMIT_COLUMNS} FROM main.giay_phep_xay_dung ORDER BY so_giay_phep")
        for settings, _ in permits_published.values()
    ]
    assert tables[0] == tables[1] and len(tables[0]) == len(PERMITS) + GENERATED - 4


# -- a view ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_view_is_read_like_a_table(
    department: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    settings = hub_for(tmp_path, engine, department.url(DB), monkeypatch)
    run = Pipeline(settings).run("thong_ke_giay_phep")
    assert run.status == "published", run.error
    assert (run.rows_extracted, run.rows_published, run.rows_quarantined) == (3, 3, 0)
    rows = warehouse_rows(
        settings, "SELECT phuong_xa, so_giay_phep, tong_dien_tich FROM main.thong_ke_giay_phep ORDER BY phuong_xa"
    )
    expected: dict[str, list[float]] = {}
    for permit in PERMITS + generated_permits():
        count_area = expected.setdefault(permit[3], [0, 0.0])
        count_area[0] += 1
        count_area[1] += float(permit[6] or 0)
    assert [(w, n, pytest.approx(a)) for w, n, a in rows] == [
        (w, n, pytest.approx(a)) for w, (n, a) in sorted(expected.items())
    ]


# -- incremental, by a timestamp cursor ------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_incremental_runs_take_what_changed_and_move_the_cursor(
    department: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    database = f"{DB}_{engine}"
    url = department.create_database(database)
    department.execute(
        database,
        APPLICATIONS_TABLE,
        ("INSERT INTO ho_so_xin_phep VALUES (%s, %s, %s, %s, %s, %s)", applications()),
    )
    settings = hub_for(tmp_path, engine, url, monkeypatch)
    pipeline = Pipeline(settings)

    first = pipeline.run("ho_so_xin_phep")
    assert first.status == "published", first.error
    assert (first.mode, first.rows_extracted, first.rows_published) == ("full", APPLICATIONS, APPLICATIONS)
    last = max(a[5] for a in applications())
    assert first.cursor_to == last

    # The one-stop desk grants ten permits and takes in five new applications.
    department.execute(
        database,
        "UPDATE ho_so_xin_phep SET trang_thai = 'Đã cấp phép', cap_nhat_luc = '2025-02-03 08:30:00' "
        "WHERE ma_ho_so IN (" + ", ".join(f"'HS-2025-{i:05d}'" for i in range(0, 100, 10)) + ")",
        (
            "INSERT INTO ho_so_xin_phep VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    f"HS-2025-{i:05d}",
                    nfd("Lý Thị Thảo"),
                    "Xã Gio Linh",
                    "Đã tiếp nhận",
                    None,
                    f"2025-02-04 0{i % 10}:00:00",
                )
                for i in range(APPLICATIONS, APPLICATIONS + 5)
            ],
        ),
    )
    at_the_cursor = sum(1 for i, a in enumerate(applications()) if a[5] == last and not (i < 100 and i % 10 == 0))
    second = pipeline.run("ho_so_xin_phep")
    assert second.status == "published", second.error
    assert (second.mode, second.cursor_from) == ("incremental", last)
    # The changed rows and those still at the old cursor (merged again by key), nothing else.
    assert second.rows_extracted == 15 + at_the_cursor
    assert second.cursor_to == "2025-02-04 04:00:00"
    assert warehouse_rows(settings, "SELECT count(*), count(DISTINCT ma_ho_so) FROM main.ho_so_xin_phep") == [
        (APPLICATIONS + 5, APPLICATIONS + 5)
    ]
    assert warehouse_rows(settings, "SELECT count(*) FROM main.ho_so_xin_phep WHERE trang_thai = 'Đã cấp phép'") == [
        (10,)
    ]
    assert warehouse_rows(
        settings, "SELECT DISTINCT nguoi_nop FROM main.ho_so_xin_phep WHERE phi_tham_dinh IS NULL"
    ) == [("Lý Thị Thảo",)]

    third = pipeline.run("ho_so_xin_phep")  # nothing changed: only the rows at the cursor again
    assert (third.status, third.rows_extracted, third.cursor_to) == ("published", 1, "2025-02-04 04:00:00")
    assert warehouse_rows(settings, "SELECT count(*) FROM main.ho_so_xin_phep") == [(APPLICATIONS + 5,)]


def test_the_scanner_leaves_rows_before_the_cursor_on_the_server(department: Any, tmp_path: Path) -> None:
    """The cursor's comparison is sent to MariaDB, so an incremental pull of a large table moves
    only what changed (DuckDB cannot push a filter into a query it hands over)."""
    url = department.create_database(f"{DB}_pushdown")
    department.execute(
        f"{DB}_pushdown",
        APPLICATIONS_TABLE,
        ("INSERT INTO ho_so_xin_phep VALUES (%s, %s, %s, %s, %s, %s)", applications()),
    )
    department.execute("mysql", "SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = 1")
    try:
        cfg = connector_config(
            url,
            tmp_path,
            table="ho_so_xin_phep",
            columns=["ma_ho_so", "trang_thai", "cap_nhat_luc"],
            cursor="cap_nhat_luc",
            cursor_type="TIMESTAMP",
        )
        got = extract(cfg, {"cursor": "2025-01-28 00:00:00"}).read_all()
    finally:
        department.execute("mysql", "SET GLOBAL general_log = 0")
    assert got.num_rows == sum(1 for a in applications() if a[5] >= "2025-01-28")
    with department.admin("mysql") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT CONVERT(argument USING utf8mb4) FROM general_log WHERE argument LIKE '%FROM `ho_so_xin_phep`%'"
        )
        sent = [r[0] for r in cur.fetchall()]
        cur.execute("TRUNCATE general_log")
    assert any("WHERE `cap_nhat_luc` >= CAST('2025-01-28 00:00:00' AS DATETIME(6))" in s for s in sent), sent


# -- the connector on its own ----------------------------------------------------------------------

CONNECTOR_COLUMNS = ["so_giay_phep", "chu_dau_tu", "ngay_cap", "da_khoi_cong", "le_phi"]


def connector_config(url: str, tmp_path: Path, **extra: Any) -> SqlConfig:
    values: dict[str, Any] = {
        "dataset": "giay_phep_xay_dung",
        "connection": "so_xay_dung",
        "url": url,
        "columns": CONNECTOR_COLUMNS,
        "table": "giay_phep",
        "batch_rows": 100,
        "extension_dir": tmp_path / "ext",
    }
    values.update(extra)
    return SqlConfig(**values)


def test_auto_reads_mysql_and_mariadb_urls_with_the_scanner(department: Any, tmp_path: Path) -> None:
    url = department.url(DB)
    for form in (url, url.replace("mysql+pymysql://", "mysql://"), url.replace("mysql+pymysql://", "mariadb://")):
        assert engine_for(connector_config(form, tmp_path)) == "duckdb"
        assert engine_for(connector_config(form, tmp_path, engine="sqlalchemy")) == "sqlalchemy"


def test_both_engines_read_the_same_text_from_a_table_and_from_a_query(department: Any, tmp_path: Path) -> None:
    """Values arrive as text either way, the dirt untouched, for the hub to type; `mysql://` (the
    form Airflow writes, no driver named) is read with PyMySQL."""
    url = department.url(DB)
    query = (
        "SELECT so_giay_phep, chu_dau_tu, ngay_cap, da_khoi_cong, le_phi FROM giay_phep WHERE phuong_xa = 'Xã Gio Linh'"
    )
    results = []
    for engine in ENGINES:
        for form in (url, url.replace("mysql+pymysql://", "mysql://")):
            for source in ({}, {"table": None, "query": query}):
                table = extract(connector_config(form, tmp_path, engine=engine, **source), None).read_all()
                assert all(len(b) <= 100 for b in table.to_batches())
                results.append(sorted(tuple(r.values()) for r in table.to_pylist()))
    full, gio_linh = results[0], results[1]
    assert all(r == full for r in results[0::2]) and all(r == gio_linh for r in results[1::2])
    assert len(full) == len(PERMITS) + GENERATED
    assert len(gio_linh) == sum(1 for p in PERMITS + generated_permits() if p[3] == "Xã Gio Linh")
    by_key = {r[0]: r for r in full}
    assert by_key["GPXD-0006/2023"][2:] == ("0000-00-00", "0", "75000")
    assert by_key["GPXD-0007/2023"][2] == "2023-07-00"
    assert by_key["GPXD-0008/2024"][3] == "2"
    assert by_key["GPXD-0002/2024"][1] == nfd("Trần Thị Ngọc Ước")  # NFC is the warehouse's business


@pytest.mark.parametrize("engine", ENGINES)
def test_a_wrong_password_fails_at_once_naming_the_connection(
    department: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    wrong = department.url(DB, password="mat-khau-cu-2023")
    with pytest.raises(ConnectorError) as info:
        extract(connector_config(wrong, tmp_path, engine=engine), None).read_all()
    assert not info.value.transient  # retrying refused credentials could lock the account
    assert "so_xay_dung" in str(info.value) and "Access denied" in str(info.value)

    settings = hub_for(tmp_path, engine, wrong, monkeypatch)
    started = time.monotonic()
    run = Pipeline(settings).run("giay_phep_xay_dung")
    assert time.monotonic() - started < 20
    assert (run.status, run.rows_published) == ("failed", 0)
    assert "'so_xay_dung'" in (run.error or "") and "Access denied for user 'lgsp'" in (run.error or "")
    assert "mat-khau-cu-2023" not in (run.error or "")
    assert warehouse_rows(settings, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'giay_phep_xay_dung'") == [
        (0,)
    ]
    assert warehouse_rows(settings, "SELECT status FROM meta.runs") == [("failed",)]


def test_a_url_parameter_the_scanner_cannot_take_is_refused_by_name(tmp_path: Path) -> None:
    """PyMySQL's TLS options mean nothing to DuckDB's scanner: dropping one would connect with less
    than was asked, so the run stops and says which (charset is dropped: the scanner reads utf8mb4)."""
    url = "mysql+pymysql://lgsp:bi-mat@db.sxd.local:3306/so_xay_dung?charset=utf8mb4&ssl_verify_identity=true"
    with pytest.raises(ConnectorError, match=r"'ssl_verify_identity'.*engine: sqlalchemy") as info:
        extract(connector_config(url, tmp_path), None)
    assert "so_xay_dung" in str(info.value) and not info.value.transient
    assert "bi-mat" not in str(info.value)


def test_mysql_connection_strings_are_quoted_for_the_scanner() -> None:
    from lgsp.connectors.sql import _redact
    from lgsp.connectors.sql_scanners import attach_string

    url = make_url('mysql+pymysql://lgsp:p"a ss\\wd@db.local:3306/so_xay_dung?charset=utf8mb4&ssl_ca=/etc/ca.pem')
    text = attach_string(url, "mysql")
    assert text == (
        'host="db.local" port="3306" user="lgsp" password="p\\"a ss\\\\wd" database="so_xay_dung" ssl_ca="/etc/ca.pem"'
    )
    assert "ss" not in _redact(f"Failed to connect with parameters {text}", url).split("password=")[1].split(" ")[0]


# -- the server going down mid-run -----------------------------------------------------------------

BIG_CONTRACT = """id: so_lieu_lon
title: {vi: Nhật ký thẩm định, en: Appraisal log}
description: {vi: Một bảng lớn để thử nguồn bị sập., en: A large table to test a source going down.}
source: {kind: sql, connection: so_xay_dung, table: nhat_ky, engine: ENGINE}
primary_key: [id]
columns:
  - {name: id, type: integer, description: {vi: Mã, en: Id}}
  - {name: gia_tri, type: number, description: {vi: Giá trị, en: Value}}
  - {name: ghi_chu, type: string, description: {vi: Ghi chú, en: Note}}
"""


@pytest.mark.parametrize(("engine", "rows"), [("duckdb", 1_000_000), ("sqlalchemy", 200_000)])
def test_a_server_that_goes_down_mid_run_fails_the_run_and_keeps_the_last_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, rows: int
) -> None:
    from lgsp_sandbox.mariadb import MariaDbServer

    with MariaDbServer(tmp_path / "server") as server:  # a server of its own: this test kills it
        url = server.create_database("nhat_ky")
        server.execute(
            "nhat_ky",
            "CREATE TABLE nhat_ky (id INT PRIMARY KEY, gia_tri DOUBLE, ghi_chu VARCHAR(64))",
            f"INSERT INTO nhat_ky SELECT seq, seq * 0.5, MD5(seq) FROM seq_1_to_{rows}",
        )
        settings = hub_for(tmp_path, engine, url, monkeypatch)
        (settings.contracts_dir / "so_lieu_lon.yaml").write_text(
            PUBLISHER + BIG_CONTRACT.replace("ENGINE", engine), encoding="utf-8"
        )
        first = Pipeline(settings).run("so_lieu_lon")
        assert first.status == "published" and first.rows_published == rows, first.error

        result: dict[str, Any] = {}
        run = threading.Thread(target=lambda: result.update(run=Pipeline(settings).run("so_lieu_lon", "crashed")))
        run.start()
        with server.admin() as watcher, watcher.cursor() as cur:
            for _ in range(3000):  # until the hub's read of the table is under way on the server
                cur.execute(
                    "SELECT count(*) FROM information_schema.processlist "
                    "WHERE info LIKE '%nhat_ky%' AND id <> CONNECTION_ID()"
                )
                if cur.fetchone()[0]:
                    break
                time.sleep(0.005)
        server.crash()
        run.join(120)
        crashed = result["run"]
        assert (crashed.status, crashed.rows_published) == ("failed", 0), crashed
        assert "cannot read from 'so_xay_dung'" in (crashed.error or ""), crashed.error
        # The driver's words vary with the moment of the crash (lost connection, failed fetch).
        assert any(s in (crashed.error or "") for s in ("Lost connection", "Failed to fetch")), crashed.error
        assert warehouse_rows(settings, "SELECT count(*) FROM main.so_lieu_lon") == [(rows,)]  # the last version
        assert warehouse_rows(settings, "SELECT status FROM meta.runs WHERE run_id = 'crashed'") == [("failed",)]

        server.restart()
        again = Pipeline(settings).run("so_lieu_lon")
        assert again.status == "published" and again.rows_extracted == again.rows_published == rows
