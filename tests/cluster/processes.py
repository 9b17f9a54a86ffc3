"""Processes on test hosts, for the cluster tests: servers and Airflow components started on a
host (lgsp_sandbox.hosts), whole process trees killed (a host lost) or stopped, Airflow's metadata
database asked directly, and DAG runs triggered by `airflow dags trigger` from one process."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil  # Airflow's own dependency

from tests.paths import REPO_ROOT


def parent(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).ppid())
    except psutil.NoSuchProcess:
        return None


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, whatever its process group (Airflow puts each task in its own)."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_tree(process: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """`sig` to the process, everything below it and what is left of its process group."""
    for pid in [*descendants(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop(processes: list[subprocess.Popen[Any]]) -> None:
    """Stop every process and whatever it started (SIGTERM, SIGKILL after 30 s), even if it has exited."""
    for process in processes:
        if process.returncode is None:  # (one reaped already: its pid may be another's by now)
            kill_tree(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_tree(process)
            process.wait()


def start(host: Any, env: dict[str, str], logs: Path, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """`argv` on `host` in a session of its own, its output in logs/<name>.log (`ip netns exec`
    execs it: the process is the program's own)."""
    with (logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        process: subprocess.Popen[bytes] = host.popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO_ROOT
        )
        return process


def tails(logs: Path, chars: int = 2500) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(logs.glob("*.log")))


def hostside(host: Any, env: dict[str, str], command: str, timeout: float = 600, **args: Any) -> Any:
    """tests.cluster.hostside's `command` run on `host`; its JSON answer."""
    done = host.run(
        [sys.executable, "-m", "tests.cluster.hostside", command, json.dumps(args)], env=env, cwd=REPO_ROOT,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, f"{command} on {host.name}: {done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


class Metadata:
    """Airflow's metadata database, asked over its Unix socket (this namespace cannot reach the db
    host's address): an `airflow` command costs seconds of imports."""

    def __init__(self, postgres: Any, database: str) -> None:
        self.conn = postgres.admin_connection(database)
        self.conn.autocommit = True

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def runs(self, prefix: str) -> dict[str, str]:
        """The state of each DAG run whose run id starts with `prefix`, by DAG id."""
        return dict(self.query("SELECT dag_id, state FROM dag_run WHERE run_id LIKE %s", [prefix + "%"]))

    def tasks(self, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int, int | None]]:
        """(state, try number, pid) of each task of a DAG run."""
        found = self.query(
            "SELECT task_id, state, try_number, pid FROM task_instance WHERE dag_id = %s AND run_id = %s",
            [dag_id, run_id],
        )
        return {task: (state, tries, pid) for task, state, tries, pid in found}

    def close(self) -> None:
        self.conn.close()


# `airflow dags trigger` for each "<dag id> <run id>" line read, in one process: the command's own
# parser and function, without paying Airflow's imports for every DAG run.
TRIGGER = """
import contextlib, io, sys
from airflow.cli.cli_parser import get_parser
parser = get_parser()
print("ready", flush=True)
for line in sys.stdin:
    dag_id, run_id = line.split()
    args = parser.parse_args(["dags", "trigger", dag_id, "--run-id", run_id])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            args.func(args)
        print("triggered", dag_id, flush=True)
    except Exception as exc:
        print("failed", dag_id, repr(exc).replace(chr(10), " "), flush=True)
"""


class Trigger:
    """`airflow dags trigger`, from one process on `host`."""

    def __init__(self, host: Any, env: dict[str, str], run_prefix: str) -> None:
        self.prefix = run_prefix
        self.process: subprocess.Popen[str] = host.popen(
            [sys.executable, "-c", TRIGGER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        self.triggered: set[str] = set()
        self._answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._line(120) == "ready", "the trigger process did not start"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip().split(" ", 1)[0] in ("ready", "triggered", "failed"):  # anything else is skipped
                self._answers.put(line.strip())

    def _line(self, timeout: float) -> str:
        """The process's next answer (`ready`, `triggered …`, `failed …`), or "" after `timeout`."""
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            return ""

    def __call__(self, *dag_ids: str) -> None:
        """Trigger each DAG (once: a DAG already triggered is left), run id <prefix><dag id>."""
        new = [d for d in dag_ids if d not in self.triggered]
        assert self.process.stdin is not None
        for dag_id in new:
            self.process.stdin.write(f"{dag_id} {self.prefix}{dag_id}\n")
        self.process.stdin.flush()
        for dag_id in new:
            answer = self._line(120)
            assert answer == f"triggered {dag_id}", f"airflow dags trigger {dag_id}: {answer or 'no answer'}"
            self.triggered.add(dag_id)

    def close(self) -> None:
        stop([self.process])


def wait_until(what: str, ready: Any, timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = ready()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
