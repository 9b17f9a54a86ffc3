"""Run the simulator: `Simulator` starts it in a subprocess for tests; `main` is `python -m lgsp_sandbox.national_api`.

A subprocess (not a thread) so the server has its own GIL: a benchmark measures the client, not the two
fighting over one interpreter, and a hung test can always kill it.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from types import TracebackType

import requests

from lgsp_sandbox.national_api import DEFAULT_SEED, SimulatorConfig

READY_PREFIX = "national-api listening on "


class Simulator:
    """The simulated national services on a free loopback port, for the duration of a `with` block.

    Raises RuntimeError if the server does not come up within `start_timeout` seconds (with its log attached).
    """

    def __init__(
        self,
        enterprises: int = 20_000,
        seed: int = DEFAULT_SEED,
        token_ttl: int = 3600,
        rate_limit: float | None = None,
        port: int | None = None,
        documents: int = 3_000,
        start_timeout: float = 60.0,
        reporting_deadline: date | None = None,
    ) -> None:
        self.config = SimulatorConfig(
            enterprises=enterprises,
            seed=seed,
            token_ttl=token_ttl,
            rate_limit=rate_limit,
            documents=documents,
            reporting_deadline=reporting_deadline,
        )
        self.port, self.start_timeout = port, start_timeout
        self.process: subprocess.Popen | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # loopback: never through an environment proxy
        self._log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret.get_secret_value()

    @property
    def api_key(self) -> str:
        return self.config.api_key.get_secret_value()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start the subprocess and wait until /_admin/stats answers."""
        c = self.config
        command = [sys.executable, "-m", "lgsp_sandbox.national_api", "--host", c.host, "--port", str(self.port or 0)]
        command += ["--seed", str(c.seed), "--enterprises", str(c.enterprises), "--documents", str(c.documents)]
        command += ["--token-ttl", str(c.token_ttl), "--parent-pid", str(os.getpid())]
        if c.rate_limit is not None:
            command += ["--rate-limit", str(c.rate_limit)]
        if c.reporting_deadline is not None:
            command += ["--reporting-deadline", c.reporting_deadline.isoformat()]
        handle, name = tempfile.mkstemp(prefix="national-api-", suffix=".log")
        self._log_path = Path(name)
        try:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=handle, stdin=subprocess.DEVNULL, text=True
            )
        finally:
            os.close(handle)
        deadline = time.monotonic() + self.start_timeout
        try:
            self.port = self._announced_port(deadline)
            while True:
                try:
                    self._session.get(f"{self.base_url}/_admin/stats", timeout=1).raise_for_status()
                    return
                except requests.RequestException:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.05)
        except BaseException as error:
            log = self.log()
            self.stop()
            raise RuntimeError(f"national API simulator did not start: {error}\n{log}") from error

    def _announced_port(self, deadline: float) -> int:
        assert self.process is not None and self.process.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith(READY_PREFIX):
                    return int(line.rsplit(":", 1)[1])
                if not line:
                    break
        raise TimeoutError("the server never announced its port")

    def log(self) -> str:
        """The server's stderr so far (uvicorn warnings and tracebacks)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        """Terminate the subprocess (kill it if it lingers) and remove its log. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._session.close()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)

    def _admin(self, method: str, path: str, body: object = None) -> dict:
        response = self._session.request(method, f"{self.base_url}/_admin/{path}", json=body, timeout=30)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} /_admin/{path}: {response.status_code} {response.text}")
        return response.json()

    def set_faults(self, *rules: Mapping | list[Mapping]) -> list[dict]:
        """Replace the fault rules: set_faults({"kind": "503", "path": "/dkkd"}, ...) or set_faults([...])."""
        flat = [r for rule in rules for r in (rule if isinstance(rule, list) else [rule])]
        return self._admin("POST", "faults", [dict(r) for r in flat])["rules"]

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def stats(self) -> dict:
        return self._admin("GET", "stats")

    def reset_stats(self) -> dict:
        return self._admin("DELETE", "stats")

    def advance(self, updated: int = 0, new: int = 0, seconds: int = 86_400) -> dict:
        """Move the register's clock; change `updated` enterprises and register `new` ones. Returns their tax codes."""
        return self._admin("POST", "advance", {"updated": updated, "new": new, "seconds": seconds})

    def token(self) -> str:
        """A fresh access token for this simulator's client."""
        response = self._session.post(
            f"{self.base_url}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]


def _watch_parent(parent: int) -> None:
    """Exit when the process that started us is gone, so a killed test run leaves no server behind."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lgsp_sandbox.national_api",
        description="Simulated national services (business register, administrative units, legal documents).",
    )
    defaults = SimulatorConfig()
    p.add_argument("--host", default=defaults.host, help="interface to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default %(default)s)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)")
    p.add_argument("--enterprises", type=int, default=defaults.enterprises, help="register size (default %(default)s)")
    p.add_argument("--documents", type=int, default=defaults.documents, help="legal documents (default %(default)s)")
    p.add_argument("--token-ttl", type=int, default=defaults.token_ttl, help="token lifetime in seconds")
    p.add_argument("--rate-limit", type=float, default=None, help="requests per second per client (default: none)")
    p.add_argument("--reporting-deadline", type=date.fromisoformat, default=None, help="move every report deadline")
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Build the data, bind the socket, announce the URL on stdout, then serve until terminated."""
    import uvicorn

    from lgsp_sandbox.national_api.app import create_app

    args = parser().parse_args(argv)
    config = SimulatorConfig(
        host=args.host,
        seed=args.seed,
        enterprises=args.enterprises,
        documents=args.documents,
        token_ttl=args.token_ttl,
        rate_limit=args.rate_limit,
        reporting_deadline=args.reporting_deadline,
    )
    if args.parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    app = create_app(config)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"{READY_PREFIX}http://{args.host}:{sock.getsockname()[1]}", flush=True)
    if args.parent_pid is not None:  # nobody reads our stdout after the announcement; never block on a full pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])
    return 0
