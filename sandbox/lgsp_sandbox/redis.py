"""A throwaway Redis server for the cluster tests: the Celery broker, nothing kept, on loopback or on
a test host's address inside its network namespace (lgsp_sandbox.hosts).

Started from Debian's `redis-server` binary (`.ci/install-redis`) with its own port and
directory, no persistence, a password from a 0600 file (as a deployment would), and stopped with
the tests.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from lgsp_sandbox.servers import ThrowawayServer, free_port

INSTALL_HINT = "run .ci/install-redis (it apt-installs redis-server)"


class RedisNotFound(RuntimeError):
    """No redis-server on this machine."""


class RedisServer(ThrowawayServer):
    def __init__(
        self, root: Path | None = None, host: str = "127.0.0.1", keep: bool = False, netns: str | None = None
    ) -> None:
        self.root = root
        self.host = host
        self.netns = netns  # the network namespace it runs in: a test host's, or this one
        self.keep = keep
        self.port = 0
        self.password = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL Celery takes (`redis://:password@host:port/0`)."""
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def start(self) -> Self:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisNotFound(f"redis-server not found on PATH; {INSTALL_HINT}")
        self.root = self.root or Path(tempfile.mkdtemp(prefix="lgsp-redis-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.root / "redis.conf"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the password
        with os.fdopen(fd, "w") as out:
            out.write(
                f"bind {self.host}\nport {self.port}\ndir {self.root}\nrequirepass {self.password}\n"
                'save ""\nappendonly no\nprotected-mode yes\ndaemonize no\nloglevel warning\n'
                f"logfile {self.root / 'redis.log'}\n"
                # A Unix socket too: this namespace checks on a server in a test host's through it.
                f"unixsocket {self.socket_path}\nunixsocketperm 700\n"
            )
        command = [binary, str(config)]
        if self.netns is not None:
            command = ["ip", "netns", "exec", self.netns, *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "redis.log").read_text(errors="replace")[-2000:] if self.root else ""
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.host}:{self.port}:\n{log}")
            time.sleep(0.05)
        return self

    @property
    def socket_path(self) -> Path:
        assert self.root is not None
        return self.root / "redis.sock"

    def _connect(self) -> socket.socket:
        if self.netns is None:
            return socket.create_connection((self.host, self.port), timeout=1)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.settimeout(1)
        unix.connect(str(self.socket_path))
        return unix

    def _answers(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                answer = b""
                while b"+PONG" not in answer and b"-" not in answer[:1]:
                    chunk = sock.recv(64)
                    if not chunk:
                        return False
                    answer += chunk
                return b"+PONG" in answer
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self._cleanup()
