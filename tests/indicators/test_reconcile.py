"""Reconciliation: two departments' file drops give one indicator two values; the conflict names
both files and lines, the owning department resolves it, and a changed value disputes it again."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.indicators import reconcile
from lgsp.indicators.observations import Observation
from lgsp.schemas.indicators import Indicator, load_register
from lgsp.warehouse.store import Warehouse
from tests.connectors.test_files import PRICES, ROWS, csv_bytes

CODE = "GIA_GAO"
AREA, PERIOD = "Phường Đông Hà", "2024-03-05"


def indicator(tolerance: float = 0, **changes: object) -> dict[str, object]:
    source = {"where": {"ma_mat_hang": "G01"}, "value": "gia", "period": "ngay", "area": "xa"}
    return {
        "code": CODE,
        "name": {"vi": "Giá gạo tẻ thường", "en": "Price of ordinary rice"},
        "unit": "đồng",
        "period": "month",
        "owner": "STC",
        "tolerance": tolerance,
        "sources": [{"dataset": "market_prices", **source}, {"dataset": "market_prices_b", **source}],
        **changes,
    }


def rows(price: str) -> list[list[str]]:
    header, first, *rest = ROWS
    return [header, [*first[:3], price, *first[4:]], *rest]


class Province:
    """Two departments sending the same prices to two file-drop contracts, and the register."""

    def __init__(self, hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inboxes = {}
        for dataset, connection in (("market_prices", "price_inbox"), ("market_prices_b", "price_inbox_b")):
            folder = tmp_path / "inbox" / dataset
            folder.mkdir(parents=True)
            monkeypatch.setenv(f"LGSP_CONN_{connection.upper()}", str(folder))
            data = {**PRICES, "id": dataset, "source": {**PRICES["source"], "connection": connection}}  # type: ignore[dict-item]
            (hub.contracts_dir / f"{dataset}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
            self.inboxes[dataset] = folder
        self.register_dir = tmp_path / "register"
        self.register_dir.mkdir()
        monkeypatch.setenv("LGSP_INDICATORS", str(self.register_dir))
        self.hub = Settings.from_env()

    def register(self, **changes: object) -> dict[str, Indicator]:
        path = self.register_dir / f"{CODE}.yaml"
        path.write_text(yaml.safe_dump(indicator(**changes), allow_unicode=True), "utf-8")  # type: ignore[arg-type]
        return load_register(self.register_dir)

    def send(self, dataset: str, name: str, price: str) -> None:
        (self.inboxes[dataset] / name).write_bytes(csv_bytes(rows(price), "utf-8"))
        result = CliRunner().invoke(app, ["run", dataset])
        assert result.exit_code == 0, result.output

    def cli(self, *args: str, exit_code: int = 0) -> str:
        result = CliRunner().invoke(app, ["indicators", *args])
        assert result.exit_code == exit_code, result.output
        return result.output

    def values(self) -> list[reconcile.Value]:
        with Warehouse(self.hub).reader() as con:
            return reconcile.values(con, load_register(self.register_dir))


@pytest.fixture
def province(hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Province:
    p = Province(Settings.from_env(), tmp_path, monkeypatch)
    p.register()
    p.send("market_prices", "gia_phong_kinh_te.csv", "15.500")
    p.send("market_prices_b", "gia_cuc_thong_ke.csv", "16.000")
    return p


def test_two_sources_disagreeing_are_a_conflict_naming_both_files_and_lines(province: Province) -> None:
    (conflict,) = json.loads(province.cli("conflicts", CODE, "--json"))
    assert (conflict["indicator"], conflict["area"], conflict["period"]) == (CODE, AREA, PERIOD)
    assert conflict["status"] == "disputed"
    seen = {(o["dataset"], o["origin"], o["value"]) for o in conflict["observations"]}
    assert seen == {
        ("market_prices", "gia_phong_kinh_te.csv:2", 15500),
        ("market_prices_b", "gia_cuc_thong_ke.csv:2", 16000),
    }
    assert all(o["submission"] is not None for o in conflict["observations"])
    shown = province.cli("conflicts")
    assert "gia_phong_kinh_te.csv:2" in shown and "gia_cuc_thong_ke.csv:2" in shown
    (value,) = [v for v in province.values() if v.area == AREA]
    assert (value.status, value.value) == ("disputed", None)
    assert any("gia_cuc_thong_ke.csv:2" in s for s in value.sources)


def test_within_the_tolerance_the_sources_agree(province: Province) -> None:
    province.register(tolerance=0.05)  # 500 of 16 000 is 3.1 %
    assert json.loads(province.cli("conflicts", "--json")) == []
    (value,) = [v for v in province.values() if v.area == AREA]
    assert (value.status, value.value) == ("agreed", 15500)
    province.register(tolerance=0.03)
    assert len(json.loads(province.cli("conflicts", "--json"))) == 1


def test_picking_one_resolves_until_an_observation_changes(province: Province) -> None:
    (conflict,) = json.loads(province.cli("conflicts", CODE, "--json"))
    picked = next(o for o in conflict["observations"] if o["dataset"] == "market_prices_b")
    source = f"market_prices_b:{picked['submission']}"
    out = province.cli(
        "resolve", CODE, AREA, PERIOD, "--value", "16000", "--source", source,
        "--why", "Cục Thống kê đo theo phương pháp chuẩn", "--by", "staff:lan",
    )  # fmt: skip
    assert "resolved" in out and "gia_cuc_thong_ke.csv:2" in out
    (value,) = [v for v in province.values() if v.area == AREA]
    assert (value.status, value.value) == ("resolved", 16000)
    assert value.resolution is not None and value.resolution.by == "staff:lan"
    assert value.resolution.origin == "gia_cuc_thong_ke.csv:2"
    listed = json.loads(province.cli("values", CODE, "--json"))
    assert {(v["area"], v["status"]) for v in listed} >= {(AREA, "resolved")}

    province.send("market_prices", "gia_phong_kinh_te_thang_3.csv", "15.800")  # a new value, newest wins
    (value,) = [v for v in province.values() if v.area == AREA]
    assert (value.status, value.value) == ("disputed", None)
    assert json.loads(province.cli("conflicts", CODE, "--json"))[0]["status"] == "disputed"


def test_an_explanation_resolves_without_a_pick(province: Province) -> None:
    province.cli(
        "resolve", CODE, AREA, PERIOD, "--explain", "Hai nguồn đo hai loại gạo khác nhau",
        "--why", "khác định nghĩa", "--by", "operator",
    )  # fmt: skip
    (value,) = [v for v in province.values() if v.area == AREA]
    assert value.status == "resolved" and value.value is None
    assert value.resolution is not None and value.resolution.explanation == "Hai nguồn đo hai loại gạo khác nhau"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--value", "16000", "--source", "SOURCE", "--by", "staff:lan"], "why is required"),
        (["--value", "16000", "--source", "SOURCE", "--why", " ", "--by", "staff:lan"], "why is required"),
        (["--value", "16000", "--source", "SOURCE", "--why", "x"], "(by) is required"),
        (["--value", "15500", "--source", "SOURCE", "--why", "x", "--by", "op"], "is not what"),
        (["--value", "17000", "--source", "SOURCE", "--why", "x", "--by", "op"], "is not what"),
        (["--value", "16000", "--source", "market_prices_b:999", "--why", "x", "--by", "op"], "no observation"),
        (["--value", "16000", "--why", "x", "--by", "op"], "either --source or --explain"),
    ],
)
def test_a_resolution_is_refused_and_nothing_written(province: Province, args: list[str], reason: str) -> None:
    (conflict,) = json.loads(province.cli("conflicts", CODE, "--json"))
    submission = next(o["submission"] for o in conflict["observations"] if o["dataset"] == "market_prices_b")
    args = [a.replace("SOURCE", f"market_prices_b:{submission}") for a in args]
    result = CliRunner().invoke(app, ["indicators", "resolve", CODE, AREA, PERIOD, *args])
    assert result.exit_code == 1, result.output
    assert reason in result.output
    assert {v.status for v in province.values() if v.area == AREA} == {"disputed"}


def test_unknown_indicator_or_no_conflict_is_refused(province: Province) -> None:
    out = province.cli("resolve", "GIA_XANG", AREA, PERIOD, "--explain", "x", "--why", "x", "--by", "op", exit_code=1)
    assert "no indicator 'GIA_XANG'" in out
    out = province.cli(
        "resolve", CODE, "Xã Hải Lăng", "2024-03-06", "--explain", "x", "--why", "x", "--by", "op", exit_code=1
    )
    assert "has no conflict" in out
    province.cli("conflicts", "GIA_XANG", exit_code=1)
    province.cli("values", "GIA_XANG", exit_code=1)


def test_units_are_converted_as_the_register_declares() -> None:
    register = {CODE: Indicator.model_validate(indicator(units={"nghìn đồng": 1000}))}
    a = Observation(CODE, "market_prices", AREA, PERIOD, 15.5, "nghìn đồng", 1, "a.csv:2")
    b = Observation(CODE, "market_prices_b", AREA, PERIOD, 15500, "đồng", 2, "b.csv:2")
    (group,) = reconcile.groups([a, b], register)
    assert group.values == [15500, 15500] and group.agreed
    (group,) = reconcile.groups([a, b], {CODE: Indicator.model_validate(indicator())})
    assert not group.agreed  # undeclared: compared as reported
    with pytest.raises(ValueError, match="positive number"):
        Indicator.model_validate(indicator(units={"%": 0}))


def test_differ_is_relative_to_the_larger() -> None:
    assert not reconcile.differ(100, 100, 0)
    assert reconcile.differ(100, 100.0001, 0)
    assert not reconcile.differ(95, 100, 0.05) and reconcile.differ(94, 100, 0.05)
    assert not reconcile.differ(-1, 1, 2) and reconcile.differ(0, 1, 0.99)


def test_a_formula_is_computed_from_its_inputs_and_disputed_while_one_is() -> None:
    def value(code: str, v: float | None, status: str, area: str = "Quảng Trị") -> reconcile.Value:
        return reconcile.Value(code, area, "2024", v, "services", status, [])

    base = {"name": {"vi": "x", "en": "x"}, "unit": "services", "period": "year", "owner": "VPUBND"}
    source = [{"dataset": "d", "where": {"a": "b"}, "value": "v", "period": "p"}]
    register = {
        "A": Indicator.model_validate({**base, "code": "A", "sources": source}),
        "B": Indicator.model_validate({**base, "code": "B", "sources": source}),
        "SHARE": Indicator.model_validate({**base, "code": "SHARE", "unit": "%", "formula": "A / (A + B) * 100"}),
        "TWICE": Indicator.model_validate({**base, "code": "TWICE", "formula": "SHARE * 2"}),
    }
    codes = reconcile.needed(register, ["TWICE"])
    assert codes == ["A", "B", "SHARE", "TWICE"]
    agreed = [value("A", 3, "agreed"), value("B", 1, "resolved", area="Quang Tri")]  # one typed without diacritics
    found = {v.indicator: v for v in reconcile.computed_values(register, codes, agreed)}
    assert (found["SHARE"].value, found["SHARE"].status, found["TWICE"].value) == (75, "computed", 150)
    disputed = [value("A", None, "disputed"), value("B", 1, "agreed")]
    found = {v.indicator: v for v in reconcile.computed_values(register, codes, disputed)}
    assert (found["SHARE"].value, found["SHARE"].status, found["TWICE"].status) == (None, "disputed", "disputed")
    assert reconcile.computed_values(register, codes, [value("A", 3, "agreed")]) == []  # B missing: no value
    zero = reconcile.computed_values(register, codes, [value("A", 0, "agreed"), value("B", 0, "agreed")])
    assert zero[0].value is None  # 0 / 0: no value, not an error


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"formula": "A ** 2"}, "only + - * / are allowed"),
        ({"formula": "__import__('os')"}, "not Call"),
        (
            {"formula": "A + 1", "sources": [{"dataset": "d", "where": {"a": "b"}, "value": "v", "period": "p"}]},
            "not both",
        ),
        ({"formula": "GIA_GAO * 2"}, "cannot be computed from itself"),
    ],
)
def test_a_formula_that_is_not_arithmetic_over_codes_is_refused(changes: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    data = {**indicator(), "sources": [], **changes}
    with pytest.raises(ValidationError, match=re.escape(message)):
        Indicator.model_validate(data)
