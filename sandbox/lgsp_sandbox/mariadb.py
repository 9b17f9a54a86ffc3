"""A throwaway local MariaDB server for tests: fast, loopback only, a data directory of its own."""

from __future__ import annotations

import atexit
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql

from lgsp_sandbox.servers import ThrowawayServer, free_port, reachable_by

SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
INSTALL_HINT = "run .ci/install-mariadb (it apt-installs mariadb-server)"
OS_USER = "mysql"
USER = "lgsp"  # the account the hub connects with (a password, over TCP); root stays on the socket
# No fsync (each commit reaches the OS, so a killed server keeps it; a power cut would not), small
# buffers, no binlog.
# sql_mode is left at the server's default: departments run what they were installed with.
OPTIONS = (
    "--skip-networking=0",
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    "--skip-log-bin",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=16M",
    "--performance-schema=0",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
    "--max-connections=50",
)


class MariaDbNotFound(RuntimeError):
    """No mariadbd/mariadb-install-db on this machine."""


class MariaDbError(RuntimeError):
    """The server could not be initialised, started or reached."""


def find_binaries(search: tuple[str, ...] = SEARCH_DIRS) -> tuple[Path, Path]:
    """(mariadb-install-db, mariadbd): PATH first, then `search`; older packages name them mysql_install_db, mysqld."""
    found: list[Path] = []
    for names in (("mariadb-install-db", "mysql_install_db"), ("mariadbd", "mysqld")):
        path = next((p for n in names if (p := _which(n, search)) is not None), None)
        if path is None:
            raise MariaDbNotFound(
                f"MariaDB server binary {names[0]} not found on PATH or in {', '.join(search)}; {INSTALL_HINT}"
            )
        found.append(path)
    return found[0], found[1]


def _which(name: str, search: tuple[str, ...]) -> Path | None:
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    return next((Path(d) / name for d in search if (Path(d) / name).is_file()), None)


