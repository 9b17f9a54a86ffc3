"""The warehouse on DuckLake, for real: its catalog in a PostgreSQL server, its data files in
SeaweedFS. The pipeline runs on it as on the embedded file; datasets publish at once from several
processes, runs of one dataset wait for each other; a reader keeps its snapshot; a release names
the snapshot it was cut from."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from lgsp_sandbox.build import mutate_department

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.warehouse import lake
from lgsp.warehouse.errors import WarehouseError
from lgsp.warehouse.store import Warehouse
from tests.paths import REPO_ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lgsp_sandbox.objectstore import ObjectStore

    with ObjectStore(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def on_lake(hub: Settings, postgres: Any, store: Any, monkeypatch: pytest.MonkeyPatch, request: Any) -> Settings:
    """The `hub` home with its warehouse on a fresh DuckLake (given as a hub is: environment
    variables, the secrets among them never in a file), seeded with the units catalogue."""
    name = "lake_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    monkeypatch.setenv("LGSP_LAKE_CATALOG", postgres.create_database(name))
    monkeypatch.setenv("LGSP_LAKE_DATA_PATH", f"s3://lake/{name}/")
    monkeypatch.setenv("LGSP_S3_ENDPOINT", store.endpoint)
    monkeypatch.setenv("LGSP_S3_KEY_ID", store.access_key)
    monkeypatch.setenv("LGSP_S3_SECRET", store.secret_key)
    monkeypatch.setenv("LGSP_S3_USE_SSL", "off")
    settings = Settings.from_env()
    assert settings.lake
    with Warehouse(settings).writer() as con:  # the national units catalogue, as `hub`'s file holds it
        con.execute(f"ATTACH '{hub.warehouse_path}' AS seed (READ_ONLY)")
        con.execute("CREATE TABLE main.admin_units AS SELECT * FROM seed.main.admin_units")
        con.execute("DETACH seed")
    hub.warehouse_path.unlink()  # nothing may fall back on the file
    return settings


def rows(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with Warehouse(settings).reader() as con:
        return con.execute(sql, params or []).fetchall()


def test_every_row_is_published_or_quarantined_and_the_release_names_its_snapshot(on_lake: Settings) -> None:
    pipeline = Pipeline(on_lake)
    for dataset_id in ("price_observations", "schools", "env_readings", "env_readings_monthly"):  # a derived one too
        run = pipeline.run(dataset_id)
        assert run.status == "published", run
        assert run.rows_extracted > 0 and run.rows_extracted == run.rows_published + run.rows_quarantined
        assert rows(on_lake, f"SELECT count(*) FROM main.{dataset_id}") == [(run.rows_published,)]
        kept = rows(
            on_lake, f"SELECT count(*), count(_reasons) FROM quarantine.{dataset_id} WHERE _run_id = ?", [run.run_id]
        )
        assert kept == [(run.rows_quarantined, run.rows_quarantined)]
        assert rows(on_lake, "SELECT status FROM meta.runs WHERE run_id = ?", [run.run_id]) == [("published",)]
    with Warehouse(on_lake).reader() as con:  # the derived run says which run of its input it read
        assert Warehouse.lineage(con, "env_readings_monthly", run.run_id) == {
            "env_readings": Warehouse.latest_published(con, "env_readings").run_id  # type: ignore[union-attr]
        }
    reasons = " ".join(r[0] for r in rows(on_lake, "SELECT _reasons FROM quarantine.price_observations"))
    assert "is not a valid date" in reasons and "khoá trùng / duplicate key (id = " in reasons
    assert rows(on_lake, "SELECT count(*) - count(DISTINCT id) FROM main.price_observations") == [(0,)]
    assert not any(on_lake.staging_dir.rglob("*.duckdb"))
    assert not on_lake.warehouse_path.exists()
    # The open dataset's release records the lake snapshot it was cut from; time travel gives its rows.
    release = json.loads((on_lake.home / "releases" / "schools" / "latest.json").read_text(encoding="utf-8"))
    assert release["snapshot"] > 0
    assert rows(on_lake, f"SELECT count(*) FROM main.schools AT (VERSION => {release['snapshot']})") == [
        (release["rows"],)
    ]
    # Runs that publish nothing new still add snapshots; the release's stays the one it was cut from.
    pipeline.run("price_observations")
    assert rows(on_lake, "SELECT max(snapshot_id) FROM lake.snapshots()")[0][0] > release["snapshot"]


def test_an_incremental_run_merges_and_a_rejected_run_keeps_the_previous_version(
    on_lake: Settings, contracts_dir: Path
) -> None:
    pipeline = Pipeline(Settings.from_env())
    first = pipeline.run("price_observations")
    before = rows(on_lake, "SELECT count(*) FROM main.price_observations")[0][0]
    mutate_department("finance", f"sqlite:///{on_lake.sandbox_dir / 'finance.sqlite'}", seed=7, changed=10, added=5)
    second = pipeline.run("price_observations")
    assert second.status == "published" and second.mode == "incremental"
    assert second.cursor_from == first.cursor_to and second.cursor_to > first.cursor_to
    assert 15 <= second.rows_extracted < 100
    after = rows(on_lake, "SELECT count(*) FROM main.price_observations")[0][0]
    assert before < after <= before + 5
    assert rows(on_lake, "SELECT count(*) - count(DISTINCT id) FROM main.price_observations") == [(0,)]
    assert Warehouse(on_lake).runs("price_observations")[0].cursor_to == second.cursor_to
    with Warehouse(on_lake).reader() as con:
        assert Warehouse.cursor(con, "price_observations") == second.cursor_to

    schools = pipeline.run("schools")
    path = contracts_dir / "schools.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["expectations"].append(
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}, "severity": "error"}
    )
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rejected = Pipeline(Settings.from_env()).run("schools")
    assert rejected.status == "rejected" and rejected.rows_published == 0
    assert rejected.rows_quarantined == rejected.rows_extracted == schools.rows_extracted
    assert rows(on_lake, "SELECT count(*) FROM main.schools") == [(schools.rows_published,)]
    why = rows(
        on_lake,
        "SELECT DISTINCT split_part(_reasons, ';', 1) FROM quarantine.schools WHERE _run_id = ?",
        [rejected.run_id],
    )
    assert why == [("run rejected by expect_table_row_count_to_be_between(max_value=10)",)]


RUN = "import sys\nfrom lgsp.pipeline import Pipeline\nrun = Pipeline().run(sys.argv[1], sys.argv[2])\nprint(run.status, flush=True)\n"


def _start(dataset_id: str, run_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, dataset_id, run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=REPO_ROOT,
    )


def test_datasets_publish_at_once_from_several_processes_and_one_dataset_waits_for_itself(
    on_lake: Settings,
) -> None:
    """While a writer holds `schools`, two other datasets' runs (two processes) publish; a run of
    `schools` waits for it and then publishes too."""
    warehouse = Warehouse(on_lake)
    with warehouse.writer(dataset="schools") as held:
        held.execute("SELECT 1")
        waiting = _start("schools", "waits")
        others = [_start("price_observations", "at-once-1"), _start("env_readings", "at-once-2")]
        outs = [p.communicate(timeout=300) for p in others]
        assert [p.returncode for p in others] == [0, 0], [o[1][-2000:] for o in outs]
        assert [o[0].split()[-1] for o in outs] == ["published", "published"]
        # A publish only appends to the shared meta tables: two datasets' publishes never conflict
        # (the first two to make the shared tables at once may, once: that step is tried again).
        assert not [o for o in outs if "(publish): " in o[1]], [o[1][-2000:] for o in outs]
        time.sleep(1)
        if waiting.poll() is not None:
            pytest.fail(f"a run of the dataset being written must wait; it ended: {waiting.communicate()[1][-3000:]}")
        assert rows(on_lake, "SELECT count(*) FROM meta.runs WHERE run_id = 'waits'") == [(0,)]
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0 and out.split()[-1] == "published", err[-2000:]
    published = rows(on_lake, "SELECT run_id FROM meta.runs WHERE status = 'published' ORDER BY run_id")
    assert published == [("at-once-1",), ("at-once-2",), ("waits",)]


def test_a_reader_keeps_its_snapshot_while_a_run_publishes(on_lake: Settings) -> None:
    pipeline = Pipeline(on_lake)
    pipeline.run("price_observations")
    mutate_department("finance", f"sqlite:///{on_lake.sandbox_dir / 'finance.sqlite'}", seed=3, changed=5, added=20)
    with Warehouse(on_lake).reader() as con:
        before = con.execute("SELECT count(*) FROM main.price_observations").fetchone()
        seen = lake.snapshot(con)
        assert pipeline.run("price_observations").status == "published"  # commits meanwhile
        assert con.execute("SELECT count(*) FROM main.price_observations").fetchone() == before
        assert lake.snapshot(con) == seen
    now = rows(on_lake, "SELECT count(*) FROM main.price_observations")[0]
    assert before is not None and now[0] > before[0]
    assert rows(on_lake, f"SELECT count(*) FROM main.price_observations AT (VERSION => {seen})") == [before]


def test_a_conflicting_commit_is_tried_again_then_refused_clearly(on_lake: Settings) -> None:
    """An insert whose table another writer deleted from meanwhile conflicts at COMMIT: tried again
    it lands; a conflict every time ends in a bilingual error, nothing written."""
    main, other = lake.Lake(on_lake).connect(), lake.Lake(on_lake).connect()
    main.execute("CREATE TABLE meta.notes (n INTEGER)")
    tries: list[int] = []

    def work(always: bool) -> int:
        tries.append(1)
        main.execute("BEGIN TRANSACTION")
        main.execute("INSERT INTO meta.notes VALUES (?)", [len(tries)])
        if always or len(tries) == 1:
            other.execute("INSERT INTO meta.notes VALUES (0)")
            other.execute("DELETE FROM meta.notes WHERE n = 0")  # another writer deleted from the table
        try:
            main.execute("COMMIT")
        except duckdb.Error:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has rolled back already
                main.execute("ROLLBACK")
            raise
        return len(tries)

    assert lake.retry_conflicts(lambda: work(False)) == 2
    assert main.execute("SELECT n FROM meta.notes").fetchall() == [(2,)]
    tries.clear()
    with pytest.raises(WarehouseError, match=r"xung đột .* / the lake commit conflicted with other writers 3 times"):
        lake.retry_conflicts(lambda: work(True), attempts=3)
    assert len(tries) == 3
    assert main.execute("SELECT n FROM meta.notes").fetchall() == [(2,)]


def test_lake_settings_come_from_the_environment_or_private_files(tmp_path: Path) -> None:
    secret = tmp_path / "catalog"
    secret.write_text("postgresql+psycopg2://lgsp:pw@db/lake\n")
    secret.chmod(0o644)
    env = {"LGSP_HOME": str(tmp_path), "LGSP_LAKE_CATALOG_FILE": str(secret), "LGSP_LAKE_DATA_PATH": "s3://l/w/"}
    with pytest.raises(Exception, match="chmod 600"):
        Settings.from_env(env)
    secret.chmod(0o600)
    settings = Settings.from_env(env)
    assert lake.catalog_dsn(settings) == "postgresql://lgsp:pw@db/lake"
    assert "pw" not in repr(settings)
    with pytest.raises(Exception, match="LGSP_LAKE_DATA_PATH"):
        Settings.from_env({"LGSP_HOME": str(tmp_path), "LGSP_LAKE_CATALOG": "dbname=lake"})
    assert not Settings.from_env({"LGSP_HOME": str(tmp_path)}).lake  # the embedded file stays the default


def stored(settings: Settings) -> set[str]:
    """The lake's files as the object store lists them (a glob without a wildcard names a path, listed or not)."""
    with lake.Lake(settings).connect() as con:
        return {r[0] for r in con.execute(f"SELECT file FROM glob('{settings.lake_data_path}**')").fetchall()}


