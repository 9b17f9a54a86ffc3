"""`lgsp serve` as deployed (issue 14, point 13): over HTTPS with its own certificate, or behind a
reverse proxy whose forwarded headers are believed only when its address is configured."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lgsp.core.settings import Settings
from lgsp.sharing import registry


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(hub: Settings, *options: str, **env: str) -> Iterator[str]:
    port = _port()
    environ = {**os.environ, "LGSP_HOME": str(hub.home), **env}
    process = subprocess.Popen([sys.executable, "-m", "lgsp.cli", "serve", "--port", str(port), *options],
                               env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "lgsp serve did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lgsp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "hub.crt", folder / "hub.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    return cert_path, key_path


def test_serve_over_https_with_its_own_certificate(hub: Settings, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    with served(hub, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)) as address:
        answer = httpx.get(f"https://{address}/api/3/action/package_list", verify=str(cert))
        assert answer.status_code == 200 and answer.json()["success"]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://{address}/api/3/action/package_list")  # no plain HTTP on a TLS port
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://{address}/api/3/action/package_list")  # an unknown certificate is refused


def test_forwarded_headers_are_believed_only_from_a_configured_proxy(hub: Settings) -> None:
    """The client address (which login lockouts count by) comes from X-Forwarded-For only when the
    connection comes from an address in LGSP_TRUSTED_PROXIES."""

    def failed_login_address(address: str) -> str:
        with httpx.Client(base_url=f"http://{address}", headers={"X-Forwarded-For": "10.9.9.9"}) as browser:
            csrf = browser.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
            browser.post("/admin/login", data={"csrf": csrf, "username": "nobody", "password": "guess"})
        with sqlite3.connect(registry.registry_path(hub)) as con:
            [(seen,)] = con.execute("SELECT address FROM login_failures ORDER BY rowid DESC LIMIT 1").fetchall()
        return str(seen)

    with served(hub) as address:
        assert failed_login_address(address) == "127.0.0.1"  # a client cannot claim another address
    with served(hub, LGSP_TRUSTED_PROXIES="127.0.0.1") as address:
        assert failed_login_address(address) == "10.9.9.9"  # the proxy's word for its client
