"""A release store that stops answering without refusing (a firewall dropping packets): the store
is reached through a TCP relay on loopback that, once shut, accepts connections and sends nothing.
No request of `lgsp serve` may wait on it beyond the serving client's short timeout, and none that
does not need it may wait at all."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.cluster.test_release_store import IDENTITY, replica, store, writer  # noqa: F401  (fixtures)
from tests.conftest import serve

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


class Relay:
    """Forwards loopback connections to the store until `shut()`; then it accepts new ones and
    drops what the open ones send, answering nothing."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.open = True
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def shut(self) -> None:
        self.open = False

    def close(self) -> None:
        self.open = False
        for s in [self.server, *self.sockets]:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.sockets.append(conn)
            if not self.open:
                continue  # held open, never answered
            up = socket.create_connection(self.target)
            self.sockets.append(up)
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                if self.open:
                    dst.sendall(data)


def _timed(url: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = httpx.get(url, timeout=120, **kwargs)
    return r, time.monotonic() - start


def test_a_store_that_hangs_never_holds_up_the_catalogue_or_a_local_download(
    writer: Settings,  # noqa: F811
    store: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lgsp.portal import stored_catalogue
    from lgsp.publishing import store_client

    monkeypatch.setattr(stored_catalogue, "STORE_LOOK", 0.5)
    monkeypatch.setattr(store_client, "SERVE_READ", 3.0)
    assert Pipeline(writer).run("schools").release == 1
    relay = Relay(store.endpoint)
    try:
        through = {"LGSP_S3_ENDPOINT": relay.endpoint}
        other = replica(tmp_path, "replica", **through)
        maker = Settings.from_env({**os.environ, **through})  # the writer's home, its files here
        with contextlib.closing(serve(other)) as one, contextlib.closing(serve(maker)) as two:
            (there, _), (here, _) = next(one), next(two)
            for base in (there, here):
                assert httpx.get(f"{base}/api/3/action/package_list", timeout=30).json()["result"] == ["schools"]
            assert httpx.get(f"{there}/releases/schools/latest/schools.csv", headers=IDENTITY).status_code == 200
            relay.shut()
            time.sleep(1.5)  # the background looks are now waiting on the store
            with ThreadPoolExecutor(max_workers=4) as pool:
                # downloads from the store, each holding a worker until the serving client gives up
                stuck = [pool.submit(_timed, f"{there}/releases/schools/v1/schools.parquet") for _ in range(3)]
                time.sleep(0.5)
                for _ in range(3):
                    for base in (there, here):
                        r, took = _timed(f"{base}/api/3/action/package_list")
                        assert r.json()["result"] == ["schools"] and took < 1.0, (base, took)
                    r, took = _timed(f"{here}/releases/schools/latest/schools.csv", headers=IDENTITY)
                    assert r.status_code == 200 and took < 1.0, took  # from disk, never asking the store
                    r, took = _timed(f"{there}/catalog.ttl")
                    assert r.status_code == 200 and took < 2.0, took
                for job in stuck:
                    r, took = job.result()
                    assert r.status_code == 503 and took < 10.0, (r.status_code, took)
                    assert relay.endpoint not in r.text and "s3://" not in r.text
            r, took = _timed(f"{there}/releases/schools/v1/schools.csv", headers=IDENTITY)
            assert r.status_code == 503 and took < 0.5, took  # the breaker: not asked again for a while
    finally:
        relay.close()


def test_a_replica_started_while_the_store_hangs_says_503_until_it_has_read_it(
    writer: Settings,  # noqa: F811
    store: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lgsp.portal import stored_catalogue
    from lgsp.publishing import store_client

    monkeypatch.setattr(stored_catalogue, "STORE_LOOK", 0.5)
    monkeypatch.setattr(stored_catalogue, "FIRST_WAIT", 1.0)
    monkeypatch.setattr(store_client, "SERVE_READ", 2.0)
    assert Pipeline(writer).run("schools").release == 1
    relay = Relay(store.endpoint)
    relay.shut()
    try:
        other = replica(tmp_path, "replica", LGSP_S3_ENDPOINT=relay.endpoint)
        for there, _ in serve(other):
            for path in ("/api/3/action/package_list", "/dump.zip", "/catalog.ttl"):
                r, took = _timed(there + path)
                assert r.status_code == 503 and took < 1.0, (path, r.status_code, took)  # not an empty catalogue
                assert "release store is not answering" in r.text and relay.endpoint not in r.text
            relay.open = True
            deadline = time.monotonic() + 20
            while (r := httpx.get(f"{there}/api/3/action/package_list", timeout=30)).status_code != 200:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
            assert r.json()["result"] == ["schools"]
            assert httpx.get(f"{there}/dump.zip", timeout=60).status_code == 200
    finally:
        relay.close()


def _cached(settings: Settings) -> list[str]:
    root = settings.home / "cache" / "releases"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")) if root.exists() else []


def test_a_replica_fetches_only_what_a_request_reads_once_and_within_its_cache(
    writer: Settings,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lgsp_sandbox.build import mutate_department

    from lgsp.publishing import objectstore, stored
    from lgsp.publishing.versions import list_releases

    pipeline = Pipeline(writer)
    assert pipeline.run("schools").release == 1 and pipeline.run("price_observations").release == 1
    mutate_department("finance", f"sqlite:///{writer.sandbox_dir / 'finance.sqlite'}", seed=5, changed=3, added=2)
    assert pipeline.run("price_observations").release == 2
    other = replica(tmp_path, "replica")
    with contextlib.closing(serve(other)) as served:
        there, _ = next(served)
        sql = 'SELECT count(*) AS n FROM "schools"'
        r = httpx.get(f"{there}/api/3/action/datastore_search_sql", params={"sql": sql}, timeout=30)
        assert r.status_code == 200, r.text
        assert _cached(other) == ["schools/v1/schools.parquet"]  # not every dataset's
        # The feed and a page's history diff nothing they would have to fetch: "not compared".
        assert httpx.get(f"{there}/feed.atom", timeout=30).status_code == 200
        assert _cached(other) == ["schools/v1/schools.parquet"]
        assert httpx.get(f"{there}/dataset/price_observations", timeout=30).status_code == 200
        assert "price_observations/v1/price_observations.parquet" not in _cached(other)
    # Many readers of one file at once fetch it once; the cache keeps under its size.
    fetched: list[str] = []
    fetch = objectstore.ReleaseStore.fetch

    def counting(self: Any, key: str, target: Path, sha256: str) -> Path:
        fetched.append(key)
        time.sleep(0.2)  # long enough for the others to be waiting
        return fetch(self, key, target, sha256)

    monkeypatch.setattr(objectstore.ReleaseStore, "fetch", counting)
    fresh = replica(tmp_path, "fresh")
    old, new = list_releases(writer.home, "price_observations")
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = set(pool.map(lambda _: stored.local_file(fresh, new, "parquet"), range(8)))
    assert len(paths) == 1 and len(fetched) == 1
    monkeypatch.setattr(stored, "CACHE_BYTES", new.distribution("parquet").bytes)
    stored.local_file(fresh, old, "parquet")
    assert _cached(fresh) == ["price_observations/v1/price_observations.parquet"]  # v2's copy made way


def test_an_upload_to_a_store_that_hangs_holds_neither_the_writer_nor_the_run_lock(
    writer: Settings,  # noqa: F811
    store: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lgsp.warehouse.store import Warehouse

    relay = Relay(store.endpoint)
    relay.shut()
    monkeypatch.setenv("LGSP_S3_ENDPOINT", relay.endpoint)
    settings = Settings.from_env()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(Pipeline(settings).run, "schools")
            deadline = time.monotonic() + 60
            while not relay.sockets:  # the upload has begun: the store is asked, and answers nothing
                assert time.monotonic() < deadline and not job.done(), job.done() and job.result()
                time.sleep(0.1)
            start = time.monotonic()
            with Pipeline(settings).running("schools", timeout=10):  # an edit's wait, well under EDIT_WAIT
                with Warehouse(settings).writer(timeout=10, dataset="schools"):
                    pass
            assert time.monotonic() - start < 5 and not job.done()
            relay.close()  # the store goes away for good: the upload fails, the run keeps its release
            run = job.result(timeout=120)
        assert run.status == "published" and run.release == 1 and run.release_store, run
    finally:
        relay.close()


def test_presigned_urls_name_the_public_address_and_the_read_only_key(
    writer: Settings,  # noqa: F811
    store: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert Pipeline(writer).run("schools").release == 1
    public = Relay(store.endpoint)  # the address the public reaches the store at (here: a relay)
    try:
        presigned = {"LGSP_RELEASE_REDIRECT": "presigned", "LGSP_RELEASE_PUBLIC_ENDPOINT": f"http://{public.endpoint}"}
        other = replica(tmp_path, "public", **presigned)
        local = writer.home / "releases" / "schools" / "v1" / "schools.csv"
        for there, _ in serve(other):
            r = httpx.get(f"{there}/releases/schools/latest/schools.csv", timeout=30)
            assert r.status_code == 302 and r.headers["location"].startswith(f"http://{public.endpoint}/releases/")
            assert store.endpoint not in r.headers["location"]
            fetched = httpx.get(r.headers["location"], headers=IDENTITY, timeout=30)
            assert fetched.status_code == 200 and fetched.content == local.read_bytes()
        # A read-only key of its own signs them: the lake's read-write key id is not in the URL.
        signed = replica(
            tmp_path, "readonly", **presigned, LGSP_RELEASE_PUBLIC_KEY_ID="READONLY", LGSP_RELEASE_PUBLIC_SECRET="x"
        )
        for there, _ in serve(signed):
            r = httpx.get(f"{there}/releases/schools/latest/schools.csv", timeout=30)
            assert (
                "X-Amz-Credential=READONLY%2F" in r.headers["location"]
                and store.access_key not in r.headers["location"]
            )
    finally:
        public.close()


def test_a_replica_looks_at_unchanged_pointers_with_conditional_gets(
    writer: Settings,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import ClientError

    from lgsp.portal import stored_catalogue
    from lgsp.publishing.store_client import release_store

    monkeypatch.setattr(stored_catalogue, "STORE_LOOK", 0.2)
    from lgsp_sandbox.build import mutate_department

    assert Pipeline(writer).run("price_observations").release == 1
    other = replica(tmp_path, "replica")
    target = release_store(other, serving=True)
    assert target is not None
    answers: list[str] = []  # what the store said to each GET of a latest.json
    get = target.client.get_object

    def watched(**kwargs: Any) -> Any:
        if not kwargs["Key"].endswith("latest.json"):
            return get(**kwargs)
        try:
            found = get(**kwargs)
        except ClientError as exc:
            answers.append(str(exc.response["Error"]["Code"]))
            raise
        answers.append("200")
        return found

    monkeypatch.setattr(target.client, "get_object", watched)
    for there, _ in serve(other):
        time.sleep(1.5)
        assert answers[0] == "200" and answers.count("304") >= 3 and "200" not in answers[1:], answers
        # A new release changes the pointer: the next conditional GET gets it.
        finance = f"sqlite:///{writer.sandbox_dir / 'finance.sqlite'}"
        mutate_department("finance", finance, seed=5, changed=3, added=2)
        assert Pipeline(writer).run("price_observations").release == 2
        deadline = time.monotonic() + 20
        while (
            httpx.get(f"{there}/api/3/action/package_show?id=price_observations", timeout=30).json()["result"][
                "version"
            ]
            != "2"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
