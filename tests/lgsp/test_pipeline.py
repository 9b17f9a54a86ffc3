"""End to end on the sandbox province: every row is published or quarantined, with the reason."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pytest
import yaml
from lgsp_sandbox.build import mutate_department
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.conftest import warehouse_rows
from tests.paths import REPO_ROOT

DATASETS = ["price_observations", "schools", "driving_licences", "env_readings", "ict_indicators"]


query = warehouse_rows


def test_every_dataset_publishes_and_every_row_is_accounted_for(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    for dataset_id in DATASETS:
        run = pipeline.run(dataset_id)
        assert run.status == "published", run
        assert run.rows_extracted > 0
        assert run.rows_extracted == run.rows_published + run.rows_quarantined
        assert query(hub, f"SELECT count(*) FROM main.{dataset_id}") == [(run.rows_published,)]
        quarantined = query(
            hub, f"SELECT count(*), count(_reasons) FROM quarantine.{dataset_id} WHERE _run_id = ?", [run.run_id]
        )
        assert quarantined == [(run.rows_quarantined, run.rows_quarantined)]
        assert Path(run.report).exists()
    # The sandbox's dirt is really caught: duplicate keys, bad dates, negative values, nulls.
    reasons = " ".join(r[0] for r in query(hub, "SELECT _reasons FROM quarantine.price_observations"))
    assert "is not a valid date" in reasons
    assert "outside the allowed range" in reasons and "nan" not in reasons
    assert "khoá trùng / duplicate key (id = " in reasons
    checks = {c for r in query(hub, "SELECT _checks FROM quarantine.price_observations") for c in r[0]}
    assert {"pk", "type:observed_on"} <= checks
    # Published keys are unique and present.
    assert query(hub, "SELECT count(*) - count(DISTINCT id) FROM main.price_observations") == [(0,)]
    # Staging never outlives a run.
    assert not any(hub.staging_dir.rglob("*.duckdb"))


def test_published_text_is_nfc(hub: Settings) -> None:
    Pipeline(hub).run("schools")
    names = [r[0] for r in query(hub, "SELECT name FROM main.schools")]
    assert names and all(unicodedata.is_normalized("NFC", n) for n in names)
    source = sqlite3.connect(hub.sandbox_dir / "education.sqlite")
    nfd = [
        r[0]
        for r in source.execute("SELECT name FROM schools").fetchall()
        if r[0] and not unicodedata.is_normalized("NFC", r[0])
    ]
    assert nfd, "the sandbox should hold NFD names for this test to mean something"


def test_incremental_run_upserts_and_advances_the_cursor(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    first = pipeline.run("price_observations")
    assert first.mode == "full" and first.cursor_to
    before = query(hub, "SELECT count(*) FROM main.price_observations")[0][0]
    mutate_department("finance", f"sqlite:///{hub.sandbox_dir / 'finance.sqlite'}", seed=7, changed=10, added=5)
    second = pipeline.run("price_observations")
    assert second.status == "published" and second.mode == "incremental"
    assert second.cursor_from == first.cursor_to and second.cursor_to > first.cursor_to
    # Only rows at or past the cursor are pulled: the changes, the additions and the boundary rows.
    assert 15 <= second.rows_extracted < 100
    assert second.rows_extracted == second.rows_published + second.rows_quarantined
    after = query(hub, "SELECT count(*) FROM main.price_observations")[0][0]
    assert after == before + 5 - _quarantined_new(hub, second.run_id)
    assert query(hub, "SELECT count(*) - count(DISTINCT id) FROM main.price_observations") == [(0,)]
    assert query(hub, "SELECT cursor FROM meta.state WHERE dataset_id = 'price_observations'") == [(second.cursor_to,)]


def _quarantined_new(settings: Settings, run_id: str) -> int:
    rows = query(
        settings,
        "SELECT count(*) FROM quarantine.price_observations q WHERE _run_id = ? "
        "AND NOT EXISTS (SELECT 1 FROM main.price_observations p WHERE CAST(p.id AS VARCHAR) = q.id)",
        [run_id],
    )
    return rows[0][0]


def _edit(contracts_dir: Path, dataset_id: str, **changes: object) -> None:
    path = contracts_dir / f"{dataset_id}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_error_severity_rejects_the_run_and_keeps_the_previous_version(hub: Settings, contracts_dir: Path) -> None:
    pipeline = Pipeline(Settings.from_env())
    first = pipeline.run("schools")
    data = yaml.safe_load((contracts_dir / "schools.yaml").read_text(encoding="utf-8"))
    _edit(
        contracts_dir,
        "schools",
        expectations=[
            *data["expectations"],
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}, "severity": "error"},
        ],
    )
    second = pipeline.run("schools")
    assert second.status == "rejected"
    assert second.rows_published == 0
    assert second.rows_quarantined == second.rows_extracted == first.rows_extracted
    assert query(hub, "SELECT count(*) FROM main.schools") == [(first.rows_published,)]
    reasons = query(
        hub,
        "SELECT DISTINCT split_part(_reasons, ';', 1) FROM quarantine.schools WHERE _run_id = ?",
        [second.run_id],
    )
    assert reasons == [("run rejected by expect_table_row_count_to_be_between(max_value=10)",)]
    result = CliRunner().invoke(app, ["run", "schools"])
    assert result.exit_code == 1 and "rejected" in result.output


def test_warn_severity_publishes_and_reports(hub: Settings, contracts_dir: Path) -> None:
    _edit(
        contracts_dir,
        "schools",
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "pupils", "max_value": 300},
                "severity": "warn",
            }
        ],
    )
    run = Pipeline(Settings.from_env()).run("schools")
    assert run.status == "published" and run.rows_warned > 0
    over = query(hub, "SELECT count(*) FROM main.schools WHERE pupils > 300")[0][0]
    assert over == run.rows_warned
    html = Path(run.report).read_text(encoding="utf-8")
    assert "expect_column_values_to_be_between" in html and "warn" in html


def test_a_new_contract_needs_no_code(hub: Settings, contracts_dir: Path) -> None:
    (contracts_dir / "school_staffing.yaml").write_text(
        textwrap.dedent(
            """\
            id: school_staffing
            title: {vi: Giáo viên theo trường, en: Teachers per school}
            description: {vi: Số giáo viên và học sinh của từng trường., en: Teachers and pupils of each school.}
            publisher: {code: SGDDT, name: {vi: Sở Giáo dục và Đào tạo, en: Department of Education and Training}}
            source: {kind: sql, connection: education, table: schools}
            primary_key: [school_code]
            columns:
              - {name: school_code, type: string, description: {vi: Mã trường, en: School code}}
              - {name: pupils, type: integer, description: {vi: Số học sinh, en: Pupils}}
              - {name: teachers, type: integer, description: {vi: Số giáo viên, en: Teachers}}
            classification: open
            licence: {id: CC-BY-4.0, title: Creative Commons Attribution 4.0, url: https://creativecommons.org/licenses/by/4.0/}
            update_frequency: annual
            theme: [EDUC]
            schedule: "@monthly"
            """
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["run", "school_staffing"])
    assert result.exit_code == 0, result.output
    assert query(hub, "SELECT count(*) > 700 FROM main.school_staffing") == [(True,)]
    from lgsp.dag_factory import build_dags

    assert "lgsp_school_staffing" in build_dags(contracts_dir)


def test_unconfigured_connection_fails_clearly_and_publishes_nothing(hub: Settings, contracts_dir: Path) -> None:
    _edit(contracts_dir, "schools", source={"kind": "sql", "connection": "nowhere", "table": "schools"})
    run = Pipeline(Settings.from_env()).run("schools")
    assert run.status == "failed"
    assert "LGSP_CONN_NOWHERE" in run.error
    assert query(hub, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'") == [("admin_units",)]


def test_restricted_personal_data_lives_only_in_the_warehouse(hub: Settings) -> None:
    run = Pipeline(hub).run("driving_licences")
    assert run.status == "published"
    source = sqlite3.connect(hub.sandbox_dir / "transport.sqlite")
    secrets = [
        v
        for row in source.execute("SELECT citizen_id, full_name FROM driving_licences LIMIT 200").fetchall()
        for v in row
        if v
    ]
    for path in hub.home.rglob("*"):
        if not path.is_file() or path.name.startswith("warehouse.duckdb") or hub.sandbox_dir in path.parents:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} holds personal data: {leaked[:3]}"


KILL_SCRIPT = """
import sys, time
import lgsp.warehouse.store as store
from lgsp.pipeline import Pipeline

real = store.Warehouse.record_run
def slow(con, run):
    real(con, run)
    print("PUBLISHING", flush=True)
    time.sleep(60)
store.Warehouse.record_run = staticmethod(slow)
Pipeline().run("schools", "killed-run")
"""


def test_a_run_killed_mid_publish_leaves_the_previous_version(hub: Settings, tmp_path: Path) -> None:
    first = Pipeline(hub).run("schools")
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ), cwd=REPO_ROOT
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "PUBLISHING" in line:
            break
    # The new table, the quarantine rows and the run record are written but not committed.
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert query(hub, "SELECT count(*) FROM main.schools") == [(first.rows_published,)]
    assert query(hub, "SELECT count(*) FROM meta.runs WHERE run_id = 'killed-run'") == [(0,)]
    assert query(hub, "SELECT count(*) FROM quarantine.schools WHERE _run_id = 'killed-run'") == [(0,)]
    # The writer lock died with the process: the next run goes through, and clears the leftovers.
    assert Pipeline(hub).run("schools").status == "published"
    assert query(hub, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%lgsp%'") == []


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["auto", "sqlalchemy"])
def test_the_same_run_from_postgresql(
    hub: Settings, contracts_dir: Path, postgres, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """A real PostgreSQL source, read by DuckDB's scanner or by SQLAlchemy, publishes what the
    SQLite copy of the same department publishes, and increments the same way."""
    from lgsp_sandbox.build import build_department

    from_sqlite = Pipeline(Settings.from_env()).run("price_observations")
    url = postgres.create_database(f"finance_{engine}")
    build_department("finance", url)
    monkeypatch.setenv("LGSP_CONN_FINANCE", url)
    _edit(
        contracts_dir,
        "price_observations",
        source={"kind": "sql", "connection": "finance", "table": "price_observations", "engine": engine},
    )
    settings = Settings.from_env()
    monkeypatch.setenv("LGSP_HOME", str(settings.home.parent / "pg-home"))
    settings = Settings.from_env()
    first = Pipeline(settings).run("price_observations")
    assert first.status == "published", first
    assert (first.rows_extracted, first.rows_published, first.rows_quarantined) == (
        from_sqlite.rows_extracted,
        from_sqlite.rows_published,
        from_sqlite.rows_quarantined,
    )
    mutate_department("finance", url, seed=11, changed=10, added=5)
    second = Pipeline(settings).run("price_observations")
    assert second.mode == "incremental" and second.status == "published"
    assert second.rows_extracted == second.rows_published + second.rows_quarantined >= 15
    assert query(settings, "SELECT count(*) - count(DISTINCT id) FROM main.price_observations") == [(0,)]


def test_a_run_stages_and_validates_without_the_warehouse_lock(hub: Settings) -> None:
    """Another process holding the warehouse's writer lock (a long publish, say) does not stop a
    run's scan-fed stage from being validated: validation works in the run's own file. Its publish
    waits for the lock, then copies in what it keeps; nothing is left of the run's file after."""
    pipeline = Pipeline(hub)
    pipeline.run("schools")  # published once, so the second run has something to replace
    pipeline.extract("schools", "beside")
    staging = pipeline.staging("schools", "beside")
    assert staging.path.exists()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from filelock import FileLock
            lock = FileLock(sys.argv[1])
            lock.acquire()
            print("held", flush=True)
            time.sleep(120)
        """), str(pipeline.warehouse.lock.lock_file)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        manifest = pipeline.validate("schools", "beside")  # no wait: the lock is not needed
        assert manifest.validated is not None and manifest.validated.rows_failing > 0
        from lgsp.warehouse.errors import WarehouseBusy

        with pytest.raises(WarehouseBusy):  # publishing does need it
            with pipeline.warehouse.writer(timeout=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    run = pipeline.publish("schools", "beside", release=False)
    assert run.status == "published" and run.rows_extracted == run.rows_published + run.rows_quarantined
    quarantined = query(hub, "SELECT count(*) FROM quarantine.schools WHERE _run_id = 'beside'")
    assert quarantined == [(run.rows_quarantined,)]
    assert not staging.dir.exists()
    # Nothing of the run is left in the warehouse either.
    leftovers = query(hub, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_lgsp\\_%' ESCAPE '\\'")
    assert leftovers == [(0,)]


def test_a_dead_runs_file_is_removed_by_the_next_publish(hub: Settings) -> None:
    """A run killed after its extract (its file holds every staged row, personal data included)
    leaves nothing once the dataset publishes again; a run whose publish committed but whose
    source side then failed leaves nothing either."""
    pipeline = Pipeline(hub)
    pipeline.extract("driving_licences", "dead")
    pipeline.validate("driving_licences", "dead")
    dead = pipeline.staging("driving_licences", "dead")
    assert dead.path.exists()
    assert pipeline.run("driving_licences", "next").status == "published"
    assert not dead.dir.exists() and not any(hub.staging_dir.rglob("*.duckdb"))

    pipeline.extract("schools", "committed")
    pipeline.validate("schools", "committed")
    published = pipeline.publish("schools", "committed", release=False)
    staging = pipeline.staging("schools", "committed")
    staging.dir.mkdir(parents=True)  # as the run's folder stands when its source side fails after the commit
    staging.path.write_bytes(b"the staged rows")
    recorded = pipeline.fail("schools", "committed", RuntimeError("archiving the source's files failed"))
    assert recorded.status == published.status == "published"  # the finished run keeps its record
    assert not staging.dir.exists()


def test_failing_rows_set_aside_a_slice_at_a_time_are_the_same_rows_with_the_same_reasons(
    hub: Settings, contracts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reasons of failing rows are gathered a slice of rows at a time (their lists do not
    spill: 3 million failing rows outgrew a 1 GB limit at once). Slices of 7 rows, or of 1, give
    exactly what one slice gives, for a published run and for a rejected one (every row set aside),
    the raw values of cells that did not fit their type (measured_at) included."""
    from lgsp.warehouse import quarantine

    def quarantined(run_id: str) -> list[tuple[object, ...]]:
        return query(
            hub,
            "SELECT _checks, _reasons, reading_id, measured_at, value FROM quarantine.env_readings "
            "WHERE _run_id = ? ORDER BY ALL",
            [run_id],
        )

    whole = Pipeline(hub).run("env_readings", run_id="whole")
    monkeypatch.setattr(quarantine, "SLICE_ROWS", 7)
    sliced = Pipeline(hub).run("env_readings", run_id="sliced")
    monkeypatch.setattr(quarantine, "SLICE_ROWS", 1)
    single = Pipeline(hub).run("env_readings", run_id="single")
    assert whole.rows_quarantined == sliced.rows_quarantined == single.rows_quarantined > 7 * 3
    assert quarantined("whole") == quarantined("sliced") == quarantined("single")
    assert sliced.rows_published == whole.rows_published == single.rows_published

    data = yaml.safe_load((contracts_dir / "env_readings.yaml").read_text(encoding="utf-8"))
    rejecting = {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}, "severity": "error"}
    _edit(contracts_dir, "env_readings", expectations=[*data["expectations"], rejecting])
    rejected = Pipeline(Settings.from_env()).run("env_readings", run_id="rejected-sliced")
    monkeypatch.setattr(quarantine, "SLICE_ROWS", 100_000)
    again = Pipeline(Settings.from_env()).run("env_readings", run_id="rejected-whole")
    assert rejected.status == again.status == "rejected"
    assert rejected.rows_quarantined == again.rows_quarantined == rejected.rows_extracted
    assert quarantined("rejected-sliced") == quarantined("rejected-whole")
