"""Serving a release's files: the precompressed `.gz` twin when the client accepts gzip, the
SHA-256 of the bytes sent as ETag, ranges over those bytes, and a count per download.

Nothing is compressed per request: a release's CSV and JSON have their gzip made once, beside
them (lgsp.publishing.compress). A download is counted when its first byte is asked for, so a
client resuming or fetching in ranges counts once, and nothing about the client is kept.
"""

from __future__ import annotations

import logging
from email.utils import formatdate
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from lgsp.core.settings import Settings
from lgsp.publishing.counts import DownloadCounter
from lgsp.publishing.objectstore import ReleaseStore, StoreError
from lgsp.publishing.versions import Distribution, Release
from lgsp.web.problems import STORE_DOWN, Unavailable

log = logging.getLogger(__name__)


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


def _representation(request: Request, release: Release, name: str) -> tuple[Distribution, Distribution, dict[str, str]]:
    """The file asked for, the file to send (its `.gz` twin when the client takes gzip) and the
    headers that say which, ETag among them."""
    distribution = next(d for d in release.distributions if d.file == name)
    sent, headers = distribution, {}
    twin = next((d for d in release.distributions if d.file == f"{name}.gz"), None)
    if twin is not None:  # two representations of one URL: caches must key on Accept-Encoding
        headers["vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("accept-encoding")):
            sent = twin
            headers["content-encoding"] = "gzip"
    headers["etag"] = f'"{sent.sha256}"'
    return distribution, sent, headers


def serve(request: Request, release: Release, path: Path, counter: DownloadCounter) -> Response:
    """The response for one release file (`path`), visible and open (the caller checked)."""
    distribution, sent, headers = _representation(request, release, path.name)
    etag = headers["etag"]
    if etag_matches(request.headers.get("if-none-match"), etag):
        headers.pop("content-encoding", None)
        return Response(status_code=304, headers=headers)
    if first_byte_requested(request, etag, sent.bytes):
        counter.count(release.dataset, distribution.format)
    return ReleaseFile(
        path.with_name(sent.file), media_type=distribution.media_type, filename=path.name, headers=headers
    )


def serve_stored(
    request: Request, release: Release, name: str, store: ReleaseStore, settings: Settings, counter: DownloadCounter
) -> Response:
    """The response for a release file this host does not have: streamed from the release store
    with the same headers, ETag, gzip and single ranges as a local file (several ranges get the
    whole file, as RFC 9110 allows), or with LGSP_RELEASE_REDIRECT=presigned a 302 to a presigned
    URL of the file asked for (the store answers ranges itself; no gzip negotiation there: the
    `.gz` files have addresses of their own). Raises Unavailable when the store does not answer."""
    distribution, sent, headers = _representation(request, release, name)
    if settings.release_redirect == "presigned":
        sent, headers = distribution, {"etag": f'"{distribution.sha256}"'}
    etag = headers["etag"]
    if etag_matches(request.headers.get("if-none-match"), etag):
        headers.pop("content-encoding", None)
        return Response(status_code=304, headers=headers)
    key = store.key(release.dataset, release.version, sent.file)
    if settings.release_redirect == "presigned":
        if first_byte_requested(request, etag, sent.bytes):
            counter.count(release.dataset, distribution.format)
        url = store.presigned(key, settings.release_url_expiry, name, distribution.media_type)
        return RedirectResponse(url, status_code=302, headers={**headers, "cache-control": "no-store"})
    start, end, status = 0, sent.bytes, 200
    headers["last-modified"] = formatdate(release.created_at.timestamp(), usegmt=True)  # the release's time
    http_range, if_range = request.headers.get("range"), request.headers.get("if-range")
    if http_range is not None and (if_range is None or if_range in (etag, headers["last-modified"])):
        try:
            ranges = ReleaseFile._parse_range_header(http_range, sent.bytes)
        except MalformedRangeHeader as exc:
            return PlainTextResponse(exc.content, status_code=400)
        except RangeNotSatisfiable:
            return PlainTextResponse("", status_code=416, headers={"content-range": f"bytes */{sent.bytes}"})
        if len(ranges) == 1:
            (start, end), status = ranges[0], 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{sent.bytes}"
    headers |= {"accept-ranges": "bytes", "content-length": str(end - start)}
    headers["content-disposition"] = f'attachment; filename="{name}"'
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=distribution.media_type)
    try:
        body = store.read(key, start, end, sent.sha256, sent.bytes)
    except StoreError as exc:
        log.error("%s", exc)  # the details for the operator; the public gets no bucket names
        raise Unavailable(STORE_DOWN) from None
    if first_byte_requested(request, etag, sent.bytes) and not (start > 0 and if_range == headers["last-modified"]):
        counter.count(release.dataset, distribution.format)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=distribution.media_type)
