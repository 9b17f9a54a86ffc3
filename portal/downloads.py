"""Serving a release's files: the precompressed `.gz` twin when the client accepts gzip, the
SHA-256 of the bytes sent as ETag, ranges over those bytes, and a count per download.

Nothing is compressed per request: a release's CSV and JSON have their gzip made once, beside
them (lgsp.publishing.compress). A download is counted when its first byte is asked for, so a
client resuming or fetching in ranges counts once, and nothing about the client is kept.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

from lgsp.publishing.counts import DownloadCounter
from lgsp.publishing.versions import Release


class ReleaseFile(FileResponse):
    """FileResponse with 1 MiB reads: a 100 MB file in 100 thread hops instead of 1,600."""

    chunk_size = 1 << 20


def _codings(header: str) -> dict[str, float]:
    """Accept-Encoding as {coding: q}; a malformed q counts as 0 (not acceptable)."""
    found: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if not name.strip():
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        found[name.strip().lower()] = q
    return found


def accepts_gzip(header: str | None) -> bool:
    codings = _codings(header or "")
    q = codings.get("gzip", codings.get("x-gzip", codings.get("*", 0.0)))
    return q > 0


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): a list of tags, W/ ignored, or `*`."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def first_byte_requested(request: Request, etag: str, size: int) -> bool:
    """True when this response starts at byte 0: no Range, a range from 0, or an If-Range that no
    longer matches (the whole file follows). A continuation is the same download; a range the
    server refuses (400, 416) is no download at all."""
    http_range = request.headers.get("range")
    if http_range is None:
        return True
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        return True
    try:  # the very parser that answers the request, so the count agrees with what is sent
        ranges = ReleaseFile._parse_range_header(http_range, size)
    except Exception:
        return False
    return not ranges or any(start == 0 for start, _ in ranges)


def serve(request: Request, release: Release, path: Path, counter: DownloadCounter) -> Response:
    """The response for one release file (`path`), visible and open (the caller checked)."""
    distribution = next(d for d in release.distributions if d.file == path.name)
    sent, headers = distribution, {}
    twin = next((d for d in release.distributions if d.file == f"{path.name}.gz"), None)
    if twin is not None:  # two representations of one URL: caches must key on Accept-Encoding
        headers["vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("accept-encoding")):
            sent = twin
            headers["content-encoding"] = "gzip"
    etag = f'"{sent.sha256}"'
    headers["etag"] = etag
    if etag_matches(request.headers.get("if-none-match"), etag):
        headers.pop("content-encoding", None)
        return Response(status_code=304, headers=headers)
    if first_byte_requested(request, etag, sent.bytes):
        counter.count(release.dataset, distribution.format)
    return ReleaseFile(
        path.with_name(sent.file), media_type=distribution.media_type, filename=path.name, headers=headers
    )
