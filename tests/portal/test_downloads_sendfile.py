"""`lgsp serve`'s HTTP protocol (uvicorn's, plus `http.response.pathsend` by sendfile): whole
files leave by the kernel, byte for byte, on kept-alive connections; ranges, 304s and a client
that hangs up midway behave as with stock uvicorn."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.portal.sendfile import SendfileHttpProtocol
from lgsp.publishing.counts import read_counts
from tests.conftest import serve


@pytest.fixture
def zero_copy(hub: Settings) -> Iterator[tuple[str, Settings]]:
    """`lgsp serve` as the command runs it (its protocol), on a free loopback port."""
    assert Pipeline(hub).run("price_observations").status == "published"
    for url, _app in serve(hub, http=SendfileHttpProtocol):
        yield url, hub


def test_whole_files_leave_by_sendfile_byte_for_byte_on_one_connection(zero_copy: tuple[str, Settings]) -> None:
    url, hub = zero_copy
    folder = hub.home / "releases" / "price_observations" / "v1"
    base = f"{url}/releases/price_observations/latest"
    with httpx.Client(timeout=30) as client:  # one kept-alive connection for every request
        for _ in range(3):
            for name, accept, on_disk in (
                ("price_observations.csv", "gzip", "price_observations.csv.gz"),
                ("price_observations.csv", "identity", "price_observations.csv"),
                ("price_observations.json", "gzip", "price_observations.json.gz"),
                ("price_observations.csv.gz", "gzip", "price_observations.csv.gz"),
                ("price_observations.parquet", "gzip", "price_observations.parquet"),
            ):
                with client.stream("GET", f"{base}/{name}", headers={"accept-encoding": accept}) as r:
                    body = b"".join(r.iter_raw())
                assert r.status_code == 200, name
                assert body == (folder / on_disk).read_bytes(), (name, accept)
                assert int(r.headers["content-length"]) == len(body)
        # ranges and 304s on the same connection afterwards
        gz = (folder / "price_observations.csv.gz").read_bytes()
        with client.stream("GET", f"{base}/price_observations.csv", headers={"range": "bytes=10-19"}) as r:
            assert r.status_code == 206 and b"".join(r.iter_raw()) == gz[10:20]
        tag = r.headers["etag"]
        assert client.get(f"{base}/price_observations.csv", headers={"if-none-match": tag}).status_code == 304
    counted = {(d, f): n for _, d, f, n in read_counts(hub.home)}
    assert counted == {
        ("price_observations", "csv"): 6,
        ("price_observations", "json"): 3,
        ("price_observations", "csv.gz"): 3,
        ("price_observations", "parquet"): 3,
    }


def test_a_client_that_hangs_up_midway_leaves_the_server_serving(zero_copy: tuple[str, Settings]) -> None:
    url, hub = zero_copy
    host, port = url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(
                b"GET /releases/price_observations/latest/price_observations.csv HTTP/1.1\r\n"
                b"Host: x\r\nAccept-Encoding: identity\r\n\r\n"
            )
            assert s.recv(64).startswith(b"HTTP/1.1 200")
        # closed after a few bytes
    csv = (hub.home / "releases" / "price_observations" / "v1" / "price_observations.csv").read_bytes()
    r = httpx.get(
        f"{url}/releases/price_observations/latest/price_observations.csv", headers={"accept-encoding": "identity"}
    )
    assert r.status_code == 200 and r.content == csv
    assert httpx.get(f"{url}/api/3/action/status_show").json()["success"] is True
