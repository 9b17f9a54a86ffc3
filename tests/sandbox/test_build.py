"""The sandbox province: deterministic, the promised size, dirty exactly as asked, mutable between runs."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from lgsp_sandbox import postgres
from lgsp_sandbox.__main__ import main
from lgsp_sandbox.build import DEPARTMENTS, build_department, build_province, mutate_department, sqlite_url
from lgsp_sandbox.departments import ict
from lgsp_sandbox.postgres import PostgresNotFound, PostgresServer
from lgsp_sandbox.schema import TABLES
from lgsp_sandbox.units import communes

SCALE = 20_000
FIXED_ROWS = {
    "price_observations": 5_000, "schools": 800, "driving_licences": 3_000, "ict_indicators": 345, "env_stations": 30
}  # fmt: skip
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE_COLUMNS = {"observed_on", "birth_date", "issued_on", "expires_on", "installed_on"}
TIMESTAMP_COLUMNS = {"updated_at", "measured_at"}


def dump(url: str, table: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = f"SELECT {', '.join(TABLES[table].column_names)} FROM {table}"
            rows = [tuple(r) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()
    return sorted(rows, key=repr)


def columns(url: str, table: str) -> dict[str, list]:
    rows = dump(url, table)
    return {name: [r[i] for r in rows] for i, name in enumerate(TABLES[table].column_names)}


def well_formed(column: str, value: str) -> bool:
    try:
        if column in DATE_COLUMNS:
            return bool(ISO_DATE.match(value)) and date.fromisoformat(value) is not None
        return bool(ISO_TIMESTAMP.match(value)) and datetime.strptime(value, "%Y-%m-%d %H:%M:%S") is not None
    except ValueError:
        return False


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return build_province(tmp_path_factory.mktemp("province"), scale=SCALE)


def test_units_are_the_communes_of_quang_tri_with_their_old_districts() -> None:
    units = communes()
    assert len(units) == 78
    assert len({u.code for u in units}) == 78
    assert {"Phường Đông Hà", "Phường Đồng Hới", "Đặc khu Cồn Cỏ"} <= {u.name for u in units}
    assert all(u.legacy_district_code and u.legacy_province_code in ("44", "45") for u in units)


def test_province_has_one_sqlite_file_per_department_and_the_promised_rows(province: dict[str, str]) -> None:
    assert list(province) == list(DEPARTMENTS)
    directory = Path(sa.make_url(province["finance"]).database).parent
    connections = json.loads((directory / "connections.json").read_text(encoding="utf-8"))
    inboxes = {name: str(directory / "inbox" / name.removesuffix("_inbox")) for name in ("skhcn_inbox", "vpubnd_inbox")}
    assert connections == {**province, **inboxes}
    assert [p.name for p in (directory / "inbox" / "vpubnd").iterdir()] == ["dvc_quang_tri_2024.csv"]
    assert sorted(p.name for p in (directory / "inbox" / "skhcn").iterdir()) == [
        "chi_tieu_ha_tinh_2024.csv",
        "chi_tieu_lang_son_2024.xlsx",
        "chi_tieu_quang_tri_2024.csv",
    ]
    for name, url in province.items():
        assert url == sqlite_url(directory / f"{name}.sqlite")
        for table in DEPARTMENTS[name].tables:
            assert len(dump(url, table)) == FIXED_ROWS.get(table, SCALE)


def test_same_seed_gives_the_same_bytes(province: dict[str, str], tmp_path: Path) -> None:
    again = build_province(tmp_path, scale=SCALE)
    for name in DEPARTMENTS:
        first, second = (Path(sa.make_url(u[name]).database).read_bytes() for u in (province, again))
        assert first == second, name
    inboxes = Path(sa.make_url(province["finance"]).database).parent / "inbox"
    for path in [*(inboxes / "skhcn").iterdir(), *(inboxes / "vpubnd").iterdir()]:  # the files too, workbook included
        assert path.read_bytes() == (tmp_path / "inbox" / path.parent.name / path.name).read_bytes(), path.name


def test_another_seed_gives_other_data(province: dict[str, str], tmp_path: Path) -> None:
    for name in ("finance", "education", "transport", "environment"):
        url = sqlite_url(tmp_path / f"{name}.sqlite")
        build_department(name, url, seed=7, scale=SCALE)
        table = DEPARTMENTS[name].tables[0]
        assert dump(url, table) != dump(province[name], table)


def _not_nfc(values: list) -> int:
    return sum(1 for v in values if isinstance(v, str) and not unicodedata.is_normalized("NFC", v))


def _duplicates(values: list) -> int:
    return len(values) - len(set(values))


def test_dirty_share_gives_every_kind_of_dirt(province: dict[str, str]) -> None:
    # Finance: 2% of 5,000 rows = 100 dirty rows, 20 of each kind, none overlapping.
    fin = columns(province["finance"], "price_observations")
    assert fin["price"].count(None) == 20
    assert sum(1 for p in fin["price"] if p is not None and p < 0) == 20
    assert _duplicates(fin["id"]) == 20
    assert sum(not well_formed("observed_on", d) for d in fin["observed_on"]) == 20
    assert (
        sum(
            bool(_not_nfc(list(r))) for r in zip(fin["item_name"], fin["market_name"], fin["commune_name"], strict=True)
        )
        == 20
    )

    edu = columns(province["education"], "schools")
    assert edu["name"].count(None) > 0
    assert any(p < 0 for p in edu["pupils"])
    assert _duplicates(edu["school_code"]) > 0
    assert any(not well_formed("updated_at", d) for d in edu["updated_at"])
    assert _not_nfc(edu["name"]) + _not_nfc(edu["address"]) + _not_nfc(edu["commune_name"]) > 0

    lic = columns(province["transport"], "driving_licences")
    assert lic["full_name"].count(None) > 0
    assert any(
        well_formed("issued_on", i) and b > i for b, i in zip(lic["birth_date"], lic["issued_on"], strict=True)
    )  # born after the licence was issued
    assert _duplicates(lic["licence_no"]) > 0
    assert any(not well_formed("issued_on", d) for d in lic["issued_on"])
    assert _not_nfc(lic["full_name"]) + _not_nfc(lic["commune_name"]) > 0

    env = columns(province["environment"], "env_readings")  # 400 dirty rows, 100 of each of 4 kinds
    assert env["station_code"].count(None) == 100
    assert sum(1 for v in env["value"] if v < 0 or v >= 1e9) == 100
    assert _duplicates(env["reading_id"]) == 100
    assert sum(not well_formed("measured_at", d) for d in env["measured_at"]) == 100
    stations = columns(province["environment"], "env_stations")  # 2% of 30: one station's coordinates swapped
    assert sum(1 for lat in stations["latitude"] if lat > 90) == 1


def test_stations_stand_in_the_province_and_every_reading_has_one(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "environment.sqlite")
    build_department("environment", url, scale=2_000, dirty_share=0)
    stations = columns(url, "env_stations")
    assert all(16.3 <= lat <= 18.1 for lat in stations["latitude"])  # old Quảng Bình and Quảng Trị
    assert all(105.6 <= lon <= 107.4 for lon in stations["longitude"])
    assert set(stations["kind"]) == {"air", "water"} and _duplicates(stations["station_code"]) == 0
    assert set(columns(url, "env_readings")["station_code"]) == set(stations["station_code"])
    assert all(well_formed("installed_on", d) for d in stations["installed_on"])


def test_no_dirt_when_dirty_share_is_zero(tmp_path: Path) -> None:
    for name in ("finance", "education", "transport", "environment"):
        url = sqlite_url(tmp_path / f"{name}.sqlite")
        build_department(name, url, scale=5_000, dirty_share=0)
        spec = TABLES[DEPARTMENTS[name].tables[0]]
        cols = columns(url, spec.name)
        assert _duplicates(cols[spec.key]) == 0, name
        for col in spec.columns:
            values = cols[col.name]
            if col.required:
                assert None not in values, (name, col.name)
            assert _not_nfc(values) == 0, (name, col.name)
            if col.name in DATE_COLUMNS | TIMESTAMP_COLUMNS:
                assert all(well_formed(col.name, v) for v in values if v is not None), (name, col.name)
    fin = columns(sqlite_url(tmp_path / "finance.sqlite"), "price_observations")
    assert min(fin["price"]) > 0
    edu = columns(sqlite_url(tmp_path / "education.sqlite"), "schools")
    assert min(edu["pupils"]) >= 0 and min(edu["teachers"]) >= 1
    lic = dump(sqlite_url(tmp_path / "transport.sqlite"), "driving_licences")
    assert all(r[3] < r[5] for r in lic)  # born before issue
    assert all((r[6] is None) == (r[4] in ("A1", "A", "B1")) for r in lic)  # motorcycle licences never expire
    env = columns(sqlite_url(tmp_path / "environment.sqlite"), "env_readings")
    assert min(env["value"]) >= 0 and max(env["value"]) < 1e6


@pytest.mark.parametrize("name", ["finance", "education", "transport", "environment"])
def test_mutate_changes_and_adds_rows_after_everything_stored(name: str, tmp_path: Path) -> None:
    spec = TABLES[DEPARTMENTS[name].tables[0]]
    url, twin = sqlite_url(tmp_path / "a.sqlite"), sqlite_url(tmp_path / "b.sqlite")
    for u in (url, twin):
        build_department(name, u, scale=5_000, dirty_share=0)
    before = dump(url, spec.name)
    cursor = spec.column_names.index(spec.cursor)
    key = spec.column_names.index(spec.key)
    latest = max(r[cursor] for r in before)

    assert mutate_department(name, url, seed=11, changed=4, added=6) == {"changed": 4, "added": 6}
    after = dump(url, spec.name)
    assert len(after) == len(before) + 6
    old_keys = {r[key] for r in before}
    gone, new = set(before) - set(after), set(after) - set(before)
    assert len(gone) == 4 and {r[key] for r in gone} <= old_keys
    assert len(new) == 10 and len({r[key] for r in new} - old_keys) == 6
    added = [r for r in new if r[key] not in old_keys]
    assert all(r[cursor] > latest for r in added)
    if spec.cursor == "updated_at":
        assert all(r[cursor] > latest for r in new)
    assert _duplicates([r[key] for r in after]) == 0

    mutate_department(name, twin, seed=11, changed=4, added=6)
    assert dump(twin, spec.name) == after  # deterministic


def test_ict_is_the_real_csv_and_is_not_mutated(province: dict[str, str]) -> None:
    rows = dump(province["ict"], "ict_indicators")
    assert len(rows) == 345
    assert sorted(r[0] for r in rows) == list(range(1, 346))
    first = min(rows)
    assert first[1:] == (
        "Quang Tri", "2024", "Văn bản đến đã tiếp nhận và xử lý trên mạng",
        "Incoming documents received and processed online by DoIC", "9748", "documents", "000_2d203be2d61ad525.txt", 38,
    )  # fmt: skip
    with pytest.raises(ValueError, match="cannot be mutated"):
        mutate_department("ict", province["ict"], seed=1, changed=1, added=0)


def test_ict_csv_ships_with_the_sandbox() -> None:
    """The real indicators are package data: a lone clone (or an installed sandbox) has them."""
    import lgsp_sandbox

    path = ict.csv_path()
    assert path.is_file() and path.is_relative_to(Path(lgsp_sandbox.__file__).parent)


def test_command_line_builds_one_department(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(tmp_path), "--department", "education", "--seed", "5"]) == 0
    assert json.loads(capsys.readouterr().out) == {"education": {"schools": 800}}
    registry = json.loads((tmp_path / "connections.json").read_text(encoding="utf-8"))
    assert registry == {"education": sqlite_url(tmp_path / "education.sqlite")}


def test_missing_postgres_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres.shutil, "which", lambda _: None)
    with pytest.raises(PostgresNotFound, match=r"\.ci/install-postgres"):
        postgres.find_bin_dir((str(tmp_path / "*" / "bin"),))


@pytest.mark.postgres
def test_postgres_copy_path_matches_sqlite(postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = postgres_server.create_database("sandbox_env")
    assert build_department("environment", url, scale=50_000) == {"env_readings": 50_000, "env_stations": 30}
    assert build_department("finance", url) == {"price_observations": 5_000}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            count, nulls = conn.execute(
                sa.text("SELECT COUNT(*), COUNT(*) - COUNT(station_code) FROM env_readings")
            ).one()
    finally:
        engine.dispose()
    assert (count, nulls) == (50_000, 250)
    lite = sqlite_url(tmp_path / "env.sqlite")
    build_department("environment", lite, scale=50_000)
    build_department("finance", lite)
    assert dump(url, "env_readings") == dump(lite, "env_readings")
    assert dump(url, "price_observations") == dump(lite, "price_observations")

    assert mutate_department("environment", url, seed=3, changed=2, added=500) == {"changed": 2, "added": 500}
    mutate_department("environment", lite, seed=3, changed=2, added=500)
    assert dump(url, "env_readings") == dump(lite, "env_readings")