class MariaDbServer(ThrowawayServer):
    """mariadb-install-db + mariadbd in a directory of its own; stop() (also at exit) kills it and deletes the data.

    Use as a context manager, or call start() and stop(). As root, the server runs as the `mysql` OS
    user (mariadbd --user); if that user cannot reach base_dir, the server lives in a fresh directory
    under the system temp dir instead. No system service and no option file of the machine is used.
    """

    def __init__(self, base_dir: Path, *, keep: bool = False, password: str | None = None) -> None:
        self.base_dir = Path(base_dir)
        self.keep = keep
        self.install_db, self.mariadbd = find_binaries()
        self.password = password or secrets.token_urlsafe(12)
        self.port: int | None = None
        self.root: Path | None = None
        self._owner: pwd.struct_passwd | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self._root / "data"

    @property
    def socket(self) -> Path:
        return self._root / "run" / "mariadb.sock"

    @property
    def log_file(self) -> Path:
        return self._root / "mariadb.log"

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise MariaDbError("the server has not been started")
        return self.root

    def _prepare(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam(OS_USER)
            except KeyError:
                raise MariaDbError(f"running as root needs the '{OS_USER}' OS user; {INSTALL_HINT}") from None
            if not reachable_by(self.base_dir.resolve(), self._owner):
                self.root = Path(tempfile.mkdtemp(prefix="lgsp-mariadb-"))
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="mariadb-", dir=self.base_dir))
        os.chmod(self.root, 0o755)
        for path in (self.data_dir, self.socket.parent):
            path.mkdir(mode=0o700)
        self.log_file.touch()
        if self._owner is not None:
            for path in (self.root, self.data_dir, self.socket.parent, self.log_file):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _user_args(self) -> list[str]:
        return [f"--user={self._owner.pw_name}"] if self._owner is not None else []

    def start(self) -> MariaDbServer:
        """Initialise the data directory, start mariadbd, wait until it answers, add the hub's account; returns self."""
        if self.port is not None:
            return self
        self._prepare()
        init = subprocess.run(
            [
                str(self.install_db), "--no-defaults", f"--datadir={self.data_dir}", *self._user_args(),
                "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                "--innodb-log-file-size=16M",
            ],
            cwd=self._root, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if init.returncode != 0:
            self._cleanup()
            raise MariaDbError(
                f"mariadb-install-db failed ({init.returncode}): {init.stderr.strip() or init.stdout.strip()}"
            )
        atexit.register(self.stop)
        last = ""
        for _ in range(5):  # another process may grab the free port between picking and binding it
            port = free_port()
            try:
                self._launch(port)
            except MariaDbError as exc:
                last = str(exc)
                continue
            self.port = port
            self._add_account()
            return self
        self.stop()
        raise MariaDbError(f"MariaDB did not start: {last}")

    def _launch(self, port: int, timeout: float = 60) -> None:
        """Start mariadbd on `port` and wait until it accepts connections on its socket."""
        self.socket.unlink(missing_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(self.mariadbd), "--no-defaults", f"--datadir={self.data_dir}", *self._user_args(),
                    f"--port={port}", f"--socket={self.socket}", f"--pid-file={self._root / 'mariadb.pid'}",
                    f"--log-error={self.log_file}", *OPTIONS,
                ],
                cwd=self._root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the tests, not the server
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise MariaDbError(f"mariadbd exited: {self._log_tail()}")
            if self.socket.exists():
                try:
                    self.admin().close()
                    return
                except pymysql.err.OperationalError:
                    pass
            time.sleep(0.05)
        self._kill()
        raise MariaDbError(f"mariadbd did not answer within {timeout:.0f}s: {self._log_tail()}")

    def admin(self, database: str | None = None) -> Any:
        """A root connection over the server's own socket (root has no TCP password)."""
        return pymysql.connect(
            unix_socket=str(self.socket), user="root", database=database, charset="utf8mb4", autocommit=True
        )

    def _add_account(self) -> None:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY %s", (self.password,))
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1'")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def url(self, database: str = "mysql", *, password: str | None = None) -> str:
        """SQLAlchemy URL of a database on this server (PyMySQL, utf8mb4), as the hub's account."""
        if self.port is None:
            raise MariaDbError("the server is not running")
        secret = self.password if password is None else password
        return f"mysql+pymysql://{USER}:{secret}@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def create_database(self, name: str) -> str:
        """A new, empty utf8mb4 database (an existing one of that name is dropped first); returns its URL."""
        if self.port is None:
            raise MariaDbError("the server is not running")
        quoted = "`" + name.replace("`", "``") + "`"
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quoted}")
            cur.execute(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def execute(self, database: str, *statements: str | tuple[str, Any]) -> None:
        """Run statements (SQL, or (SQL, parameters) for executemany with a list) as root in `database`."""
        with self.admin(database) as conn, conn.cursor() as cur:
            for statement in statements:
                if isinstance(statement, tuple):
                    sql, params = statement
                    (cur.executemany if isinstance(params, list) else cur.execute)(sql, params)
                else:
                    cur.execute(statement)

    def crash(self) -> None:
        """Kill the server at once (SIGKILL), as a power cut would; the data stays and `restart`
        brings it back on the same port. For fault tests."""
        if self.port is None:
            raise MariaDbError("the server is not running")
        self._kill()

    def restart(self) -> None:
        """Start again on the same port after `crash` (InnoDB recovers from its redo log)."""
        if self.port is None:
            raise MariaDbError("the server was never started")
        self._launch(self.port)

    def _kill(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=30)
        self._process = None

    def stop(self) -> None:
        """Kill the server and delete its data unless keep=True; safe to call twice."""
        atexit.unregister(self.stop)
        if self._process is not None and self._process.poll() is None and self.keep:
            self._process.terminate()  # a clean shutdown keeps the data directory usable
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        self.port = None
        self._cleanup()
