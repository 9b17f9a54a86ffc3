"""Administrative-unit standardisation against the catalogue pulled from the national simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from lgsp_sandbox.departments.education import UNKNOWN_UNITS
from lgsp_sandbox.national_api.data import build_units
from lgsp_sandbox.units import communes, legacy_names

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.schemas.columns import AdminUnit, UnitMatch
from lgsp.schemas.contract import Column, Text
from lgsp.validation.admin_units import Catalogue, unit_key
from tests.conftest import warehouse_rows

rows = warehouse_rows


def test_unit_key_ignores_case_diacritics_punctuation_and_the_type_word() -> None:
    assert unit_key("Xã Hải Thượng") == unit_key("X. Hai Thuong") == unit_key("xa hải thượng") == "hai thuong"
    assert unit_key("Phường Đông Hà") == unit_key("P.Đông Hà") == "dong ha"
    assert unit_key("Phường 1") == unit_key("P. 1") == "phuong 1"  # a number alone would say little
    assert unit_key("Đặc khu Cồn Cỏ") == "con co"


def test_schools_are_standardised_and_unknown_units_quarantined(hub: Settings, national: Any) -> None:
    pipeline = Pipeline(hub)
    catalogue = pipeline.run("admin_units")  # again: a full refresh replaces the catalogue
    assert catalogue.status == "published", catalogue.error
    assert catalogue.rows_extracted == len(build_units())
    run = pipeline.run("schools")
    assert run.status == "published", run.error
    assert run.rows_extracted == run.rows_published + run.rows_quarantined
    current = {c.name for c in communes()}
    names = {r[0] for r in rows(hub, "SELECT DISTINCT commune_name FROM main.schools")}
    assert names <= current | {None}, names - current  # every published commune is a current unit
    # the name now agrees with the code for every school
    mismatched = rows(
        hub,
        "SELECT count(*) FROM main.schools s JOIN main.admin_units u ON u.era = '2025' AND u.code = s.commune_code "
        "WHERE s.commune_name <> u.name",
    )
    assert mismatched == [(0,)]
    quarantined = rows(
        hub,
        "SELECT commune_name, _reasons FROM quarantine.schools WHERE list_contains(_checks, 'admin_unit:commune_name')",
    )
    assert {q[0] for q in quarantined} == set(UNKNOWN_UNITS)
    assert all("is not a ward of Tỉnh Quảng Trị in the national catalogue" in q[1] for q in quarantined)
    report = json.loads(Path(run.report).with_suffix(".json").read_text(encoding="utf-8"))
    check = next(c for c in report["checks"] if c["key"] == "admin_unit:commune_name")
    assert check["changed"] > 20 and check["unexpected"] == len(quarantined)
    assert set(check["sample"]) == set(UNKNOWN_UNITS)


def test_a_missing_catalogue_fails_the_run_clearly(hub: Settings) -> None:
    hub.warehouse_path.unlink()  # a hub that never pulled the national catalogue
    run = Pipeline(hub).run("schools")
    assert run.status == "failed"
    assert "catalogue 'admin_units' has not been published yet" in run.error and "lgsp run admin_units" in run.error


@pytest.fixture(scope="module")
def catalogue_con() -> duckdb.DuckDBPyConnection:
    units = build_units()
    table = pa.table(
        {
            "code": [u["code"] for u in units],
            "name": [u["name"] for u in units],
            "era": [u["era"] for u in units],
            "level": [u["level"] for u in units],
            "province_code": [u["province"]["code"] for u in units],
            "province_name": [u["province"]["name"] for u in units],
            "successors": [json.dumps(u["successors"], ensure_ascii=False) for u in units],
        }
    )
    con = duckdb.connect()
    con.register("units", table)
    con.execute("CREATE TABLE admin_units AS SELECT * FROM units")
    return con


def column(match: str, province: str | None = None) -> Column:
    return Column(
        name="xa",
        type="string",
        description=Text(vi="Xã", en="Commune"),
        admin_unit=AdminUnit(match=UnitMatch(match), province=province),
    )


def test_legacy_names_and_codes_map_to_the_unit_they_became(catalogue_con: duckdb.DuckDBPyConnection) -> None:
    quang_tri = Catalogue(catalogue_con, column("name"), "Quảng Trị")
    for code, olds in list(legacy_names().items())[:30]:
        for old in olds:
            mapped = quang_tri.map(old, UnitMatch.name)
            assert mapped.code == code, (old, mapped)
    legacy = next(
        u for u in build_units() if u["era"] == "legacy" and u["level"] == "ward" and u["province"]["code"] == "45"
    )
    by_code = Catalogue(catalogue_con, column("code"), "Quảng Trị").map(legacy["code"], UnitMatch.code)
    assert (by_code.code, by_code.reason) == (legacy["successors"][0]["code"], None)
    assert Catalogue(catalogue_con, column("code"), "44").map("99999", UnitMatch.code).reason is not None


def test_a_split_legacy_unit_cannot_be_chosen(catalogue_con: duckdb.DuckDBPyConnection) -> None:
    split = next(u for u in build_units() if u["era"] == "legacy" and u["level"] == "ward" and len(u["successors"]) > 1)
    hanoi = Catalogue(catalogue_con, column("name", province=split["province"]["name"]), "Quảng Trị")
    mapped = hanoi.map(split["name"], UnitMatch.name)
    assert mapped.code is None
    assert "split between" in (mapped.reason or "") or "cannot choose" in (mapped.reason or "")
    for successor in split["successors"]:
        assert successor["code"] in (mapped.reason or "")


def test_an_unknown_province_is_a_contract_error(catalogue_con: duckdb.DuckDBPyConnection) -> None:
    from lgsp.core.errors import LgspError

    with pytest.raises(LgspError, match="no province 'Atlantis'"):
        Catalogue(catalogue_con, column("name", province="Atlantis"), "Quảng Trị")


def test_a_former_name_is_not_taken_for_a_similar_current_one(catalogue_con: duckdb.DuckDBPyConnection) -> None:
    hanoi = Catalogue(catalogue_con, column("name", province="Hà Nội"), "Quảng Trị")
    former = hanoi.map("Phường Chương Dương", UnitMatch.name)  # became Phường Hồng Hà
    assert (former.code, former.name) == ("00097", "Phường Hồng Hà")
    assert hanoi.map("Xã Chương Dương", UnitMatch.name).code == "10237"  # a current commune, another unit
