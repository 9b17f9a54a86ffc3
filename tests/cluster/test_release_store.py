"""Releases in object storage, for real: a hub uploads its releases to SeaweedFS under immutable
keys with their SHA-256; a replica whose home has no releases serves the same catalogue and the
same bytes (streamed, or by a presigned URL); a key holding other bytes is never overwritten; a
store that does not answer fails the release, loudly."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.objectstore import StoreConflict, StoreError
from lgsp.publishing.store_client import release_store
from tests.conftest import make_home, serve

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

BASE = "https://opendata.quangtri.gov.vn"  # the public address every replica prints
IDENTITY = {"accept-encoding": "identity"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lgsp_sandbox.objectstore import ObjectStore

    with ObjectStore(tmp_path_factory.mktemp("s3")) as server:
        yield server


def s3(store: Any) -> Any:
    """A client of our own, to look at what the hub wrote (not the hub's code)."""
    return boto3.client(
        "s3", endpoint_url=f"http://{store.endpoint}", aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


@pytest.fixture
def writer(hub: Settings, store: Any, monkeypatch: pytest.MonkeyPatch, request: Any) -> Settings:
    """The `hub` home with a release store of its own (a prefix per test), given as a hub is:
    environment variables, the secret among them in a 0600 file."""
    secret = hub.home.parent / "s3.secret"
    secret.write_text(store.secret_key)
    secret.chmod(0o600)
    monkeypatch.setenv("LGSP_RELEASE_STORE", f"s3://releases/{request.node.name[:40]}/")
    monkeypatch.setenv("LGSP_S3_ENDPOINT", store.endpoint)
    monkeypatch.setenv("LGSP_S3_KEY_ID", store.access_key)
    monkeypatch.setenv("LGSP_S3_SECRET_FILE", str(secret))
    monkeypatch.setenv("LGSP_S3_USE_SSL", "off")
    monkeypatch.setenv("LGSP_BASE_URL", BASE)
    with contextlib.suppress(Exception):  # an operator makes the bucket once
        s3(store).create_bucket(Bucket="releases")
    return Settings.from_env()


def replica(tmp_path: Path, name: str, **env: str) -> Settings:
    """Another host's settings: the same store and contracts, a home with no releases at all."""
    return Settings.from_env({**os.environ, "LGSP_HOME": str(tmp_path / name), **env})


def folder(settings: Settings, dataset: str, version: int = 1) -> Path:
    return settings.home / "releases" / dataset / f"v{version}"


def test_every_release_file_is_in_the_store_with_its_sha256_and_the_same_bytes(writer: Settings, store: Any) -> None:
    run = Pipeline(writer).run("schools")
    assert run.status == "published" and run.release == 1, run
    client, prefix = s3(store), writer.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    listed = {
        d["file"]: d for d in json.loads((folder(writer, "schools") / "release.json").read_text())["distributions"]
    }
    files = sorted(p for p in folder(writer, "schools").iterdir())
    assert {p.name for p in files} == {*listed, "release.json", "datapackage.json"}
    for path in files:
        found = client.get_object(Bucket="releases", Key=f"{prefix}schools/v1/{path.name}")
        body = found["Body"].read()
        assert body == path.read_bytes(), path.name
        assert found["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
        assert found["ContentType"] == (listed[path.name]["media_type"] if path.name in listed else "application/json")
        if path.name in listed:
            assert found["Metadata"]["sha256"] == listed[path.name]["sha256"]
    pointer = client.get_object(Bucket="releases", Key=f"{prefix}schools/latest.json")["Body"].read()
    assert pointer == (writer.home / "releases" / "schools" / "latest.json").read_bytes()
    # An unchanged run uploads nothing and leaves every object as it was.
    before = {o["Key"]: o["ETag"] for o in client.list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]}
    assert Pipeline(writer).run("schools").release == 1
    after = {o["Key"]: o["ETag"] for o in client.list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]}
    assert after == before


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[httpx.Response, bytes]:
    with httpx.stream("GET", url, headers=headers or IDENTITY, timeout=30) as r:
        return r, b"".join(r.iter_raw())


def test_a_replica_without_the_releases_serves_the_same_catalogue_and_bytes(writer: Settings, tmp_path: Path) -> None:
    pipeline = Pipeline(writer)
    for dataset in ("schools", "price_observations"):
        assert pipeline.run(dataset).status == "published"
    other = replica(tmp_path, "replica")
    assert not (other.home / "releases").exists()
    with contextlib.closing(serve(writer)) as one, contextlib.closing(serve(other)) as two:
        (here, _), (there, _) = next(one), next(two)
        for path in ("/api/3/action/package_list", "/api/3/action/package_show?id=schools", "/catalog.ttl"):
            mine, theirs = httpx.get(here + path, timeout=30), httpx.get(there + path, timeout=30)
            assert theirs.status_code == 200 and theirs.content == mine.content, path
        local = folder(writer, "schools")
        for file in sorted(
            p.name for p in local.iterdir() if p.name != "release.json" and p.name != "datapackage.json"
        ):
            r, body = _get(f"{there}/releases/schools/latest/{file}")
            mine, _ = _get(f"{here}/releases/schools/latest/{file}")
            assert r.status_code == 200 and body == (local / file).read_bytes(), file
            assert r.headers["etag"] == mine.headers["etag"] == f'"{hashlib.sha256(body).hexdigest()}"'
            assert r.headers["content-type"] == mine.headers["content-type"]
            assert int(r.headers["content-length"]) == len(body)
        # gzip from the `.gz` object, ranges over the bytes sent, 304 for a tag the client has
        r, body = _get(f"{there}/releases/schools/v1/schools.csv", {"accept-encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
        assert body == (local / "schools.csv.gz").read_bytes()
        whole = (local / "schools.csv").read_bytes()
        r, body = _get(f"{there}/releases/schools/v1/schools.csv", {**IDENTITY, "range": "bytes=10-99"})
        assert r.status_code == 206 and body == whole[10:100]
        assert r.headers["content-range"] == f"bytes 10-99/{len(whole)}"
        r, body = _get(f"{there}/releases/schools/v1/schools.csv", {**IDENTITY, "range": "bytes=-20"})
        assert r.status_code == 206 and body == whole[-20:]
        stale = {**IDENTITY, "range": "bytes=0-9", "if-range": '"not-this-file"'}
        r, body = _get(f"{there}/releases/schools/v1/schools.csv", stale)
        assert r.status_code == 200 and body == whole
        r, _ = _get(f"{there}/releases/schools/v1/schools.csv", {**IDENTITY, "range": f"bytes={len(whole)}-"})
        assert r.status_code == 416
        tag = f'"{hashlib.sha256(whole).hexdigest()}"'
        r, body = _get(f"{there}/releases/schools/v1/schools.csv", {**IDENTITY, "if-none-match": tag})
        assert r.status_code == 304 and body == b""
        assert httpx.get(f"{there}/releases/schools/v2/schools.csv").status_code == 404
        # The readers of the Parquet (datastore_search, the dataset page) work from a checked copy.
        query = "/api/3/action/datastore_search?resource_id=schools&limit=5&sort=school_code"
        assert httpx.get(there + query, timeout=30).json() == httpx.get(here + query, timeout=30).json()
        assert httpx.get(f"{there}/dataset/schools", timeout=30).status_code == 200
        # The bulk dump is the same archive, byte for byte, and a range of it resumes.
        mine, theirs = httpx.get(f"{here}/dump.zip", timeout=60), httpx.get(f"{there}/dump.zip", timeout=60)
        assert theirs.status_code == 200 and theirs.content == mine.content
        assert theirs.headers["etag"] == mine.headers["etag"]
        names = zipfile.ZipFile(io.BytesIO(theirs.content)).namelist()
        assert "schools/v1/schools.parquet" in names and "price_observations/v1/release.json" in names
        part = httpx.get(f"{there}/dump.zip", headers={"range": "bytes=1000-"}, timeout=60)
        assert part.status_code == 206 and part.content == mine.content[1000:]


def test_a_replica_may_redirect_downloads_to_presigned_urls(writer: Settings, tmp_path: Path, store: Any) -> None:
    assert Pipeline(writer).run("schools").status == "published"
    other = replica(tmp_path, "presigned", LGSP_RELEASE_REDIRECT="presigned", LGSP_RELEASE_URL_EXPIRY="120")
    local = folder(writer, "schools")
    for there, _ in serve(other):
        for file in ("schools.csv", "schools.parquet", "schools.json.gz"):
            r = httpx.get(f"{there}/releases/schools/latest/{file}", headers={"accept-encoding": "gzip"}, timeout=30)
            assert r.status_code == 302, r.text
            assert r.headers["location"].startswith(f"http://{store.endpoint}/releases/")
            assert "X-Amz-Expires=120" in r.headers["location"]
            assert r.headers["etag"] == f'"{hashlib.sha256((local / file).read_bytes()).hexdigest()}"'
            fetched = httpx.get(r.headers["location"], headers=IDENTITY, timeout=30)  # no credentials of ours
            assert fetched.status_code == 200 and fetched.content == (local / file).read_bytes()
            assert fetched.headers["content-disposition"] == f'attachment; filename="{file}"'
            piece = httpx.get(r.headers["location"], headers={**IDENTITY, "range": "bytes=5-14"}, timeout=30)
            assert piece.status_code == 206 and piece.content == (local / file).read_bytes()[5:15]
        tampered = r.headers["location"].replace("X-Amz-Expires=120", "X-Amz-Expires=3600")
        assert httpx.get(tampered, timeout=30).status_code == 403  # the signature covers the expiry


def test_a_key_holding_other_bytes_is_never_overwritten(
    writer: Settings, tmp_path: Path, store: Any, sandbox_dir: Path, catalogue: Path
) -> None:
    assert Pipeline(writer).run("schools").status == "published"
    client, prefix = s3(store), writer.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    before = {
        o["Key"]: client.get_object(Bucket="releases", Key=o["Key"])["Body"].read()
        for o in client.list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]
    }
    other = tmp_path / "other.csv"
    other.write_bytes(b"school_code\nnot-the-release\n")
    key = f"{prefix}schools/v1/schools.csv"
    with pytest.raises(StoreConflict, match=f"s3://releases/{key}.*không bao giờ bị ghi đè / .*never overwritten"):
        release_store(writer).put_immutable(key, other, "text/csv")  # type: ignore[union-attr]
    # Another host whose home is not shared makes its own v1 of the same dataset: refused whole.
    second_home = writer.home.parent / "second"
    make_home(second_home, sandbox_dir, catalogue)
    second = Settings.from_env({**os.environ, "LGSP_HOME": str(second_home)})
    run = Pipeline(second).run("schools")
    assert run.status == "published" and run.release == 1  # made there; it could not go to the store
    assert "schools/v1/release.json" in str(run.release_store) and "không ghi đè / " in str(run.release_store)
    assert "not in the release store yet" in str(run.release_store)
    after = {
        o["Key"]: client.get_object(Bucket="releases", Key=o["Key"])["Body"].read()
        for o in client.list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]
    }
    assert after == before  # nothing lost, nothing added
    with pytest.raises(StoreConflict):
        Pipeline(second).release("schools")


def test_a_large_file_goes_up_in_parts_with_its_sha256_and_is_not_overwritten(
    writer: Settings, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lgsp.publishing import objectstore

    monkeypatch.setattr(objectstore, "SINGLE_PUT", 1 << 20)  # a 10 MiB file stands for a 5 GiB one
    monkeypatch.setattr(objectstore, "PART", 5 << 20)  # in two parts
    big, other = tmp_path / "big.csv.gz", tmp_path / "other.csv.gz"
    big.write_bytes(os.urandom(10 << 20))
    other.write_bytes(os.urandom(10 << 20))
    target = release_store(writer)
    assert target is not None
    key = target.key("big", 1, "big.csv.gz")
    assert target.put_immutable(key, big, "application/gzip") is True
    assert target.put_immutable(key, big, "application/gzip") is False  # the same bytes: nothing to write
    with pytest.raises(StoreConflict, match="never overwritten"):
        target.put_immutable(key, other, "application/gzip")
    # A writer that looked before another took the key: the store refuses its completed parts.
    real, looks = target.head, []

    def stale_then_real(k: str) -> Any:
        looks.append(k)
        return None if len(looks) == 1 else real(k)

    monkeypatch.setattr(target, "head", stale_then_real)
    with pytest.raises(StoreConflict, match="never overwritten"):
        target.put_immutable(key, other, "application/gzip")
    monkeypatch.undo()
    found = s3(store).get_object(Bucket="releases", Key=key)
    assert found["Body"].read() == big.read_bytes() and found["ContentType"] == "application/gzip"
    assert found["Metadata"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert not s3(store).list_multipart_uploads(Bucket="releases").get("Uploads")  # no parts left behind


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _subscribed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings with one consumer subscribed to every open dataset (nothing listens: the
    outbox is what is looked at)."""
    from lgsp.sharing import consumers, webhooks

    monkeypatch.setenv("LGSP_WEBHOOK_NETWORKS", "127.0.0.0/8")
    settings = Settings.from_env()
    consumers.add_consumer(settings, "ALL_OPEN", "Agency ALL_OPEN", "all@example.gov.vn")
    webhooks.add_subscription(settings, "ALL_OPEN", "http://127.0.0.1:9/hook", None)
    return settings


def _events(settings: Settings) -> list[str]:
    from lgsp.sharing.deliveries import deliveries

    return [f"{d['type']}:{d['dataset']}" for d in deliveries(settings)]


def test_a_store_that_does_not_answer_leaves_the_release_announced_and_a_later_one_uploads_it(
    writer: Settings, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _subscribed(writer, monkeypatch)
    monkeypatch.setenv("LGSP_S3_ENDPOINT", f"127.0.0.1:{_closed_port()}")
    down = Settings.from_env()
    run = Pipeline(down).run("schools")
    assert run.status == "published" and run.release == 1, run  # the version made, whatever the store did
    assert str(run.release_store).startswith("Bản phát hành v1 đã làm ở đây nhưng chưa lên kho"), run
    assert "The release store s3://releases/" in str(run.release_store) and down.s3_secret is not None
    assert down.s3_secret.get_secret_value() not in str(run.release_store)
    assert (folder(down, "schools") / "release.json").exists()  # made here all the same
    assert _events(down) == ["dataset.released:schools"]  # announced before the upload was tried
    with pytest.raises(StoreError, match=r"không trả lời .* / The release store .* failed"):
        Pipeline(down).release("schools")
    # `lgsp release` says the release it has, then fails (exit 1) on the upload alone.
    from typer.testing import CliRunner

    from lgsp.cli import app

    result = CliRunner().invoke(app, ["release", "schools"])
    assert result.exit_code != 0 and "schools: release v1" in result.output, result.output
    assert isinstance(result.exception, StoreError)
    # The store is back: the next release (here, of unchanged data) uploads the version it missed.
    Pipeline(writer).release("schools")
    prefix = writer.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    pointer = s3(store).get_object(Bucket="releases", Key=f"{prefix}schools/latest.json")["Body"].read()
    assert json.loads(pointer)["version"] == 1
    assert _events(writer) == ["dataset.released:schools"]  # announced once


def test_a_release_that_fails_part_way_keeps_the_stores_pointer_and_is_announced(
    writer: Settings, store: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _subscribed(writer, monkeypatch)
    client, prefix = s3(store), writer.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    # Another host's object under one of v1's keys: the files before it go up, then the upload stops.
    client.put_object(Bucket="releases", Key=f"{prefix}schools/v1/schools.parquet", Body=b"not ours")
    run = Pipeline(settings).run("schools")
    assert run.status == "published" and run.release == 1, run
    assert "schools/v1/schools.parquet" in str(run.release_store) and "never overwritten" in str(run.release_store)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]}
    assert f"{prefix}schools/v1/schools.csv" in keys  # part of it went up
    assert f"{prefix}schools/latest.json" not in keys and f"{prefix}schools/v1/release.json" not in keys
    assert _events(settings) == ["dataset.released:schools"]
    # The key freed (an operator's decision), the next release uploads the rest and moves the pointer.
    client.delete_object(Bucket="releases", Key=f"{prefix}schools/v1/schools.parquet")
    Pipeline(settings).release("schools")
    pointer = client.get_object(Bucket="releases", Key=f"{prefix}schools/latest.json")["Body"].read()
    assert json.loads(pointer)["version"] == 1
    assert _events(settings) == ["dataset.released:schools"]


def test_a_replica_whose_store_stops_answering_says_so(
    hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lgsp_sandbox.objectstore import ObjectStore

    with ObjectStore(tmp_path / "s3") as own:
        for name, value in {"LGSP_RELEASE_STORE": "s3://releases/down/", "LGSP_S3_ENDPOINT": own.endpoint,
                            "LGSP_S3_KEY_ID": own.access_key, "LGSP_S3_SECRET": own.secret_key,
                            "LGSP_S3_USE_SSL": "off"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        with contextlib.suppress(Exception):
            s3(own).create_bucket(Bucket="releases")
        assert Pipeline(Settings.from_env()).run("schools").release == 1
        other = replica(tmp_path, "replica")
        with contextlib.closing(serve(other)) as served:
            there, _ = next(served)
            assert _get(f"{there}/releases/schools/latest/schools.csv")[0].status_code == 200
            own.stop()
            r = httpx.get(f"{there}/releases/schools/latest/schools.csv", headers=IDENTITY, timeout=60)
            assert r.status_code == 503, r.text
            assert "Kho bản phát hành tạm thời không trả lời" in r.text and "release store is not answering" in r.text
            assert own.endpoint not in r.text and own.secret_key not in r.text
            # Nothing else a reader of the Parquet answers names the store's host, bucket or keys either.
            sql = 'SELECT count(*) FROM "schools"'
            for path, accept in (
                ("/api/3/action/datastore_search?resource_id=schools&limit=5", "application/json"),
                (f"/api/3/action/datastore_search_sql?sql={sql}", "application/json"),
                ("/dataset/schools", "text/html"),
                ("/dataset/schools?format=json", "application/json"),
            ):
                r = httpx.get(there + path, headers={"accept": accept}, timeout=60)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert "release store is not answering" in r.text, (path, r.text)
                for secret in (own.endpoint, own.secret_key, "s3://", "releases/down", "botocore", "Could not connect"):
                    assert secret not in r.text, (path, secret, r.text)
            # the catalogue it read stays served meanwhile
            assert httpx.get(f"{there}/api/3/action/package_list", timeout=30).json()["result"] == ["schools"]


def test_an_object_that_is_not_the_releases_is_never_served_or_uploaded(
    writer: Settings, tmp_path: Path, store: Any
) -> None:
    from lgsp.publishing.versions import ReleaseError

    assert Pipeline(writer).run("schools").release == 1
    client, prefix = s3(store), writer.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    local = folder(writer, "schools")
    # Changed behind the hub's back: the same sha256 in its metadata but cut short, and other bytes.
    whole = (local / "schools.csv").read_bytes()
    real = hashlib.sha256(whole).hexdigest()
    client.put_object(
        Bucket="releases", Key=f"{prefix}schools/v1/schools.csv", Body=whole[:-5], Metadata={"sha256": real}
    )
    client.put_object(
        Bucket="releases", Key=f"{prefix}schools/v1/schools.csv.gz", Body=b"x", Metadata={"sha256": "0" * 64}
    )
    other = replica(tmp_path, "replica")
    for there, _ in serve(other):
        for coding in ("identity", "gzip"):
            r, body = _get(f"{there}/releases/schools/v1/schools.csv", {"accept-encoding": coding})
            assert r.status_code == 503 and body != whole[:-5] and body != b"x", (coding, r.status_code)
        try:  # the archive is streamed: the bad member cuts it short, never passing for the archive
            assert httpx.get(f"{there}/dump.zip", timeout=60).status_code == 503
        except httpx.RemoteProtocolError:
            pass
    # A file here that is not what its manifest says is not uploaded.
    target = release_store(writer)
    assert target is not None
    with pytest.raises(ReleaseError, match="does not match its manifest's sha256"):
        target.put_immutable(target.key("other", 1, "schools.csv"), local / "schools.csv", "text/csv", "0" * 64)
    assert "Contents" not in client.list_objects_v2(Bucket="releases", Prefix=f"{prefix}other/")


def test_a_version_whose_column_became_personal_data_is_never_uploaded(
    writer: Settings, store: Any, contracts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_S3_ENDPOINT", f"127.0.0.1:{_closed_port()}")
    down = Settings.from_env()
    run = Pipeline(down).run("schools")
    assert run.release == 1 and run.release_store, run  # v1 made here, not in the store
    path = contracts_dir / "schools.yaml"  # the address becomes personal data
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("{name: address, type: string,", "{name: address, type: string, personal_data: basic,")
    )
    monkeypatch.setenv("LGSP_S3_ENDPOINT", store.endpoint)
    up = Settings.from_env()
    assert Pipeline(up).release("schools").version == 2  # without the column
    prefix = up.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    keys = {o["Key"] for o in s3(store).list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]}
    assert not any(k.startswith(f"{prefix}schools/v1/") for k in keys), keys
    assert f"{prefix}schools/v2/release.json" in keys
    pointer = s3(store).get_object(Bucket="releases", Key=f"{prefix}schools/latest.json")["Body"].read()
    assert json.loads(pointer)["version"] == 2


def test_a_pointer_that_does_not_parse_takes_down_only_its_dataset(
    writer: Settings, tmp_path: Path, store: Any
) -> None:
    pipeline = Pipeline(writer)
    for dataset in ("schools", "price_observations"):
        assert pipeline.run(dataset).release == 1
    prefix = writer.release_store.removeprefix("s3://releases/")  # type: ignore[union-attr]
    s3(store).put_object(Bucket="releases", Key=f"{prefix}price_observations/latest.json", Body=b"{not json")
    for there, _ in serve(replica(tmp_path, "replica")):
        r = httpx.get(f"{there}/api/3/action/package_list", timeout=30)
        assert r.status_code == 200 and r.json()["result"] == ["schools"], r.text


def test_a_streamed_download_resumes_with_the_date_it_was_given(writer: Settings, tmp_path: Path) -> None:
    from lgsp.publishing.counts import read_counts

    assert Pipeline(writer).run("schools").release == 1
    other = replica(tmp_path, "replica")
    whole = (folder(writer, "schools") / "schools.csv").read_bytes()
    for there, _ in serve(other):
        url = f"{there}/releases/schools/v1/schools.csv"
        r, body = _get(url)
        modified = r.headers["last-modified"]  # the release's time, as a local file has its own
        assert body == whole and modified.endswith(" GMT")
        r, body = _get(url, {**IDENTITY, "range": "bytes=10-", "if-range": modified})
        assert r.status_code == 206 and body == whole[10:]
        counted = sum(n for _, dataset, fmt, n in read_counts(other.home) if (dataset, fmt) == ("schools", "csv"))
        assert counted == 1  # the continuation is the same download


def test_latest_json_is_written_only_over_the_pointer_that_was_read(writer: Settings, store: Any) -> None:
    assert Pipeline(writer).run("schools").release == 1
    target = release_store(writer)
    assert target is not None
    key = target.key("schools")
    found, etag = target.pointer("schools")
    assert found is not None and found.version == 1 and etag
    moved = found.model_copy(update={"version": 7}).model_dump_json().encode()
    assert target.put_pointer(key, moved, etag) is True  # another writer moves it on
    older = (writer.home / "releases" / "schools" / "latest.json").read_bytes()
    assert target.put_pointer(key, older, etag) is False  # a slow writer with what it read before: refused
    assert target.put_pointer(key, older, None) is False  # nor as if there were none
    assert target.pointer("schools")[0].version == 7  # type: ignore[union-attr]
    Pipeline(writer).release("schools")  # a writer behind the store's pointer leaves it
    assert target.pointer("schools")[0].version == 7  # type: ignore[union-attr]
