"""The cluster profile's Airflow: CeleryExecutor, a PostgreSQL metadata database and a Redis
broker, every component its own process (API server, scheduler, DAG processor, a Celery worker)
as on separate hosts. The generated DAGs run there unchanged: a dataset's DAG is triggered, its
tasks go through the broker to the worker, and the dataset is published."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from lgsp.core.settings import DAGS_DIR, Settings
from lgsp.warehouse.store import Warehouse

pytestmark = [pytest.mark.timeout(900), pytest.mark.cluster, pytest.mark.postgres]


def _airflow(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[object]:
    from lgsp_sandbox.redis import RedisServer

    with RedisServer(tmp_path / "redis") as server:
        yield server


def _query(postgres: object, query: str) -> list[tuple]:
    """Ask Airflow's metadata database directly: an `airflow` command costs seconds of imports."""
    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="airflow_meta")  # type: ignore[attr-defined]
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def _logs(logs: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(logs.iterdir()))


def _wait_for_run(
    postgres: object, dag_id: str, run_id: str, processes: list[subprocess.Popen[bytes]], logs: Path
) -> None:
    """Wait (8 minutes at most) for the DAG run to succeed; its failure, or a component dying
    meanwhile, fails the test with the components' logs."""
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline:
        found = _query(postgres, f"SELECT state FROM dag_run WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'")
        if found and found[0][0] == "success":
            return
        assert not found or found[0][0] != "failed", f"{dag_id} {run_id} failed\n{_logs(logs)}"
        assert all(p.poll() is None for p in processes), f"a component stopped\n{_logs(logs)}"
        time.sleep(1)
    raise AssertionError(f"{dag_id} {run_id} still running after 8 minutes\n{_logs(logs)}")


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, whatever its process group (Airflow puts each task in its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (parent := _parent(int(entry.name))) is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_worker_running(
    postgres: object, dag_id: str, run_id: str, task_id: str, workers: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """SIGKILL the worker whose process runs `task_id`, once it runs, with every process below it
    (the task runs in a process group of its own): as if its host were lost."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = _query(
            postgres,
            f"SELECT pid FROM task_instance WHERE dag_id = '{dag_id}' AND run_id = '{run_id}' "
            f"AND task_id = '{task_id}' AND state = 'running' AND pid IS NOT NULL",
        )
        pid: int | None = int(found[0][0]) if found else None
        done = _query(
            postgres,
            f"SELECT state FROM task_instance WHERE dag_id = '{dag_id}' AND run_id = '{run_id}' AND task_id = '{task_id}'",
        )
        assert not done or done[0][0] != "success", f"{task_id} ended before the test could kill its worker"
        while pid is not None and pid > 1:  # up the parents to the worker
            worker = next((w for w in workers if w.pid == pid), None)
            if worker is not None:
                for victim in [*_descendants(worker.pid), worker.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(victim, signal.SIGKILL)
                worker.wait()
                return worker
            pid = _parent(pid)
        time.sleep(0.2)
    raise AssertionError(f"{task_id} of {dag_id} was never seen running on a worker")


def _start(env: dict[str, str], logs: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    with (logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop every component and whatever it started, even if the component itself has exited."""
    for process in processes:
        for pid in [*_descendants(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):  # what is left of its group, should it be gone itself
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in [*_descendants(process.pid), process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait()


def test_a_generated_dag_runs_on_a_celery_worker(
    hub: Settings, postgres: object, broker: object, tmp_path: Path
) -> None:
    from lgsp_sandbox.servers import free_port

    began = time.monotonic()
    meta = postgres.create_database("airflow_meta")  # type: ignore[attr-defined]
    api = free_port()
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_DIR),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=meta.replace("postgresql://", "postgresql+psycopg2://", 1),
        AIRFLOW__CELERY__BROKER_URL=broker.url,  # type: ignore[attr-defined]
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + meta,
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="lgsp.celery_config.CONFIG",  # GX imported once per worker
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        # A task whose worker vanished is failed (and retried elsewhere) after 20 s without a heartbeat.
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
    )
    # Readings enough that validating them takes seconds, so the test can kill a worker midway.
    from lgsp_sandbox.build import build_department, sqlite_url

    build_department("environment", sqlite_url(hub.sandbox_dir / "environment.sqlite"), scale=300_000)
    setup = subprocess.run([sys.executable, "-m", "lgsp.cli", "airflow-setup"], env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr[-3000:]
    _airflow(env, "dags", "reserialize")  # the DAGs are in the database before the scheduler looks
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, *args in (
            ("api-server", "api-server"),
            ("scheduler", "scheduler"),
            ("dag-processor", "dag-processor"),
            ("worker-a", "celery", "worker", "--celery-hostname", "worker-a@%h", "--concurrency", "1"),
            ("worker-b", "celery", "worker", "--celery-hostname", "worker-b@%h", "--concurrency", "1"),
        ):
            processes.append(_start(env, logs, name, *args))
        workers = processes[3:]
        _airflow(env, "dags", "trigger", "lgsp_schools", "--run-id", "celery-1")
        print(f"triggered after {time.monotonic() - began:.0f} s")
        _wait_for_run(postgres, "lgsp_schools", "celery-1", processes, logs)
        # A worker dies mid-task (its whole process group, as a host lost): the task is retried on
        # the other worker, and the dataset ends published once, nothing lost or doubled.
        _airflow(env, "dags", "trigger", "lgsp_env_readings", "--run-id", "celery-2")
        victim = _kill_worker_running(postgres, "lgsp_env_readings", "celery-2", "validate", workers)
        survivors = [p for p in processes if p is not victim]
        _wait_for_run(postgres, "lgsp_env_readings", "celery-2", survivors, logs)
    finally:
        _stop(processes)
    # Every task went through the broker: Celery gave each its task id.
    instances = _query(
        postgres,
        "SELECT task_id, state, external_executor_id FROM task_instance WHERE dag_id = 'lgsp_schools' "
        "AND run_id = 'celery-1' ORDER BY task_id",
    )
    assert [(t, s) for t, s, _ in instances] == [
        ("extract", "success"),
        ("publish", "success"),
        ("validate", "success"),
    ]
    assert all(celery_id for _, _, celery_id in instances)
    runs = Warehouse(hub).runs("schools")
    assert runs and runs[0].status == "published" and runs[0].rows_published > 0
    tries = dict(
        _query(
            postgres,
            "SELECT task_id, try_number FROM task_instance WHERE dag_id = 'lgsp_env_readings' AND run_id = 'celery-2'",
        )
    )
    assert tries["validate"] >= 2 and tries["publish"] == 1, tries
    # (Unpaused, the DAG also makes its scheduled run: only this run's record counts here.)
    (run,) = [r for r in Warehouse(hub).runs("env_readings") if r.run_id == "celery-2"]
    assert run.status == "published"
    assert run.rows_extracted == run.rows_published + run.rows_quarantined
    with Warehouse(hub).reader() as con:
        rows, keys = con.execute("SELECT count(*), count(DISTINCT reading_id) FROM main.env_readings").fetchone()  # type: ignore[misc]
    assert rows == keys == run.rows_published
    # The worker imported Great Expectations when it started: the validate task did not.
    report = json.loads(Path(str(run.report)).with_suffix(".json").read_text(encoding="utf-8"))
    assert report["great_expectations_import_seconds"] == 0, report["great_expectations_import_seconds"]
    print(f"whole test {time.monotonic() - began:.0f} s")
