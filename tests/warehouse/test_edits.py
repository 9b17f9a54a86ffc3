"""Retracting and correcting published rows (issue 13, item 9): real pipeline runs on a real
warehouse, a department's file drop (`market_prices`) and a full-refresh SQL source (`schools`).
An edit leaves the table and the next release at once, is a run in the history, stays in force
over later runs (merged or replacing) until undone, and a refused edit changes nothing."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.versions import Release, latest_release, releases_dir
from lgsp.warehouse.errors import EditError
from lgsp.warehouse.store import Warehouse
from tests.conftest import warehouse_rows
from tests.connectors.test_files import PRICES, ROWS, csv_bytes

HEADER = ROWS[0]


def cli(*args: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == exit_code, result.output
    return result.output


def release_text(hub: Settings, dataset: str) -> tuple[Release, str]:
    """The latest release and its CSV, as a consumer downloads it."""
    release = latest_release(hub.home, dataset)
    assert release is not None
    path = releases_dir(hub.home, dataset) / f"v{release.version}" / release.distribution("csv").file
    return release, path.read_text(encoding="utf-8-sig")


def runs(hub: Settings, dataset: str) -> list[tuple[Any, ...]]:
    return warehouse_rows(
        hub,
        "SELECT run_id, mode, status, rows_published, error FROM meta.runs WHERE dataset_id = ? ORDER BY ended_at",
        [dataset],
    )


@pytest.fixture
def prices(hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Prices:
    folder = tmp_path / "inbox" / "stc"
    folder.mkdir(parents=True)
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(folder))
    p = Prices(Settings.from_env(), folder, contracts_dir)
    p.contract()
    p.drop("gia_thang_3.csv", ROWS)
    assert Pipeline(p.hub).run("market_prices").status == "published"
    return p


class Prices:
    """The `market_prices` file drop of the Department of Finance, published once from ROWS."""

    def __init__(self, hub: Settings, inbox: Path, contracts: Path) -> None:
        self.hub, self.inbox, self.contracts = hub, inbox, contracts

    def contract(self, **changes: Any) -> None:
        path = self.contracts / "market_prices.yaml"
        path.write_text(yaml.safe_dump({**PRICES, **changes}, allow_unicode=True), encoding="utf-8")

    def drop(self, name: str, rows: list[list[str]]) -> None:
        (self.inbox / name).write_bytes(csv_bytes(rows, "utf-8"))

    def table(self) -> dict[str, tuple[Any, ...]]:
        rows = warehouse_rows(self.hub, "SELECT ma_mat_hang, ten, gia, so_luong FROM main.market_prices")
        return {r[0]: r[1:] for r in rows}


# -- retract and correct ----------------------------------------------------------------------------


def test_a_retracted_row_leaves_the_table_and_the_next_release(prices: Prices) -> None:
    before, csv = release_text(prices.hub, "market_prices")
    assert "G02" in csv
    out = cli(
        "rows", "retract", "market_prices", "--key", "ma_mat_hang=G02",
        "--why", "Giá nhập nhầm đơn vị (nghìn đồng)", "--by", "staff:lan",
    )  # fmt: skip
    assert "edit #1" in out and f"release v{before.version + 1}" in out
    assert sorted(prices.table()) == ["G01", "G03", "G04"]
    after, csv = release_text(prices.hub, "market_prices")
    assert after.version == before.version + 1 and after.rows == 3
    assert "G02" not in csv and "Thịt lợn hơi" not in csv
    # The edit is a run in the dataset's history, with who and why.
    run_id, mode, status, published, note = runs(prices.hub, "market_prices")[-1]
    assert (mode, status, published) == ("edit", "published", 3)
    assert "row ma_mat_hang=G02 retracted" in note and "staff:lan" in note
    assert "Giá nhập nhầm đơn vị (nghìn đồng)" in note
    # The release names the last validated run (whose quality its badge shows); the edit is in its history.
    validated = runs(prices.hub, "market_prices")[-2][0]
    assert run_id.startswith("edit__") and after.run_id == validated


def test_a_corrected_value_is_replaced_in_the_table_and_the_release(prices: Prices) -> None:
    nfd = unicodedata.normalize("NFD", "Gạo tẻ thơm")
    edit = Pipeline(prices.hub).correct(
        "market_prices", {"ma_mat_hang": "G01"}, {"gia": "16500", "ten": nfd}, by="staff:lan", why="Sai giá"
    )
    assert edit.values == {"gia": "16500.0", "ten": "Gạo tẻ thơm"}  # typed, and NFC
    assert isinstance(edit.release, int)
    assert prices.table()["G01"] == ("Gạo tẻ thơm", 16500.0, 1305471)
    _, csv = release_text(prices.hub, "market_prices")
    (line,) = [x for x in csv.splitlines() if x.startswith("G01,")]
    assert "Gạo tẻ thơm" in line and "16500" in line and "15500" not in line
    # Emptied on request, in a column that may be empty.
    cli("rows", "correct", "market_prices", "--key", "ma_mat_hang=G01", "--null", "so_luong", "--why", "Chưa rõ")
    assert prices.table()["G01"] == ("Gạo tẻ thơm", 16500.0, None)


def test_a_department_file_that_sends_the_row_again_does_not_bring_it_back(prices: Prices) -> None:
    pipeline = Pipeline(prices.hub)
    pipeline.retract("market_prices", {"ma_mat_hang": "G02"}, by="staff:lan", why="Mặt hàng không còn bán")
    pipeline.correct("market_prices", {"ma_mat_hang": "G01"}, {"gia": "16500"}, by="staff:lan", why="Sai giá")
    prices.drop("gia_gui_lai.csv", ROWS)  # the same rows, sent again: merged by key
    run = pipeline.run("market_prices")
    assert run.status == "published" and run.rows_published == 4  # as sent: every row accounted for
    assert "2 row(s) retracted or corrected by the dataset's edits in force" in (run.error or "")
    assert sorted(prices.table()) == ["G01", "G03", "G04"] and prices.table()["G01"][1] == 16500.0
    _, csv = release_text(prices.hub, "market_prices")
    assert "G02" not in csv and "16500" in csv


def test_a_full_refresh_source_run_again_keeps_the_edits_until_undone(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    first = pipeline.run("schools")
    assert first.status == "published"
    (gone, pupils_before), (fixed, _) = warehouse_rows(
        hub, "SELECT school_code, pupils FROM main.schools ORDER BY school_code LIMIT 2"
    )
    retracted = pipeline.retract("schools", {"school_code": gone}, by="staff:hoa", why="Trường đã giải thể")
    corrected = pipeline.correct("schools", {"school_code": fixed}, {"pupils": "123"}, by="staff:hoa", why="Sai số")
    count = first.rows_published - 1
    with pytest.raises(EditError, match="column name may not be empty") as refused:
        pipeline.correct("schools", {"school_code": fixed}, {"name": None}, by="staff:hoa", why="x")
    assert refused.value.field == "name"
    released = latest_release(hub.home, "schools")
    assert released is not None and released.rows == count

    again = pipeline.run("schools")  # the source still sends both rows as they were
    assert again.status == "published" and again.rows_extracted == again.rows_published + again.rows_quarantined
    assert warehouse_rows(hub, "SELECT count(*) FROM main.schools") == [(count,)]
    assert warehouse_rows(hub, "SELECT count(*) FROM main.schools WHERE school_code = ?", [gone]) == [(0,)]
    assert warehouse_rows(hub, "SELECT pupils FROM main.schools WHERE school_code = ?", [fixed]) == [(123,)]
    unchanged = latest_release(hub.home, "schools")
    assert unchanged is not None and unchanged.version == released.version  # same rows, same bytes

    cli("rows", "undo", "schools", str(retracted.id), "--by", "staff:hoa")
    undone = pipeline.undo_edit("schools", corrected.id, by="staff:hoa")
    assert undone.undone_by == "staff:hoa" and undone.undone_at is not None
    # Undoing restores nothing now: the next run brings the source's rows back.
    assert warehouse_rows(hub, "SELECT count(*) FROM main.schools") == [(count,)]
    assert runs(hub, "schools")[-1][1:3] == ("edit", "unchanged")
    back = pipeline.run("schools")
    assert back.status == "published" and back.rows_published == first.rows_published and back.error is None
    assert warehouse_rows(hub, "SELECT pupils FROM main.schools WHERE school_code = ?", [gone]) == [(pupils_before,)]
    assert warehouse_rows(hub, "SELECT pupils FROM main.schools WHERE school_code = ?", [fixed]) != [(123,)]
    assert latest_release(hub.home, "schools").rows == first.rows_published  # type: ignore[union-attr]


def test_a_held_run_confirmed_later_keeps_the_edits(prices: Prices) -> None:
    prices.contract(refresh={"mode": "replace", "max_shrink": 0.1})
    pipeline = Pipeline(prices.hub)
    pipeline.retract("market_prices", {"ma_mat_hang": "G04"}, by="staff:lan", why="Trùng mặt hàng")
    pipeline.correct("market_prices", {"ma_mat_hang": "G01"}, {"gia": "16500"}, by="staff:lan", why="Sai giá")
    prices.drop("it_dong.csv", [HEADER, ROWS[1], ROWS[4]])  # G01 and G04: one of three published rows goes
    held = pipeline.run("market_prices")
    assert held.status == "held"
    confirmed = pipeline.review("market_prices", held.run_id, publish=True, by="stc.lan")
    assert confirmed.status == "published" and "retracted or corrected" in (confirmed.error or "")
    assert prices.table() == {"G01": ("Gạo tẻ thường", 16500.0, 1305471)}


# -- refused edits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["retract", "--key", "ma_mat_hang=G99", "--why", "x"], "no published row of market_prices has the key ma_mat_hang=G99"),
        (["retract", "--key", "ten=Cá nục", "--why", "x"], "the key must name exactly the primary-key columns (ma_mat_hang)"),
        (["retract", "--key", "ma_mat_hang=G01", "--why", "  "], "cần ghi lý do / a reason (why) is required"),
        (["correct", "--key", "ma_mat_hang=G01", "--set", "ma_mat_hang=G09", "--why", "x"], "the key column ma_mat_hang cannot be corrected"),
        (["correct", "--key", "ma_mat_hang=G01", "--set", "so_luong=1.5", "--why", "x"], "the value '1.5' does not fit column so_luong (integer"),
        (["correct", "--key", "ma_mat_hang=G01", "--set", "gia=15,5", "--why", "x"], "the value '15,5' does not fit column gia (number"),
        (["correct", "--key", "ma_mat_hang=G01", "--set", "ngay=31/13/2024", "--why", "x"], "does not fit column ngay (date: a date as yyyy-mm-dd"),
        (["correct", "--key", "ma_mat_hang=G01", "--set", "gia_ban=1", "--why", "x"], "market_prices has no column gia_ban"),
        (["correct", "--key", "ma_mat_hang=G01", "--why", "x"], "give at least one new value"),
        (["correct", "--key", "ma_mat_hang", "--set", "gia=1", "--why", "x"], "give column=value"),
    ],
)  # fmt: skip
def test_a_refused_edit_exits_1_and_changes_nothing(prices: Prices, args: list[str], said: str) -> None:
    table, history = prices.table(), runs(prices.hub, "market_prices")
    released, csv = release_text(prices.hub, "market_prices")
    out = cli("rows", args[0], "market_prices", *args[1:], "--by", "staff:lan", exit_code=1)
    assert said in " ".join(out.split()), out
    assert " / " in out  # Vietnamese, then English
    assert prices.table() == table and runs(prices.hub, "market_prices") == history
    assert release_text(prices.hub, "market_prices") == (released, csv)
    assert Pipeline(prices.hub).edit_history("market_prices") == []


def test_a_refused_edit_names_its_field(prices: Prices) -> None:
    pipeline = Pipeline(prices.hub)
    with pytest.raises(EditError) as refused:
        pipeline.correct("market_prices", {"ma_mat_hang": "G01"}, {"so_luong": "nhiều"}, by="staff:lan", why="x")
    assert refused.value.field == "so_luong" and refused.value.dataset == "market_prices"
    with pytest.raises(EditError) as refused:
        pipeline.retract("market_prices", {"ma_mat_hang": "G01"}, by="", why="x")
    assert refused.value.field == "by"
    with pytest.raises(EditError) as refused:
        pipeline.retract("market_prices", {"ma_mat_hang": "G01", "ten": "Gạo"}, by="staff:lan", why="x")
    assert refused.value.field == "key"
    with pytest.raises(EditError) as refused:
        pipeline.undo_edit("market_prices", 42, by="staff:lan")
    assert refused.value.field == "edit_id"


# -- history and determinism ------------------------------------------------------------------------


def test_history_lists_who_why_and_when_and_an_edit_is_undone_once(prices: Prices) -> None:
    pipeline = Pipeline(prices.hub)
    first = pipeline.retract("market_prices", {"ma_mat_hang": "G03"}, by="staff:lan", why="Hàng cấm bán")
    pipeline.correct(
        "market_prices", {"ma_mat_hang": "G01"}, {"gia": "16500"}, by="nguyen.an", why="Sai giá [/b] [red]"
    )
    cli("rows", "undo", "market_prices", str(first.id), "--by", "staff:minh")
    out = cli("rows", "undo", "market_prices", str(first.id), "--by", "staff:minh", exit_code=1)
    assert "was undone already, by staff:minh" in " ".join(out.split())
    table = cli("rows", "history", "market_prices")
    for text in ("retract", "ma_mat_hang=G03", "Hàng cấm bán", "staff:lan", "staff:minh", "correct", "gia=16500.0"):
        assert text in table, table
    assert "[/b] [red]" in table  # a reason is shown as typed, never read as the console's markup
    edits = json.loads(cli("rows", "history", "market_prices", "--json"))
    assert [(e["id"], e["action"], e["by"], e["why"]) for e in edits] == [
        (1, "retract", "staff:lan", "Hàng cấm bán"),
        (2, "correct", "nguyen.an", "Sai giá [/b] [red]"),
    ]
    assert edits[0]["undone_by"] == "staff:minh" and edits[0]["undone_at"] and edits[1]["undone_at"] is None
    assert edits[0]["at"] <= edits[1]["at"] and edits[0]["run_id"].startswith("edit__")


def test_the_release_after_an_edit_is_made_again_byte_for_byte(prices: Prices) -> None:
    pipeline = Pipeline(prices.hub)
    pipeline.correct("market_prices", {"ma_mat_hang": "G02"}, {"gia": "104.5"}, by="staff:lan", why="Sai giá")
    made = latest_release(prices.hub.home, "market_prices")
    assert made is not None
    folder = releases_dir(prices.hub.home, "market_prices")
    files = {d.file: (folder / f"v{made.version}" / d.file).read_bytes() for d in made.distributions}
    assert pipeline.release("market_prices").version == made.version  # nothing new to release
    shutil.rmtree(folder)  # made again from nothing: the same bytes
    again = pipeline.release("market_prices")
    assert [d.sha256 for d in again.distributions] == [d.sha256 for d in made.distributions]
    assert {f: (folder / f"v{again.version}" / f).read_bytes() for f in files} == files


def test_an_edit_of_a_dataset_never_published_is_refused(hub: Settings) -> None:
    out = cli("rows", "retract", "schools", "--key", "school_code=X", "--why", "x", "--by", "staff:hoa", exit_code=1)
    assert "no published row of schools has the key school_code=X" in " ".join(out.split())
    out = cli("rows", "history", "khong_co", exit_code=1)
    assert "no contract for dataset 'khong_co'" in out
    assert cli("rows", "history", "schools").count("staff") == 0
    with Warehouse(hub).reader() as con:
        assert con.execute("SELECT count(*) FROM meta.runs WHERE dataset_id = 'schools'").fetchone() == (0,)
