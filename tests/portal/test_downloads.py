"""Release downloads over a real `lgsp serve`: gzip on request from the precompressed twin, the
`.gz` files themselves, ETag and 304s per representation, ranges over the bytes sent."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path

import httpx
from lgsp_sandbox.build import mutate_department

from lgsp.core.settings import Settings

IDENTITY = {"accept-encoding": "identity"}  # httpx asks for gzip by default
GZIP = {"accept-encoding": "gzip"}


def _files(settings: Settings, dataset: str, version: int = 1) -> tuple[Path, dict[str, dict]]:
    folder = settings.home / "releases" / dataset / f"v{version}"
    record = json.loads((folder / "release.json").read_text(encoding="utf-8"))
    return folder, {d["file"]: d for d in record["distributions"]}


def _get(url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """A GET whose body is the bytes on the wire (not decoded)."""
    with httpx.stream("GET", url, headers=headers, timeout=30) as r:
        return r, b"".join(r.iter_raw())


def test_csv_and_json_are_sent_gzipped_on_request_from_the_release_gz(served: tuple[str, Settings]) -> None:
    url, hub = served
    folder, listed = _files(hub, "schools")
    for name in ("schools.csv", "schools.json"):
        for address in (f"{url}/releases/schools/latest/{name}", f"{url}/releases/schools/v1/{name}"):
            r, body = _get(address, GZIP)
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            assert r.headers["vary"] == "Accept-Encoding"
            assert r.headers["etag"] == f'"{listed[name + ".gz"]["sha256"]}"'
            assert r.headers["content-type"].startswith(listed[name]["media_type"])
            assert int(r.headers["content-length"]) == len(body) == listed[name + ".gz"]["bytes"]
            assert body == (folder / f"{name}.gz").read_bytes()
            assert gzip.decompress(body) == (folder / name).read_bytes()

            plain, body = _get(address, IDENTITY)
            assert plain.status_code == 200 and "content-encoding" not in plain.headers
            assert plain.headers["vary"] == "Accept-Encoding"
            assert plain.headers["etag"] == f'"{listed[name]["sha256"]}"' != r.headers["etag"]
            assert body == (folder / name).read_bytes()


ACCEPTS = {  # Accept-Encoding: gzip sent?
    "gzip, deflate, br": True,
    "br;q=1.0, gzip;q=0.5": True,
    "*": True,
    "x-gzip": True,
    "gzip;q=0": False,
    "gzip;q=0, *": False,  # refused by name, whatever `*` says
    "gzip;q=nonsense": False,
    "br, deflate": False,
    "": False,
}


def test_accept_encoding_is_read_with_its_weights(served: tuple[str, Settings]) -> None:
    url, _ = served
    for accept, gzipped in ACCEPTS.items():
        r, body = _get(f"{url}/releases/schools/latest/schools.csv", {"accept-encoding": accept})
        assert r.status_code == 200
        assert (r.headers.get("content-encoding") == "gzip") is gzipped, accept
        assert body.startswith(b"\x1f\x8b") is gzipped, accept


def test_the_gz_files_are_distributions_and_parquet_is_not_gzipped(served: tuple[str, Settings]) -> None:
    url, hub = served
    folder, listed = _files(hub, "schools")
    assert set(listed) == {"schools.csv", "schools.csv.gz", "schools.json", "schools.json.gz", "schools.parquet"}
    for name in ("schools.csv.gz", "schools.json.gz"):
        data = (folder / name).read_bytes()
        assert listed[name]["bytes"] == len(data)
        assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
        r, body = _get(f"{url}/releases/schools/latest/{name}", GZIP)
        # the file itself: no Content-Encoding (a client must not unpack it), no second representation
        assert r.status_code == 200 and "content-encoding" not in r.headers and "vary" not in r.headers
        assert r.headers["content-type"] == "application/gzip"
        assert body == data
    parquet, body = _get(f"{url}/releases/schools/latest/schools.parquet", GZIP)
    assert "content-encoding" not in parquet.headers and body == (folder / "schools.parquet").read_bytes()
    assert _get(f"{url}/releases/schools/latest/schools.parquet.gz", GZIP)[0].status_code == 404
    package = httpx.get(f"{url}/api/3/action/package_show?id=schools").json()["result"]
    sizes = {r["url"].rsplit("/", 1)[1]: r["size"] for r in package["resources"]}
    assert sizes["schools.csv.gz"] == listed["schools.csv.gz"]["bytes"]
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    gz = next(r for r in descriptor["resources"] if r["path"] == "schools.csv.gz")
    assert gz["hash"] == f"sha256:{listed['schools.csv.gz']['sha256']}" and gz["type"] == "file"


def test_etags_answer_304_per_representation(served: tuple[str, Settings]) -> None:
    url, hub = served
    _, listed = _files(hub, "schools")
    address = f"{url}/releases/schools/latest/schools.csv"
    gz_tag, plain_tag = f'"{listed["schools.csv.gz"]["sha256"]}"', f'"{listed["schools.csv"]["sha256"]}"'
    for tags in (gz_tag, f"W/{gz_tag}", f'"other", {gz_tag}', "*"):
        r = httpx.get(address, headers={**GZIP, "if-none-match": tags})
        assert r.status_code == 304 and r.headers["etag"] == gz_tag and r.content == b"", tags
        assert r.headers["vary"] == "Accept-Encoding"
    # the identity's tag does not validate the gzip representation, and the other way round
    assert httpx.get(address, headers={**GZIP, "if-none-match": plain_tag}).status_code == 200
    assert httpx.get(address, headers={**IDENTITY, "if-none-match": gz_tag}).status_code == 200
    assert httpx.get(address, headers={**IDENTITY, "if-none-match": plain_tag}).status_code == 304
    assert httpx.get(address, headers={**GZIP, "if-none-match": '"stale"'}).status_code == 200


def test_ranges_cover_the_bytes_sent_gzip_included(served: tuple[str, Settings]) -> None:
    url, hub = served
    folder, listed = _files(hub, "price_observations")
    gz = (folder / "price_observations.csv.gz").read_bytes()
    address = f"{url}/releases/price_observations/latest/price_observations.csv"
    head, first = _get(address, {**GZIP, "range": "bytes=0-99"})
    assert head.status_code == 206 and head.headers["content-encoding"] == "gzip"
    assert head.headers["content-range"] == f"bytes 0-99/{len(gz)}"
    rest, second = _get(address, {**GZIP, "range": "bytes=100-", "if-range": head.headers["etag"]})
    assert rest.status_code == 206 and rest.headers["content-range"] == f"bytes 100-{len(gz) - 1}/{len(gz)}"
    assert first + second == gz
    assert gzip.decompress(first + second) == (folder / "price_observations.csv").read_bytes()
    # If-Range with another representation's tag: the whole (gzip) file, not a mismatched piece
    stale, whole = _get(
        address, {**GZIP, "range": "bytes=100-", "if-range": f'"{listed["price_observations.csv"]["sha256"]}"'}
    )
    assert stale.status_code == 200 and whole == gz
    refused, _ = _get(address, {**GZIP, "range": f"bytes={len(gz) + 10}-"})
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{len(gz)}"
    assert _get(address, {**GZIP, "range": "lines=0-9"})[0].status_code == 400


def test_unknown_files_and_datasets_that_are_not_open_are_404(served: tuple[str, Settings]) -> None:
    url, hub = served
    assert (hub.home / "releases" / "schools" / "v1" / "release.json").exists()
    for path in (
        "/releases/driving_licences/latest/driving_licences.csv",  # restricted: never released
        "/releases/driving_licences/latest/driving_licences.csv.gz",
        "/releases/schools/latest/release.json",  # in the folder, not a distribution
        "/releases/schools/latest/schools.xlsx",
        "/releases/schools/v9/schools.csv.gz",
        "/releases/nope/latest/nope.csv",
    ):
        r = httpx.get(f"{url}{path}", headers=GZIP)
        assert r.status_code == 404, path
        assert r.json()["success"] is False


def test_the_bulk_dump_is_the_latest_releases_assembled_as_sent(served: tuple[str, Settings]) -> None:
    """/dump.zip over a live server: the length announced is the length sent, every latest release
    is in it (and no other), the ETag answers 304, and a new release shows at once with a new tag."""
    import io
    import zipfile

    from lgsp.pipeline import Pipeline

    url, hub = served
    r, body = _get(f"{url}/dump.zip", IDENTITY)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert int(r.headers["content-length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    datasets = {n.split("/")[0] for n in names if "/" in n}
    assert datasets == {"schools", "price_observations", "ict_indicators"}  # driving_licences is not open
    _, listed = _files(hub, "schools")
    assert {f"schools/v1/{name}" for name in listed} <= set(names)
    head = httpx.head(f"{url}/dump.zip")
    assert head.status_code == 200 and head.headers["content-length"] == r.headers["content-length"]
    assert httpx.get(f"{url}/dump.zip", headers={"if-none-match": r.headers["etag"]}).status_code == 304
    assert httpx.get(f"{url}/dump.zip", headers={"if-none-match": f'W/"x", W/{r.headers["etag"]}'}).status_code == 304
    # A broken download resumes: one range is the same bytes as in the whole archive.
    part, got = _get(f"{url}/dump.zip", {**IDENTITY, "range": "bytes=1000-", "if-range": r.headers["etag"]})
    assert part.status_code == 206 and got == body[1000:]
    assert part.headers["content-range"] == f"bytes 1000-{len(body) - 1}/{len(body)}"
    tail, got = _get(f"{url}/dump.zip", {**IDENTITY, "range": "bytes=-22"})
    assert tail.status_code == 206 and got == body[-22:]
    stale, got = _get(f"{url}/dump.zip", {**IDENTITY, "range": "bytes=1000-", "if-range": '"old"'})
    assert stale.status_code == 200 and got == body
    assert httpx.get(f"{url}/dump.zip", headers={"range": f"bytes={len(body)}-"}).status_code == 416
    Pipeline(hub).release("schools")  # unchanged data: same release, same archive
    assert httpx.get(f"{url}/dump.zip", headers={"if-none-match": r.headers["etag"]}).status_code == 304
    mutate_department("finance", f"sqlite:///{hub.sandbox_dir / 'finance.sqlite'}", seed=5, changed=3, added=2)
    assert Pipeline(hub).run("price_observations").release == 2
    deadline = time.monotonic() + 30  # the server notices a new release within its freshness interval
    while True:
        again = httpx.get(f"{url}/dump.zip", headers={"if-none-match": r.headers["etag"]}, timeout=30)
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert again.status_code == 200 and again.headers["etag"] != r.headers["etag"]
    with zipfile.ZipFile(io.BytesIO(again.content)) as archive:
        names = set(archive.namelist())
    assert "price_observations/v2/release.json" in names and "price_observations/v1/release.json" not in names
