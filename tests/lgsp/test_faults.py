"""The fault battery (issue 14): a run killed with SIGKILL at each step, two runs of one dataset at
once, and a corrupted warehouse. After each: the previous release stays live and whole, the next
run finishes the work, nothing is published twice, and every row is accounted for."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lgsp_sandbox.build import mutate_department

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.versions import latest_release, list_releases, releases_dir
from lgsp.sharing.audit import verify
from tests.conftest import warehouse_rows

# Each pauses the run at one point (printing STOPPED) so the test can kill it there.
PAUSES = {
    "extract": """
        import lgsp.warehouse.staging as staging
        real = staging.Staging.write_manifest
        def pause(self, manifest):  # the rows are staged, the manifest not yet written
            print("STOPPED", flush=True); time.sleep(120)
        staging.Staging.write_manifest = pause
    """,
    "validate": """
        import lgsp.warehouse.staging as staging
        real = staging.Staging.write_manifest
        def pause(self, manifest):  # validated, the report written, the manifest not yet updated
            if manifest.validated is not None:
                print("STOPPED", flush=True); time.sleep(120)
            return real(self, manifest)
        staging.Staging.write_manifest = pause
    """,
    "publish": """
        import lgsp.warehouse.store as store
        real = store.Warehouse.record_run
        def pause(con, run):  # the new table and quarantine written in the open transaction
            real(con, run); print("STOPPED", flush=True); time.sleep(120)
        store.Warehouse.record_run = staticmethod(pause)
    """,
    "release": """
        import lgsp.publishing.releases as releases
        real = releases._write_json
        def pause(path, data):  # the new release directory is in place, latest.json not yet moved
            if path.name == "latest.json":
                print("STOPPED", flush=True); time.sleep(120)
            return real(path, data)
        releases._write_json = pause
    """,
}


def killed_at(phase: str, run_id: str, tmp_path: Path) -> None:
    script = tmp_path / f"{phase}.py"
    script.write_text("import time\n" + textwrap.dedent(PAUSES[phase]) +
                      f"\nfrom lgsp.pipeline import Pipeline\nPipeline().run('schools', {run_id!r})\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    for line in proc.stdout:
        if "STOPPED" in line:
            break
    else:
        pytest.fail(f"the run never reached {phase}: exit {proc.wait()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def assert_releases_whole(hub: Settings) -> list[int]:
    """Every release's files match the checksums its release.json states, and the exchange log
    still verifies; returns the versions."""
    assert verify(hub.sharing_dir).ok
    versions = []
    for release in list_releases(hub.home, "schools"):
        for d in release.distributions:
            path = releases_dir(hub.home, "schools") / f"v{release.version}" / d.file
            assert hashlib.sha256(path.read_bytes()).hexdigest() == d.sha256, path
        versions.append(release.version)
    return versions


@pytest.mark.parametrize("phase", ["extract", "validate", "publish", "release"])
def test_a_run_killed_at_each_step_loses_nothing(hub: Settings, tmp_path: Path, phase: str) -> None:
    first = Pipeline(hub).run("schools")
    assert first.status == "published" and first.release == 1
    mutate_department("education", f"sqlite:///{hub.sandbox_dir / 'education.sqlite'}", seed=3, changed=5, added=4)
    killed_at(phase, "killed-run", tmp_path)

    live = latest_release(hub.home, "schools")
    assert live is not None and live.version == 1  # the previous release stays live...
    assert assert_releases_whole(hub)[:1] == [1]  # ...and whole
    assert warehouse_rows(hub, "SELECT count(*) FROM meta.runs WHERE run_id = 'killed-run'") == [
        (1 if phase == "release" else 0,)  # a release is made after its run has published
    ]
    if phase != "release":
        assert warehouse_rows(hub, "SELECT count(*) FROM main.schools") == [(first.rows_published,)]

    again = Pipeline(hub).run("schools")  # the next run finishes the work
    assert again.status == "published", again.error
    assert again.rows_extracted == again.rows_published + again.rows_quarantined
    assert again.release == 2 and assert_releases_whole(hub) == [1, 2]  # one new release, not two
    assert latest_release(hub.home, "schools").version == 2  # type: ignore[union-attr]
    published = warehouse_rows(hub, "SELECT count(*), count(DISTINCT school_code) FROM main.schools")[0]
    assert (
        published[0]
        == published[1]
        == again.rows_published
        + (first.rows_published if phase == "release" else 0)
        - (first.rows_published if phase == "release" else 0)
    )
    assert warehouse_rows(hub, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_lgsp_%'") == []


def test_two_runs_of_one_dataset_at_once_publish_it_once_each(hub: Settings) -> None:
    env = {**os.environ, "LGSP_HOME": str(hub.home)}
    runs = [subprocess.Popen([sys.executable, "-m", "lgsp.cli", "run", "schools"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=600)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    done = warehouse_rows(
        hub,
        "SELECT status, rows_extracted, rows_published, rows_quarantined FROM meta.runs WHERE dataset_id = 'schools'",
    )
    assert len(done) == 2 and all(s == "published" and e == p + q for s, e, p, q in done)
    assert warehouse_rows(hub, "SELECT count(*) = count(DISTINCT school_code) FROM main.schools") == [(True,)]
    assert assert_releases_whole(hub) == [1]  # the same data twice: one release


@pytest.mark.parametrize("where", [0, 4096 * 3])  # the file's header, a data block
def test_a_corrupted_warehouse_is_named_with_a_way_back(hub: Settings, where: int) -> None:
    assert Pipeline(hub).run("schools").status == "published"
    with hub.warehouse_path.open("r+b") as handle:
        handle.seek(where)
        handle.write(b"\0not a warehouse\0" * 64)
    env = {**os.environ, "LGSP_HOME": str(hub.home)}
    done = subprocess.run([sys.executable, "-m", "lgsp.cli", "run", "schools"], env=env, capture_output=True, text=True)
    said = done.stdout + done.stderr
    assert done.returncode == 1 and str(hub.warehouse_path) in said and "Restore it from a backup" in said, said
    assert "Traceback" not in said


@pytest.fixture
def small_disk(hub: Settings) -> Iterator[Path]:
    """The hub's releases folder on a tmpfs of its own (root mounts it), resized by the test."""
    folder = hub.home / "releases"
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(folder)]).returncode != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_while_releasing_keeps_the_last_release(hub: Settings, small_disk: Path) -> None:
    first = Pipeline(hub).run("schools")
    assert first.release == 1
    used = sum(p.stat().st_size for p in small_disk.rglob("*") if p.is_file())
    subprocess.run(["mount", "-o", f"remount,size={used + 64 * 1024}", str(small_disk)], check=True)  # nearly full
    mutate_department("education", f"sqlite:///{hub.sandbox_dir / 'education.sqlite'}", seed=5, changed=5, added=4)
    second = Pipeline(hub).run("schools")
    assert second.status == "published"  # the data is published; its release waits for room
    assert isinstance(second.release, str) and "No space left" in second.release
    assert latest_release(hub.home, "schools").version == 1  # type: ignore[union-attr]
    assert assert_releases_whole(hub) == [1] and not list(small_disk.glob("schools/.building-*"))
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)  # room again
    made = Pipeline(hub).release("schools")
    assert made.version == 2 and assert_releases_whole(hub) == [1, 2]


