"""Shared fixtures: isolated hub homes, the sandbox province, real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lgsp_sandbox.build import build_province

from lgsp.core.settings import Settings
from tests.paths import REPO_ROOT

CONTRACTS = REPO_ROOT / "schemas" / "datasets"
SANDBOX_SCALE = 20_000
NATIONAL_ENTERPRISES = 3_000


def pytest_configure(config: pytest.Config) -> None:
    """One Airflow home for the session, set before anything imports Airflow."""
    import tempfile

    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="lgsp-airflow-")
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox province as SQLite files, built once per session (read-only for tests)."""
    directory = tmp_path_factory.mktemp("sandbox")
    build_province(directory, scale=SANDBOX_SCALE)
    return directory


def make_home(home: Path, sandbox_dir: Path, catalogue: Path) -> None:
    """A hub home with a private copy of the sandbox province (its connections pointing there)
    and a warehouse that already holds the national units catalogue."""
    shutil.copytree(sandbox_dir, home / "sandbox")
    shutil.copy(catalogue, home / "warehouse.duckdb")
    urls = {p.stem: f"sqlite:///{p}" for p in (home / "sandbox").glob("*.sqlite")}
    urls["skhcn_inbox"] = str(home / "sandbox" / "inbox" / "skhcn")
    urls["vpubnd_inbox"] = str(home / "sandbox" / "inbox" / "vpubnd")
    (home / "sandbox" / "connections.json").write_text(json.dumps(urls))


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory, national_api: Any) -> Path:
    """A warehouse holding the published national units catalogue, pulled once from the
    simulator: every hub starts with it, as an installed hub has it."""
    from lgsp_sandbox.build import add_connections

    from lgsp.demo import national_connections
    from lgsp.pipeline import Pipeline

    home = tmp_path_factory.mktemp("catalogue")
    add_connections(home / "sandbox", national_connections(national_api))
    settings = Settings(home=home, contracts_dir=CONTRACTS)
    run = Pipeline(settings).run("admin_units", release=False)
    assert run.status == "published", run.error
    return settings.warehouse_path


@pytest.fixture
def hub(tmp_path: Path, sandbox_dir: Path, catalogue: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh hub home whose connections point at a private copy of the sandbox province; its
    warehouse already holds the national units catalogue."""
    home = tmp_path / "home"
    make_home(home, sandbox_dir, catalogue)
    monkeypatch.setenv("LGSP_HOME", str(home))
    monkeypatch.setenv("LGSP_CONTRACTS", str(CONTRACTS))
    for key in list(os.environ):
        if key.startswith("LGSP_CONN_"):
            monkeypatch.delenv(key)
    return Settings.from_env()


@pytest.fixture
def contracts_dir(hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, writable copy of the contracts folder, used by `hub`."""
    directory = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, directory)
    monkeypatch.setenv("LGSP_CONTRACTS", str(directory))
    return directory


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real PostgreSQL server on loopback, started from the machine's binaries."""
    from lgsp_sandbox.postgres import PostgresServer

    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real MariaDB server on loopback, started from the machine's binaries (its own data
    directory and port; no system service)."""
    from lgsp_sandbox.mariadb import MariaDbServer

    with MariaDbServer(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


@pytest.fixture(scope="session")
def national_api() -> Iterator[Any]:
    """The national-API simulator (a real uvicorn server in a subprocess), shared by the session."""
    from lgsp_sandbox.national_api.server import Simulator

    with Simulator(enterprises=NATIONAL_ENTERPRISES, seed=11) as simulator:
        yield simulator


@pytest.fixture
def national(hub: Settings, national_api: Any) -> Iterator[Any]:
    """The simulator, free of faults, with the hub's national connections pointing at it."""
    from lgsp_sandbox.build import add_connections

    from lgsp.demo import national_connections

    national_api.clear_faults()
    add_connections(hub.sandbox_dir, national_connections(national_api))
    yield national_api
    national_api.clear_faults()


def warehouse_rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query on a hub's warehouse, read-only (as a consumer of the warehouse would)."""
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def serve(settings: Settings, **options: Any) -> Iterator[tuple[str, Any]]:
    """`lgsp serve` (uvicorn, in a thread) on a free loopback port until the generator closes;
    `options` go to uvicorn's Config (`http=` for the protocol `lgsp serve` itself uses)."""
    import uvicorn

    from lgsp.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings)
    # as `lgsp serve`: forwarded headers are the app's to believe (from $LGSP_TRUSTED_PROXIES only)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False, **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
