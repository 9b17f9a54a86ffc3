"""`lgsp serve --uds`: the hub on a Unix socket, as a reverse proxy on the same host reaches it:
mode 0660 from its first moment, release files by sendfile byte for byte, a stale socket replaced,
a live one or another file never taken over, the socket removed when the server stops."""

from __future__ import annotations

import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.web.unix import SocketInUse, remove_if_ours, unix_listener


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A socket path must stay under 108 bytes: pytest's own folders can be longer."""
    folder = Path(tempfile.mkdtemp(prefix="lgsp-uds-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "lgsp.cli", "serve", "--uds", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=5) as client:
                if client.get("http://hub/api/3/action/status_show").status_code == 200:
                    return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"lgsp serve --uds did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.2)


def test_serves_releases_on_a_private_unix_socket(hub: Settings, short_dir: Path) -> None:
    assert Pipeline(hub).run("price_observations").status == "published"
    path = short_dir / "lgsp.sock"
    process = _start(path)
    try:
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o660
        folder = hub.home / "releases" / "price_observations" / "v1"
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=30) as client:
            for _ in range(2):  # on one kept-alive connection
                r = client.get(
                    "http://data.example.vn/releases/price_observations/latest/price_observations.csv",
                    headers={"accept-encoding": "gzip"},
                )
                assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
                assert r.content == (folder / "price_observations.csv").read_bytes()  # decoded from the .gz
            shown = client.get("http://data.example.vn/api/3/action/package_show", params={"id": "price_observations"})
            urls = [x["url"] for x in shown.json()["result"]["resources"]]
            assert urls and all(u.startswith("http://data.example.vn/releases/") for u in urls)  # the Host asked
            proxied = client.get(  # whoever may open the socket is the proxy: its headers are believed
                "http://localhost/api/3/action/package_show",
                params={"id": "price_observations"},
                headers={"x-forwarded-proto": "https", "x-forwarded-host": "data.quangtri.gov.vn"},
            )
            urls = [x["url"] for x in proxied.json()["result"]["resources"]]
            assert all(u.startswith("https://data.quangtri.gov.vn/releases/") for u in urls), urls
        with pytest.raises(subprocess.CalledProcessError) as refused:  # a second server is refused the live socket
            subprocess.run(
                [sys.executable, "-m", "lgsp.cli", "serve", "--uds", str(path)],
                capture_output=True, text=True, check=True, timeout=60,
            )  # fmt: skip
        assert "another process is serving on it" in refused.value.stderr
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert not path.exists()  # removed on the way out


def test_a_stale_socket_is_replaced_and_other_files_are_left_alone(short_dir: Path) -> None:
    stale = short_dir / "stale.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(stale))
    dead.close()  # bound, never listening: what a killed server leaves
    listener = unix_listener(stale)
    try:
        assert stat.S_IMODE(stale.stat().st_mode) == 0o660
    finally:
        listener.close()
    # Another server's socket put at the same path since is not removed on the way out.
    ours = unix_listener(short_dir / "shared.sock")
    inode = (short_dir / "shared.sock").lstat().st_ino
    (short_dir / "shared.sock").unlink()
    theirs = unix_listener(short_dir / "shared.sock")
    remove_if_ours(short_dir / "shared.sock", ours, inode)
    assert (short_dir / "shared.sock").exists()
    theirs.close()
    plain = short_dir / "notes.txt"
    plain.write_text("not a socket")
    with pytest.raises(SocketInUse, match="is not a socket"):
        unix_listener(plain)
    assert plain.read_text() == "not a socket"