def test_airflow_retries_of_each_step_finish_one_run(hub: Settings) -> None:
    """Airflow retries a failed task by calling its step again with the same run id: each step
    done twice gives the same single run, published once."""
    pipeline = Pipeline(hub)
    first = pipeline.extract("schools", "retried")
    again = pipeline.extract("schools", "retried")  # the extract task, retried
    assert again.rows_extracted == first.rows_extracted
    pipeline.validate("schools", "retried")
    validated = pipeline.validate("schools", "retried")  # the validate task, retried
    assert validated.validated is not None
    run = pipeline.publish("schools", "retried", release=False)
    assert pipeline.publish("schools", "retried", release=False).status == run.status == "published"
    assert run.rows_extracted == run.rows_published + run.rows_quarantined == first.rows_extracted
    assert warehouse_rows(hub, "SELECT count(*) FROM meta.runs WHERE run_id = 'retried'") == [(1,)]
    assert warehouse_rows(hub, "SELECT count(*) FROM quarantine.schools WHERE _run_id = 'retried'") == [
        (run.rows_quarantined,)
    ]
    assert warehouse_rows(hub, "SELECT count(*) FROM main.schools") == [(run.rows_published,)]


BIG = """
id: big_readings
title: {vi: Số liệu lớn, en: Many readings}
description: {vi: Một bảng lớn để thử lỗi nguồn., en: A large table to test a failing source.}
publisher: {code: SNNMT, name: {vi: Sở Nông nghiệp và Môi trường, en: Department of Agriculture and Environment}}
source: {kind: sql, connection: big, table: big_readings}
primary_key: [id]
columns:
  - {name: id, type: integer, description: {vi: Mã, en: Id}}
  - {name: value, type: number, description: {vi: Giá trị, en: Value}}
  - {name: note, type: string, description: {vi: Ghi chú, en: Note}}
classification: shared
licence: {id: CC-BY-4.0, title: Creative Commons Attribution 4.0, url: https://creativecommons.org/licenses/by/4.0/}
update_frequency: daily
theme: [ENVI]
schedule: "@daily"
"""


@pytest.mark.postgres
def test_a_source_that_goes_down_mid_extract_fails_the_run_and_keeps_the_last_version(
    hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import psycopg2
    from lgsp_sandbox.postgres import PostgresServer

    server = PostgresServer(tmp_path / "pg").start()  # a server of its own: this test crashes it
    try:
        url = server.create_database("big")
        with psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="big") as conn:
            conn.cursor().execute(
                "CREATE TABLE big_readings AS SELECT g AS id, g * 0.5 AS value, md5(g::text) AS note "
                "FROM generate_series(1, 3000000) g"
            )
        monkeypatch.setenv("LGSP_CONN_BIG", url)
        (contracts_dir / "big_readings.yaml").write_text(BIG, encoding="utf-8")
        settings = Settings.from_env()
        first = Pipeline(settings).run("big_readings")
        assert first.status == "published" and first.rows_published == 3_000_000, first.error

        result: dict[str, object] = {}
        run = threading.Thread(target=lambda: result.update(run=Pipeline(settings).run("big_readings", "crashed")))
        run.start()
        watcher = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="big")
        watcher.autocommit = True
        for _ in range(3000):  # until the hub's scan of the table is under way on the server
            with watcher.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE '%big_readings%' AND pid <> pg_backend_pid()"
                )
                if cur.fetchone()[0]:
                    break
            time.sleep(0.005)
        watcher.close()
        server.crash()
        run.join(120)
        crashed = result["run"]
        assert crashed.status == "failed" and crashed.rows_published == 0, crashed  # type: ignore[attr-defined]
        assert "big" in (crashed.error or "")  # type: ignore[attr-defined]
        assert warehouse_rows(settings, "SELECT count(*) FROM main.big_readings") == [(3_000_000,)]  # the last version
        server.restart()
        again = Pipeline(settings).run("big_readings")
        assert again.status == "published" and again.rows_extracted == again.rows_published == 3_000_000
    finally:
        server.stop()
