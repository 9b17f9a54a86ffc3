"""The indicator register: the shipped indicators load and fit the contracts, a bad entry is
refused naming its file and field, and observations trace to submissions and file lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from lgsp.checks import register_problems
from lgsp.cli import app
from lgsp.core.errors import LgspError
from lgsp.core.settings import INDICATORS_DIR, Settings
from lgsp.indicators.observations import observations
from lgsp.pipeline import Pipeline
from lgsp.schemas.indicators import indicator_files, indicator_problems, load_register
from lgsp.schemas.loader import load_contracts
from lgsp.submissions import ledger
from lgsp.submissions.archive import Archive
from lgsp.warehouse.store import Warehouse
from tests.conftest import CONTRACTS

GOOD = {
    "code": "DVCTT_TOAN_TRINH_QG",
    "name": {"vi": "Dịch vụ công trực tuyến toàn trình", "en": "Full online public services"},
    "unit": "services",
    "period": "year",
    "owner": "SKHCN",
    "sources": [
        {
            "dataset": "ict_indicators",
            "where": {"indicator_vi": "DVCTT toàn trình trên Cổng dịch vụ công quốc gia"},
            "value": "value",
            "period": "period",
            "area": "province",
        }
    ],
}

# (indicator, area, period) → value, as the three provinces' reports give them
# (sandbox/lgsp_sandbox/data/ict_indicators/provincial_ict_indicators.csv).
EXPECTED = {
    ("CSDL_KHO_DUNG_CHUNG", "Quang Tri", "2024"): 4,
    ("DOANH_NGHIEP_CONG_NGHE_SO", "Quang Tri", "2024"): 829,
    ("DVCTT_MOT_PHAN_QG", "Lạng Sơn", "2023-07-11 (stock)"): 462,
    ("DVCTT_MOT_PHAN_QG", "Quang Tri", "2024"): 207,
    ("DVCTT_MOT_PHAN_TINH", "Lạng Sơn", "2023-07-11 (stock)"): 420,
    ("DVCTT_MOT_PHAN_TINH", "Quang Tri", "2024"): 562,
    ("DVCTT_TOAN_TRINH_QG", "Lạng Sơn", "2023-07-11 (stock)"): 882,
    ("DVCTT_TOAN_TRINH_QG", "Quang Tri", "2024"): 777,
    ("DVCTT_TOAN_TRINH_TINH", "Lạng Sơn", "2023-07-11 (stock)"): 999,
    ("DVCTT_TOAN_TRINH_TINH", "Quang Tri", "2024"): 1197,
    ("HO_GIA_DINH_DIA_CHI_SO", "Quang Tri", "2024"): 137428,
    ("HO_SO_DINH_DANH_DIEN_TU", "Quang Tri", "2024"): 433539,
    ("TAI_KHOAN_DINH_DANH_KICH_HOAT", "Quang Tri", "2024"): 302532,
    ("THUE_BAO_BANG_RONG_DI_DONG", "Lạng Sơn", "2023-07-11 (stock)"): 681000,
    ("THUE_BAO_BANG_RONG_DI_DONG", "Quang Tri", "2024"): 596303,
    ("THUE_BAO_DIEN_THOAI", "Lạng Sơn", "2023-07-11 (stock)"): 955000,
    ("THUE_BAO_DIEN_THOAI", "Quang Tri", "2024"): 672815,
    ("THUE_BAO_DI_DONG", "Lạng Sơn", "2023-07-11 (stock)"): 936200,
    ("THUE_BAO_DI_DONG", "Quang Tri", "2024"): 666828,
    ("THUE_BAO_DT_CO_DINH", "Lạng Sơn", "2023-07-11 (stock)"): 18800,
    ("THUE_BAO_DT_CO_DINH", "Quang Tri", "2024"): 5987,
    ("THUE_BAO_INTERNET_CO_DINH", "Lạng Sơn", "2023-07-11 (stock)"): 139000,
    ("THUE_BAO_INTERNET_CO_DINH", "Quang Tri", "2024"): 138585,
    ("TRAM_BTS", "Ha Tinh", "2024 YTD (report dated Jul 2024)"): 3250,
    ("TRAM_BTS", "Lạng Sơn", "2023-07-11 (stock)"): 3197,
    ("TRAM_BTS", "Quang Tri", "2024"): 2700,
    ("TY_LE_NGUOI_DUNG_INTERNET", "Quang Tri", "2024"): 103.97,
    ("TY_LE_VAN_BAN_DIEN_TU", "Quang Tri", "2024"): 98,
    ("VAN_BAN_DEN_XU_LY_TREN_MANG", "Quang Tri", "2024"): 9748,
}


def write(folder: Path, data: dict[str, object], name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or data['code']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_register_loads_and_fits_the_contracts() -> None:
    register = load_register(INDICATORS_DIR)
    assert len(register) >= 6
    assert {code for code, _, _ in EXPECTED} <= set(register)
    assert register_problems(indicator_files(INDICATORS_DIR), load_contracts(CONTRACTS).values()) == []
    several = [i for i in register.values() if i.sources and isinstance(i.sources[0].where["indicator_vi"], list)]
    assert several, "an indicator named two ways by two provinces is one indicator"
    assert [i.code for i in register.values() if i.formula] == ["TY_LE_DVCTT_TOAN_TRINH"]


def test_lgsp_check_accepts_the_register(hub: Settings) -> None:
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "DVCTT_TOAN_TRINH_QG.yaml" in result.output


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            {"sources": [{**GOOD["sources"][0], "dataset": "ict_indicatorz"}]},
            "sources[0].dataset",
            "not the id of any contract",
        ),  # type: ignore[index]
        (
            {"sources": [{**GOOD["sources"][0], "area": "tinh"}]},
            "sources[0].area",
            "'tinh' is not a column of ict_indicators",
        ),  # type: ignore[index]
        (
            {"sources": [{**GOOD["sources"][0], "where": {"chi_tieu": "DVCTT"}}]},  # type: ignore[index]
            "sources[0].where.chi_tieu",
            "not a column of ict_indicators",
        ),
        ({"sources": [{**GOOD["sources"][0], "value": "unit"}]}, "sources[0].value", "is string, not a number"),  # type: ignore[index]
        ({"owner": "STTTT"}, "owner", "'STTTT' is no contract's publisher code"),
    ],
)
def test_a_register_entry_that_does_not_fit_the_contracts_is_refused(
    tmp_path: Path, change: dict[str, object], field: str, reason: str
) -> None:
    path = write(tmp_path / "indicators", {**GOOD, **change})
    (problem,) = register_problems([path], load_contracts(CONTRACTS).values())
    assert problem.startswith(f"{path}: {field}: "), problem
    assert reason in problem


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"period": "week"}, "period", "'year', 'quarter' or 'month'"),
        ({"formula": "A + B"}, "(top level)", "not both or neither"),
        ({"tolerance": -0.1}, "tolerance", "greater than or equal to 0"),
        ({"sources": []}, "(top level)", "not both or neither"),
        ({"code": "dvcTT"}, "code", "should match pattern"),
        ({"sources": [{**GOOD["sources"][0], "where": {"indicator_vi": []}}]}, "sources[0].where", "empty list"),  # type: ignore[index]
    ],
)
def test_a_bad_register_file_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, object], field: str, reason: str
) -> None:
    path = write(tmp_path, {**GOOD, **change}, name="DVCTT_TOAN_TRINH_QG")
    indicator, problems = indicator_problems(path)
    assert indicator is None
    assert [(p.file, p.field) for p in problems] == [(path, field)], problems
    assert reason in problems[0].reason
    with pytest.raises(LgspError) as raised:
        load_register(tmp_path)
    assert raised.value.file == str(path) and raised.value.field == field


def test_the_code_is_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, name="DVCTT")
    _, problems = indicator_problems(path)
    assert [(p.field, p.reason) for p in problems] == [
        ("code", "'DVCTT_TOAN_TRINH_QG' must match the file name 'DVCTT'")
    ]


def test_lgsp_check_names_a_bad_register_file(hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "register"
    write(folder, GOOD)
    bad = write(folder, {**GOOD, "code": "THUE_BAO", "owner": "STTTT"})
    monkeypatch.setenv("LGSP_INDICATORS", str(folder))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert f"{bad}: owner: 'STTTT' is no contract's publisher code" in result.output


def test_observations_of_the_ict_department_drop_trace_to_submissions_and_lines(hub: Settings) -> None:
    assert Pipeline(hub).run("ict_indicators").status == "published"
    with Warehouse(hub).reader() as con:
        found = observations(con, load_register(hub.indicators_dir).values())
        submissions = {o.submission: ledger.get(con, o.submission) for o in found if o.submission is not None}
    assert {(o.indicator, o.area, o.period): o.value for o in found} == pytest.approx(EXPECTED)
    assert len(found) == len(EXPECTED)  # one row each: the plan and estimate rows are other texts
    archive = Archive(hub)
    for o in found:
        assert o.dataset == "ict_indicators" and o.unit != ""
        assert o.submission is not None and o.origin is not None
        submission = submissions[o.submission]
        assert submission is not None and submission.dataset_id == "ict_indicators"
        name, line = o.origin.rsplit(":", 1)
        assert name == submission.name  # the file the province sent, and the line in it
        if name.endswith(".xlsx"):  # the line really holds this value
            sheet = openpyxl.load_workbook(io.BytesIO(archive.get(submission.sha256)), read_only=True).active
            assert sheet is not None
            row = next(sheet.iter_rows(min_row=int(line), max_row=int(line), values_only=True))
            typed = {str(v).replace(".", "") for v in row}  # as typed: 955.000, text in TCVN3
            assert f"{o.value:g}" in typed, (o, row)
    by_province = {o.area: submissions[o.submission].name for o in found if o.submission is not None}  # type: ignore[union-attr]
    assert by_province == {
        "Quang Tri": "chi_tieu_quang_tri_2024.csv",
        "Lạng Sơn": "chi_tieu_lang_son_2024.xlsx",
        "Ha Tinh": "chi_tieu_ha_tinh_2024.csv",
    }


def test_no_observations_before_the_dataset_is_published(hub: Settings) -> None:
    with Warehouse(hub).reader() as con:
        assert observations(con, load_register(hub.indicators_dir).values()) == []


def test_the_cli_lists_the_register_and_the_observations(hub: Settings) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["indicators", "list"])
    assert listed.exit_code == 0, listed.output
    assert "DVCTT_TOAN_TRINH_QG" in listed.output and "SKHCN" in listed.output
    assert Pipeline(hub).run("ict_indicators").status == "published"
    shown = runner.invoke(app, ["indicators", "observations", "DVCTT_TOAN_TRINH_QG"])
    assert shown.exit_code == 0, shown.output
    assert "777" in shown.output and "882" in shown.output and "chi_tieu_lang_son_2024.xlsx:" in shown.output
    as_json = json.loads(runner.invoke(app, ["indicators", "observations", "--json"]).output)
    assert len(as_json) == len(EXPECTED)
    one = next(o for o in as_json if o["indicator"] == "DVCTT_TOAN_TRINH_QG" and o["area"] == "Quang Tri")
    assert one["value"] == 777 and one["period"] == "2024" and one["origin"].startswith("chi_tieu_quang_tri_2024.csv:")
    assert isinstance(one["submission"], int)
    unknown = runner.invoke(app, ["indicators", "observations", "KHONG_CO"])
    assert unknown.exit_code == 1 and "no indicator 'KHONG_CO'" in unknown.output


def test_a_formula_over_an_unknown_indicator_or_in_a_cycle_is_refused(tmp_path: Path) -> None:
    base = {k: v for k, v in GOOD.items() if k != "sources"}
    unknown = write(tmp_path, {**base, "code": "SHARE", "formula": "DVCTT_TOAN_TRINH_QG / KHONG_CO * 100"})
    first = write(tmp_path, {**base, "code": "FIRST", "formula": "SECOND * 2"})
    write(tmp_path, {**base, "code": "SECOND", "formula": "FIRST / 2"})
    write(tmp_path, GOOD, name="DVCTT_TOAN_TRINH_QG")
    problems = register_problems(indicator_files(tmp_path), load_contracts(CONTRACTS).values())
    assert f"{unknown}: formula: 'KHONG_CO' is not in the indicator register" in problems
    assert f"{first}: formula: FIRST is computed from itself (through other formulas)" in problems