def test_maintenance_prunes_expires_and_deletes_old_files_keeping_the_data(on_lake: Settings) -> None:
    from lgsp.warehouse.maintenance import maintain

    pipeline = Pipeline(on_lake)
    first = pipeline.run("schools")
    pipeline.run("price_observations")
    mutate_department("finance", f"sqlite:///{on_lake.sandbox_dir / 'finance.sqlite'}", seed=5, changed=5, added=5)
    last = pipeline.run("price_observations")
    pipeline.run("schools")  # the first run's files are no longer the table's
    assert rows(on_lake, "SELECT count(*) FROM meta.state WHERE dataset_id = 'price_observations'") == [(2,)]
    old = rows(on_lake, "SELECT min(snapshot_id) FROM lake.snapshots() WHERE snapshot_id > 0")[0][0]
    published = rows(
        on_lake, "SELECT (SELECT count(*) FROM main.schools), (SELECT count(*) FROM main.price_observations)"
    )

    orphan = f"{on_lake.lake_data_path}main/orphan-of-a-dead-writer.parquet"
    with lake.Lake(on_lake).connect() as con:  # files a writer wrote before it died, uncommitted
        con.execute(f"COPY (SELECT 1 AS n) TO '{orphan}' (FORMAT parquet)")
    assert orphan in stored(on_lake)

    done = maintain(on_lake, keep=dt.timedelta(0), grace=dt.timedelta(0))
    assert done.meta_rows >= 1 and done.snapshots > 0 and done.files_deleted > 0 and done.orphans_deleted == 1
    assert orphan not in stored(on_lake)
    assert rows(on_lake, "SELECT count(*) FROM meta.state WHERE dataset_id = 'price_observations'") == [(1,)]
    with Warehouse(on_lake).reader() as con:
        assert Warehouse.cursor(con, "price_observations") == last.cursor_to
    assert (
        rows(on_lake, "SELECT (SELECT count(*) FROM main.schools), (SELECT count(*) FROM main.price_observations)")
        == published
    )
    with pytest.raises(duckdb.Error):  # expired: no time travel to it any more
        rows(on_lake, f"SELECT count(*) FROM main.schools AT (VERSION => {old})")
    assert first.rows_published and pipeline.run("schools").status in ("published", "unchanged")
    assert pipeline.run("price_observations").status in ("published", "unchanged")


