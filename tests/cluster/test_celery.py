"""The cluster profile's Airflow: CeleryExecutor, a PostgreSQL metadata database and a Redis
broker, every component on a host of its own: test hosts made as network namespaces on a private
switch (lgsp_sandbox.hosts), the database on one, the broker on another, Airflow's API server,
scheduler and DAG processor on a third, a Celery worker on each of two more. The generated DAGs
run there unchanged: a dataset's DAG is triggered, its tasks go through the broker to a worker,
and the dataset is published; a worker lost mid-task has its task retried on the other."""

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
from typing import Any

import pytest

from lgsp.core.settings import DAGS_DIR, Settings
from lgsp.warehouse.store import Warehouse

pytestmark = [pytest.mark.timeout(900), pytest.mark.cluster, pytest.mark.postgres]

if os.geteuid() != 0:  # network namespaces need root; CI runs as root
    pytest.skip("test hosts are network namespaces: run as root", allow_module_level=True)

HOSTS = ["db", "broker", "airflow", "worker-a", "worker-b"]


def _airflow(host: Any, env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = host.run([sys.executable, "-m", "airflow", *args], env=env, timeout=timeout)
    assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-3000:]}"
    return str(done.stdout)


@pytest.fixture
def network() -> Iterator[Any]:
    from lgsp_sandbox.hosts import TestNetwork

    with TestNetwork(HOSTS, subnet="10.231.8") as net:
        yield net


@pytest.fixture
def postgres(network: Any, tmp_path: Path) -> Iterator[object]:
    """Airflow's metadata database, on the `db` host."""
    from lgsp_sandbox.postgres import PostgresServer

    with PostgresServer(tmp_path / "pg", host=network["db"].address, netns=network["db"].netns) as server:
        yield server


@pytest.fixture
def broker(network: Any, tmp_path: Path) -> Iterator[object]:
    """Redis, on the `broker` host."""
    from lgsp_sandbox.redis import RedisServer

    host = network["broker"]
    with RedisServer(tmp_path / "redis", host=host.address, netns=host.netns) as server:
        yield server


def _query(postgres: object, query: str) -> list[tuple]:
    """Ask Airflow's metadata database directly (over its Unix socket: this namespace cannot reach
    the db host's address): an `airflow` command costs seconds of imports."""
    conn = postgres.admin_connection("airflow_meta")  # type: ignore[attr-defined]
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


def _start(host: Any, env: dict[str, str], logs: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    """An Airflow component on `host` (`ip netns exec` execs it: the process is the component's own)."""
    with (logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        process: subprocess.Popen[bytes] = host.popen(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return process


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


def test_a_generated_dag_runs_on_celery_workers_on_other_hosts(
    hub: Settings, network: Any, postgres: object, broker: object, tmp_path: Path
) -> None:
    began = time.monotonic()
    meta = postgres.create_database("airflow_meta")  # type: ignore[attr-defined]
    airflow = network["airflow"]
    api = 8080  # every host has its own address
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
        AIRFLOW__API__HOST=airflow.address,
        AIRFLOW__API__PORT=str(api),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://{airflow.address}:{api}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        # A task whose worker vanished is failed (and retried elsewhere) after 20 s without a heartbeat.
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
    )
    # Readings enough that validating them takes seconds, so the test can kill a worker midway (300,000
    # once did; since validation got faster, CI saw it end between two looks 0.2 s apart).
    from lgsp_sandbox.build import build_department, sqlite_url

    build_department("environment", sqlite_url(hub.sandbox_dir / "environment.sqlite"), scale=2_000_000)
    setup = airflow.run([sys.executable, "-m", "lgsp.cli", "airflow-setup"], env=env)
    assert setup.returncode == 0, setup.stderr[-3000:]
    _airflow(airflow, env, "dags", "reserialize")  # the DAGs are in the database before the scheduler looks
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for host, name, *args in (
            ("airflow", "api-server", "api-server"),
            ("airflow", "scheduler", "scheduler"),
            ("airflow", "dag-processor", "dag-processor"),
            ("worker-a", "worker-a", "celery", "worker", "--celery-hostname", "worker-a@%h", "--concurrency", "1"),
            ("worker-b", "worker-b", "celery", "worker", "--celery-hostname", "worker-b@%h", "--concurrency", "1"),
        ):
            processes.append(_start(network[host], env, logs, name, *args))
        workers = processes[3:]
        _airflow(airflow, env, "dags", "trigger", "lgsp_schools", "--run-id", "celery-1")
        print(f"triggered after {time.monotonic() - began:.0f} s")
        _wait_for_run(postgres, "lgsp_schools", "celery-1", processes, logs)
        # A worker dies mid-task (its whole process group, as a host lost): the task is retried on
        # the other worker, and the dataset ends published once, nothing lost or doubled.
        _airflow(airflow, env, "dags", "trigger", "lgsp_env_readings", "--run-id", "celery-2")
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
