"""The cluster profile's Airflow: CeleryExecutor, a PostgreSQL metadata database and a Redis
broker, every component its own process (API server, scheduler, DAG processor, a Celery worker)
as on separate hosts. The generated DAGs run there unchanged: a dataset's DAG is triggered, its
tasks go through the broker to the worker, and the dataset is published."""

from __future__ import annotations

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


def _start(env: dict[str, str], logs: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
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
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
    )
    setup = subprocess.run([sys.executable, "-m", "lgsp.cli", "airflow-setup"], env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr[-3000:]
    _airflow(env, "dags", "reserialize")  # the DAGs are in the database before the scheduler looks
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [
        _start(env, logs, "api-server", "api-server"),
        _start(env, logs, "scheduler", "scheduler"),
        _start(env, logs, "dag-processor", "dag-processor"),
        _start(env, logs, "worker", "celery", "worker", "--celery-hostname", "worker-a@%h"),
    ]
    try:
        _airflow(env, "dags", "trigger", "lgsp_schools", "--run-id", "celery-1")
        print(f"triggered after {time.monotonic() - began:.0f} s")
        deadline = time.monotonic() + 480
        state = None
        while time.monotonic() < deadline:
            state = _query(postgres, "SELECT state FROM dag_run WHERE dag_id = 'lgsp_schools' AND run_id = 'celery-1'")
            state = state[0][0] if state else None
            if state in ("success", "failed"):
                break
            for process in processes:
                assert process.poll() is None, (logs / f"{process.args[3]}.log").read_text()[-3000:]  # type: ignore[index]
            time.sleep(1)
        assert state == "success", "\n".join(f"{p.name}: {p.read_text()[-2000:]}" for p in sorted(logs.iterdir()))
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
    print(f"whole test {time.monotonic() - began:.0f} s")