# -- found in review ------------------------------------------------------------------------------


def test_no_error_leaving_the_lake_names_the_catalogs_password(
    on_lake: Settings, postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's postgres extension puts the catalog's connection string in the error when it
    cannot reconnect; the run record, the log and the page would show it."""
    name = on_lake.lake_catalog.get_secret_value().rsplit("/", 1)[-1]  # type: ignore[union-attr]
    dsn = f"host=127.0.0.1 port={postgres.port} dbname={name} user=postgres password=s3cr3t-catalog"
    monkeypatch.setenv("LGSP_LAKE_CATALOG", dsn)  # trust auth: the password is ignored, but given
    settings = Settings.from_env()
    with Warehouse(settings).writer() as con:
        con.execute("CREATE TABLE main.t AS SELECT 1 AS n")
    admin = postgres.admin_connection()
    admin.autocommit = True
    try:
        with pytest.raises(Exception) as raised, Warehouse(settings).writer() as con:
            with admin.cursor() as cur:  # the catalog goes away under the open connection
                cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            con.execute("INSERT INTO main.t VALUES (2)")
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
    error: BaseException | None = raised.value
    texts = []
    while error is not None:
        texts.append(str(error))
        error = error.__cause__ or error.__context__
    assert texts and not [t for t in texts if "s3cr3t-catalog" in t], texts
    assert "Unable to connect to Postgres at" in " ".join(texts)  # the error itself is kept


def test_the_sharing_api_serves_a_dataset_from_the_lake(on_lake: Settings) -> None:
    from lgsp.schemas.loader import load_contracts
    from lgsp.sharing.snapshots import Snapshots

    warehouse = Warehouse(on_lake)
    before = warehouse.stamp()
    run = Pipeline(on_lake).run("schools")
    assert warehouse.stamp() != before and warehouse.stamp() == warehouse.stamp()
    contract = load_contracts(on_lake.contracts_dir)["schools"]
    snapshots = Snapshots(on_lake, check_every=0)
    served = snapshots.get(contract)
    assert served is not None and served.run_id == run.run_id and served.rows == run.rows_published
    with snapshots.reading() as cur:
        keys = [
            r[0] for r in cur.execute(f"SELECT {contract.primary_key[0]} FROM {served.table} ORDER BY _id").fetchall()
        ]
    assert keys == sorted(keys) and len(keys) == run.rows_published


def test_a_writer_of_the_whole_lake_is_not_overtaken_and_gives_up_in_time(on_lake: Settings) -> None:
    """Maintenance (a writer naming no dataset) waits for the publishes under way, not for the
    ones that start after it asked; and it stops waiting at its timeout."""
    import threading

    warehouse = Warehouse(on_lake)
    with warehouse.writer(dataset="schools"):
        asked = time.monotonic()
        with pytest.raises(WarehouseError, match="another process is writing"):
            with warehouse.writer(timeout=0.5):
                pass
        assert 0.4 < time.monotonic() - asked < 5
        got: list[float] = []
        whole = threading.Thread(target=lambda: _hold_whole(warehouse, got))
        whole.start()
        time.sleep(0.5)  # maintenance now waits for `schools`
        with pytest.raises(WarehouseError, match="another process is writing"):
            with warehouse.writer(timeout=0.5, dataset="env_readings"):  # queued behind maintenance
                pass
        assert not got
    whole.join(timeout=30)
    assert got, "the whole-warehouse writer never got its lock"
    with warehouse.writer(timeout=5, dataset="env_readings"):  # and after it, the others go on
        pass


def _hold_whole(warehouse: Warehouse, got: list[float]) -> None:
    with warehouse.writer(timeout=30):
        got.append(time.monotonic())


def test_maintenance_refuses_a_negative_keep_and_the_cli_refuses_zero_days(on_lake: Settings) -> None:
    from typer.testing import CliRunner

    from lgsp.cli import app
    from lgsp.warehouse.maintenance import maintain

    with pytest.raises(WarehouseError, match="cannot be negative"):
        maintain(on_lake, keep=dt.timedelta(days=-1))
    result = CliRunner().invoke(app, ["maintain", "--keep-days", "0"])
    assert result.exit_code == 2 and "--keep-days must be more than 0" in result.output


@pytest.mark.airflow
def test_the_maintenance_dag_is_made_for_a_lake_and_runs_with_dag_test(
    on_lake: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpy

    from lgsp.airflow_env import prepare

    monkeypatch.setenv("LGSP_LAKE_MAINTENANCE", "30 1 * * *")
    monkeypatch.setenv("LGSP_LAKE_KEEP_DAYS", "7")
    dags = runpy.run_path(str(REPO_ROOT / "dags" / "lgsp_datasets.py"))["DAGS"]
    dag = dags["lgsp_maintenance"]
    assert [t.task_id for t in dag.tasks] == ["maintain"] and "7 days" in dag.doc_md
    assert dag.timetable.expression == "30 1 * * *"
    settings = Settings.from_env()
    prepare(settings)
    pipeline = Pipeline(settings)
    pipeline.run("schools")
    pipeline.run("price_observations")
    assert rows(settings, "SELECT count(*) FROM meta.state WHERE dataset_id = 'price_observations'") == [(1,)]
    assert dag.test().state == "success"
    for wrong in ("every night", "99 99 * * *", "@continuous"):
        monkeypatch.setenv("LGSP_LAKE_MAINTENANCE", wrong)
        with pytest.raises(Exception, match="LGSP_LAKE_MAINTENANCE"):
            Settings.from_env()
