"""A throwaway PostgreSQL server for tests and benchmarks: fast, insecure (trust auth), on loopback or on
a test host's address inside its network namespace (lgsp_sandbox.hosts)."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2
from psycopg2 import sql

from lgsp_sandbox.servers import ThrowawayServer, free_port, reachable_by

SEARCH_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/*/bin")
INSTALL_HINT = "run .ci/install-postgres (it apt-installs postgresql)"
OS_USER = "postgres"
# Durability off, WAL minimal (COPY into a table created in the same transaction skips WAL), few checkpoints.
SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "'4GB'",
    "checkpoint_timeout": "'30min'",
    "shared_buffers": "'256MB'",
    "maintenance_work_mem": "'256MB'",
    "max_connections": "50",
    "log_min_messages": "warning",
}


class PostgresNotFound(RuntimeError):
    """No initdb/pg_ctl on this machine."""


class PostgresError(RuntimeError):
    """The server could not be initialised, started or reached."""


def find_bin_dir(search: tuple[str, ...] = SEARCH_DIRS) -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then `search` (globs; the newest version first)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    for pattern in search:
        for directory in sorted(map(Path, glob.glob(pattern)), key=lambda p: _version(p.parent.name), reverse=True):
            if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
                return directory
    raise PostgresNotFound(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in {', '.join(search)}; {INSTALL_HINT}"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


class PostgresServer(ThrowawayServer):
    """initdb + pg_ctl start in a directory of its own; stop() (also at exit) stops it and deletes the cluster.

    Use as a context manager, or call start() and stop(). As root, the cluster runs as the `postgres` OS user
    (initdb and pg_ctl refuse root); if that user cannot reach base_dir, the cluster lives in a fresh directory
    under the system temp dir instead.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        keep: bool = False,
        host: str = "127.0.0.1",
        netns: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.keep = keep
        self.settings = {**SETTINGS, **(settings or {})}  # postgresql.conf's, e.g. more max_connections
        self.host = host  # the address it listens on (and its URLs name)
        self.netns = netns  # the network namespace it runs in: a test host's, or this one
        self.bin_dir = find_bin_dir()
        self.port: int | None = None
        self.root: Path | None = None
        self._owner: pwd.struct_passwd | None = None
        self._scratch = False

    @property
    def data_dir(self) -> Path:
        return self._root / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root / "socket"

    @property
    def log_file(self) -> Path:
        return self._root / "postgres.log"

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise PostgresError("the server has not been started")
        return self.root

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        if self.netns is not None:  # the server listens inside the test host's namespace
            command = ["ip", "netns", "exec", self.netns, *command]
        return subprocess.run(command, cwd=self._root, capture_output=True, text=True, timeout=120)

    def _prepare(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresError(f"running as root needs the '{OS_USER}' OS user; {INSTALL_HINT}") from None
            if not reachable_by(self.base_dir.resolve(), self._owner):
                self.root = Path(tempfile.mkdtemp(prefix="lgsp-postgres-"))
                self._scratch = True
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="postgres-", dir=self.base_dir))
        os.chmod(self.root, 0o755)
        self.socket_dir.mkdir(mode=0o700)
        self.data_dir.mkdir(mode=0o700)
        if self._owner is not None:
            for path in (self.root, self.socket_dir, self.data_dir):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
            self.log_file.touch()
            os.chown(self.log_file, self._owner.pw_uid, self._owner.pw_gid)

    def start(self) -> PostgresServer:
        """initdb, configure, start with pg_ctl -w; returns self."""
        if self.port is not None:
            return self
        self._prepare()
        init = self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        if init.returncode != 0:
            self._cleanup()
            raise PostgresError(f"initdb failed ({init.returncode}): {init.stderr.strip() or init.stdout.strip()}")
        atexit.register(self.stop)
        settings = {
            **self.settings,
            "unix_socket_directories": f"'{self.socket_dir}'",
            "listen_addresses": f"'{self.host}'",
        }
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# lgsp sandbox: a throwaway bulk-load test server\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        if self.host != "127.0.0.1":  # a test host's network (lgsp_sandbox.hosts): its /24
            network = ".".join(self.host.split(".")[:3]) + ".0/24"
            with (self.data_dir / "pg_hba.conf").open("a", encoding="utf-8") as hba:
                hba.write(f"host all all {network} trust\n")
        last = ""
        for _ in range(5):  # another process may grab the free port between picking and binding it
            port = free_port()
            started = self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "-o", f"-p {port}",
                "start",
            )  # fmt: skip
            if started.returncode == 0:
                self.port = port
                return self
            last = self._log_tail() or started.stderr
        self.stop()
        raise PostgresError(f"PostgreSQL did not start: {last}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this server."""
        if self.port is None:
            raise PostgresError("the server is not running")
        return f"postgresql+psycopg2://postgres@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new, empty database (an existing one of that name is dropped first); returns its URL."""
        if self.port is None:
            raise PostgresError("the server is not running")
        conn = self.admin_connection()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return self.url(name)

    def admin_connection(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        """A connection as `postgres`: over loopback, or, for a server in a test host's namespace
        (which this namespace cannot reach by address), over its Unix socket."""
        host = str(self.socket_dir) if self.netns is not None else "127.0.0.1"
        return psycopg2.connect(host=host, port=self.port, user="postgres", dbname=dbname)

    def crash(self) -> None:
        """Stop at once, as a power cut or a killed server would (pg_ctl -m immediate); the cluster
        stays and `restart` brings it back on the same port. For fault tests."""
        if self.port is None:
            raise PostgresError("the server is not running")
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        """Start again on the same port after `crash` (PostgreSQL recovers from its WAL)."""
        if self.port is None:
            raise PostgresError("the server was never started")
        started = self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "-o", f"-p {self.port}",
            "start",
        )  # fmt: skip
        if started.returncode != 0:
            raise PostgresError(f"PostgreSQL did not restart: {self._log_tail() or started.stderr}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster unless keep=True; safe to call twice."""
        atexit.unregister(self.stop)
        if self.root is None:
            return
        if self.port is not None and (self.data_dir / "postmaster.pid").exists():
            stopped = self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
            if stopped.returncode != 0:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        self.port = None
        self._cleanup()
