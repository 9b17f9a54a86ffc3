"""The throwaway MariaDB server: its own data directory and port, loopback only, gone after stop()."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pymysql
import pytest
from lgsp_sandbox import mariadb
from lgsp_sandbox.mariadb import MariaDbNotFound, MariaDbServer
from sqlalchemy.engine import make_url


def _connect(server: MariaDbServer, database: str, password: str | None = None) -> pymysql.Connection:
    url = make_url(server.url(database, password=password))
    return pymysql.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=database, charset="utf8mb4"
    )


@pytest.mark.mariadb
def test_a_server_of_its_own_on_loopback_gone_after_stop(tmp_path: Path) -> None:
    server = MariaDbServer(tmp_path / "base")
    with server:
        root = server.root
        assert root is not None and server.data_dir.is_dir() and server.socket.exists()
        pid = int((root / "mariadb.pid").read_text())
        if os.geteuid() == 0:  # as root it runs as the mysql OS user, as the package's service would
            assert pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name == "mysql"
        server.create_database("xay_dung")
        with _connect(server, "xay_dung") as conn, conn.cursor() as cur:
            cur.execute("SELECT @@bind_address, @@skip_networking, @@port, @@socket, @@character_set_server")
            assert cur.fetchone() == ("127.0.0.1", 0, server.port, str(server.socket), "utf8mb4")
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            _connect(server, "xay_dung", password="sai-mat-khau")
    assert server.port is None and not root.exists()
    assert not Path(f"/proc/{pid}").exists()
    server.stop()  # twice is fine


@pytest.mark.mariadb
def test_a_crash_keeps_committed_rows_and_restart_uses_the_same_port(tmp_path: Path) -> None:
    with MariaDbServer(tmp_path) as server:
        server.create_database("so_xay_dung")
        server.execute("so_xay_dung", "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)")
        port = server.port
        server.crash()
        with pytest.raises(pymysql.err.OperationalError):
            _connect(server, "so_xay_dung")
        server.restart()
        assert server.port == port
        with _connect(server, "so_xay_dung") as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (2,)


def test_missing_mariadb_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mariadb.shutil, "which", lambda _: None)
    with pytest.raises(MariaDbNotFound, match=r"\.ci/install-mariadb"):
        mariadb.find_binaries((str(tmp_path),))
