"""Incremental recomputation of a derived dataset (env_readings_monthly over env_readings): after
each kind of input change the groups it touched are recomputed, and the table is exactly what a
full recompute gives; it recomputes in full, saying why, when it cannot. Real pipeline runs on a
real warehouse; the input is merged by key (refresh.mode merge) so that a run changes some rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from lgsp.checks import check_contracts
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.warehouse import changes
from lgsp.warehouse.store import Warehouse
from tests.conftest import warehouse_rows as query

DERIVED = "env_readings_monthly"
TABLE = f"SELECT * FROM main.{DERIVED} ORDER BY station_code, parameter, month"


def edit_contract(directory: Path, name: str, change: Any) -> Path:
    path = directory / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def merged_input(data: dict[str, Any]) -> None:
    data["refresh"] = {"mode": "merge"}


def source(hub: Settings) -> sqlite3.Connection:
    return sqlite3.connect(hub.home / "sandbox" / "environment.sqlite")


def recompute(hub: Settings, run_id: str) -> dict[str, Any] | None:
    with Warehouse(hub).reader() as con:
        return changes.recompute(con, DERIVED, run_id)


def full_result(hub: Settings) -> list[tuple[Any, ...]]:
    """The table as a full recompute makes it (run through the pipeline, then compared)."""
    run = Pipeline(Settings.from_env()).run(DERIVED, release=False, full=True)
    assert run.status in ("published", "unchanged"), run.error
    assert (recompute(hub, run.run_id) or {})["recompute"] == "full"
    return query(hub, TABLE)


@pytest.fixture
def followed(hub: Settings, contracts_dir: Path) -> Pipeline:
    """env_readings merged by key and published, env_readings_monthly computed in full once."""
    edit_contract(contracts_dir, "env_readings", merged_input)
    pipeline = Pipeline(Settings.from_env())  # reads the contracts from the copy
    assert pipeline.run("env_readings", release=False).status == "published"
    first = pipeline.run(DERIVED, release=False)
    assert first.status == "published", first.error
    assert recompute(hub, first.run_id) == {
        "recompute": "full",
        "groups": None,
        "reason": "lần tính đầu tiên / first computation that follows its input's changes",
    }
    return pipeline


def change_source(hub: Settings) -> None:
    """Rows added (a new month), changed in place, and moved to another group (station and month)."""
    with source(hub) as db:
        top = db.execute("SELECT max(reading_id) FROM env_readings").fetchone()[0]
        db.executemany(
            "INSERT INTO env_readings VALUES (?, 'QT-KK-01', 'PM2.5', ?, 50.0, 'µg/m³', ?)",
            [(top + i, 20.0 + i, f"2031-01-0{i} 0{i}:00:00") for i in range(1, 6)],
        )
        db.execute("UPDATE env_readings SET value = value + 7 WHERE reading_id IN (5, 6, 7)")
        db.execute(
            "UPDATE env_readings SET station_code = 'QT-NM-02', measured_at = '2030-06-01 00:00:00' WHERE reading_id = 8"
        )


def test_added_changed_and_moved_rows_recompute_only_their_groups(hub: Settings, followed: Pipeline) -> None:
    before = query(hub, TABLE)
    change_source(hub)
    assert followed.run("env_readings", release=False).status == "published"
    run = followed.run(DERIVED, release=False)
    assert run.status == "published" and run.mode == "incremental", run.error
    noted = recompute(hub, run.run_id) or {}
    assert noted["recompute"] == "incremental" and 2 <= noted["groups"] < len(before) // 4
    incremental = query(hub, TABLE)
    assert incremental != before and incremental == full_result(hub)


def test_nothing_changed_leaves_it_unchanged(hub: Settings, followed: Pipeline) -> None:
    before = query(hub, TABLE)
    assert followed.run("env_readings", release=False).status == "published"  # the same rows again
    run = followed.run(DERIVED, release=False)
    assert run.status == "unchanged" and recompute(hub, run.run_id) == {
        "recompute": "incremental",
        "groups": 0,
        "reason": None,
    }
    assert query(hub, TABLE) == before


def test_retracted_and_corrected_input_rows(hub: Settings, followed: Pipeline) -> None:
    """A group whose only reading is retracted vanishes; a corrected reading changes its group."""
    with source(hub) as db:
        db.execute(
            "INSERT INTO env_readings VALUES (900001, 'QT-KK-01', 'CO', 1.5, NULL, 'mg/m³', '2032-03-03 03:00:00')"
        )
    followed.run("env_readings", release=False)
    assert followed.run(DERIVED, release=False).status == "published"
    lonely = f"SELECT count(*) FROM main.{DERIVED} WHERE month = DATE '2032-03-01'"
    assert query(hub, lonely) == [(1,)]
    followed.retract("env_readings", {"reading_id": "900001"}, by="staff:lan", why="thiết bị hỏng")
    followed.correct("env_readings", {"reading_id": "9"}, {"value": "77.5"}, by="staff:lan", why="hiệu chuẩn lại")
    run = followed.run(DERIVED, release=False)
    assert run.status == "published" and (recompute(hub, run.run_id) or {})["groups"] == 2, run.error
    assert query(hub, lonely) == [(0,)]
    incremental = query(hub, TABLE)
    assert incremental == full_result(hub)


def test_a_full_replace_of_the_input_recomputes_in_full(hub: Settings, followed: Pipeline, contracts_dir: Path) -> None:
    edit_contract(contracts_dir, "env_readings", lambda d: d.pop("refresh"))
    change_source(hub)
    assert followed.run("env_readings", release=False).status == "published"
    run = followed.run(DERIVED, release=False)
    assert run.status == "published" and run.mode == "full", run.error
    assert recompute(hub, run.run_id) == {
        "recompute": "full",
        "groups": None,
        "reason": "đầu vào env_readings: thay đổi không được giữ / input env_readings: replaced in full",
    }
    assert query(hub, TABLE) == full_result(hub)


def test_a_changed_contract_or_an_edited_table_recomputes_in_full(
    hub: Settings, followed: Pipeline, contracts_dir: Path
) -> None:
    def rounder(data: dict[str, Any]) -> None:
        data["source"]["sql"] = data["source"]["sql"].replace("), 4) AS mean_value", "), 2) AS mean_value")

    edit_contract(contracts_dir, DERIVED, rounder)
    run = followed.run(DERIVED, release=False)
    assert (recompute(hub, run.run_id) or {})["reason"] == (
        "hợp đồng đã đổi từ lần tính trước / the contract changed since the last computation"
    )
    station, parameter, month = query(hub, f"SELECT station_code, parameter, month FROM main.{DERIVED} LIMIT 1")[0]
    key = {"station_code": station, "parameter": parameter, "month": str(month)}
    followed.retract(DERIVED, key, by="staff:lan", why="kiểm tra")
    run = followed.run(DERIVED, release=False)
    assert (recompute(hub, run.run_id) or {})["reason"].startswith("bảng đã bị sửa sau lần tính trước")
    assert followed.run(DERIVED, release=False).status == "unchanged"  # and then incremental again


def test_keys_that_do_not_say_what_the_sql_groups_by_fail_the_run(
    hub: Settings, followed: Pipeline, contracts_dir: Path
) -> None:
    """Keys grouping by year while the SQL groups by month: the rows fall outside the groups kept."""

    def by_year(data: dict[str, Any]) -> None:
        data["source"]["incremental"]["keys"]["month"] = "CAST(date_trunc('year', measured_at) AS DATE)"

    edit_contract(contracts_dir, DERIVED, by_year)
    assert followed.run(DERIVED, release=False, full=True).status == "published"
    before = query(hub, TABLE)
    change_source(hub)
    followed.run("env_readings", release=False)
    run = followed.run(DERIVED, release=False)
    assert run.status == "failed" and "source.incremental.keys do not say what the SQL groups by" in (run.error or "")
    assert query(hub, TABLE) == before
    with Warehouse(hub).reader() as con:  # nothing of the run is left in the warehouse
        assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name LIKE '_lgsp_groups__%'").fetchall()


def test_changes_are_kept_only_until_read(hub: Settings, followed: Pipeline) -> None:
    change_source(hub)
    followed.run("env_readings", release=False)
    waiting = "SELECT count(*) FROM changes.env_readings"
    assert query(hub, waiting)[0][0] > 0
    followed.run(DERIVED, release=False)
    assert query(hub, waiting) == [(0,)]
    assert query(hub, "SELECT count(*) FROM meta.changes WHERE dataset_id = 'env_readings'") == [(0,)]


# -- lgsp check ---------------------------------------------------------------------------------------


def incremental(**changes_: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["source"]["incremental"].update(changes_)

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            incremental(keys={"station_code": "station_code", "parameter": "parameter"}),
            "source.incremental.keys: ['parameter', 'station_code'] must be exactly the primary key "
            "['month', 'parameter', 'station_code']",
        ),
        (incremental(input="schools"), "incremental.input: 'schools' is not among the inputs"),
        (
            incremental(keys={"station_code": "station", "parameter": "parameter", "month": "month(measured_at)"}),
            "source.incremental.keys.station_code: 'station' is no expression over env_readings's columns",
        ),
    ],
)
def test_check_refuses_incremental_keys_that_cannot_work(contracts_dir: Path, change: Any, problem: str) -> None:
    path = edit_contract(contracts_dir, DERIVED, change)
    problems = check_contracts(sorted(contracts_dir.glob("*.yaml")))
    assert len(problems) == 1 and problems[0].startswith(str(path)) and problem in problems[0], problems


def test_check_refuses_an_input_named_with_a_schema(contracts_dir: Path) -> None:
    def qualified(data: dict[str, Any]) -> None:
        data["source"]["sql"] = data["source"]["sql"].replace("FROM env_readings", "FROM main.env_readings")

    path = edit_contract(contracts_dir, DERIVED, qualified)
    assert check_contracts(sorted(contracts_dir.glob("*.yaml"))) == [
        f"{path}: source.sql: names env_readings with a schema; name it alone, as the incremental run restricts it"
    ]


def test_an_undone_edit_of_the_derived_table_is_restored_by_a_full_recompute(hub: Settings, followed: Pipeline) -> None:
    before = query(hub, TABLE)
    station, parameter, month = before[0][:3]
    key = {"station_code": station, "parameter": parameter, "month": str(month)}
    edit = followed.retract(DERIVED, key, by="staff:lan", why="kiểm tra")
    followed.run(DERIVED, release=False)  # in full: the table was edited
    followed.undo_edit(DERIVED, edit.id, by="staff:lan")
    run = followed.run(DERIVED, release=False)
    assert (recompute(hub, run.run_id) or {})["recompute"] == "full" and query(hub, TABLE) == before


def test_changes_past_the_limit_are_not_kept(
    hub: Settings, followed: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "KEEP_FLOOR", 3)
    monkeypatch.setattr(changes, "KEEP_SHARE", 0.0)
    change_source(hub)  # more than 3 rows
    followed.run("env_readings", release=False)
    assert query(hub, "SELECT count(*) FROM changes.env_readings") == [(0,)]
    run = followed.run(DERIVED, release=False)
    reason = (recompute(hub, run.run_id) or {})["reason"]
    assert reason.startswith("đầu vào env_readings: thay đổi không được giữ / input env_readings: changes not kept: ")
    assert reason.endswith("rows waited, more than 3") and query(hub, TABLE) == full_result(hub)


def test_a_change_of_an_input_not_followed_recomputes_in_full(
    hub: Settings, followed: Pipeline, contracts_dir: Path
) -> None:
    edit_contract(contracts_dir, DERIVED, lambda d: d["source"]["inputs"].append("schools"))
    assert followed.run("schools", release=False).status == "published"
    assert followed.run(DERIVED, release=False).status == "published"  # in full: the contract changed
    assert followed.run("schools", release=False).status == "published"
    run = followed.run(DERIVED, release=False)
    assert (recompute(hub, run.run_id) or {})["reason"] == (
        "đầu vào schools đã đổi / input schools changed, and only env_readings's changes are followed"
    )


@pytest.mark.parametrize(
    ("expression", "found"),
    [
        ("CAST(date_trunc('month', measured_at) AS DATE)", ("measured_at", "month")),
        ("date_trunc('hour', measured_at)", ("measured_at", "hour")),
        ("CAST(date_trunc('hour', measured_at) AS DATE)", None),  # a day's group spans more than an hour
        ("year(measured_at)", None),
        ("station_code", None),
    ],
)
def test_only_truncated_dates_bound_the_input(expression: str, found: tuple[str, str] | None) -> None:
    import duckdb

    from lgsp.connectors.derived import truncation

    assert truncation(duckdb.connect(), expression) == found


def test_an_input_run_confirmed_on_review_recomputes_in_full(
    hub: Settings, followed: Pipeline, contracts_dir: Path
) -> None:
    """A held run replaces the whole input when confirmed: nothing of it was kept by rows."""

    def shrinking(data: dict[str, Any]) -> None:
        data["refresh"] = {"mode": "replace", "max_shrink": 0.0}

    edit_contract(contracts_dir, "env_readings", shrinking)
    with source(hub) as db:
        db.execute("DELETE FROM env_readings WHERE reading_id <= 100")
    held = followed.run("env_readings", release=False)
    assert held.status == "held", held.error
    waiting = followed.run(DERIVED, release=False)  # the held run changed nothing yet
    assert waiting.status == "unchanged" and (recompute(hub, waiting.run_id) or {})["recompute"] == "incremental"
    followed.review("env_readings", held.run_id, publish=True, by="staff:lan")
    run = followed.run(DERIVED, release=False)
    assert (recompute(hub, run.run_id) or {})["reason"] == (
        "đầu vào env_readings: thay đổi không được giữ / input env_readings: a run held for review, then confirmed"
    )
    assert query(hub, TABLE) == full_result(hub)
