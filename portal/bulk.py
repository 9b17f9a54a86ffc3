"""The bulk dump as it is served (`/dump.zip`) and written (`lgsp dump`): the catalogue's visible
datasets and their latest releases, with the catalogue serialised from those same entries, so the
archive never describes a dataset it does not hold (lgsp.publishing.dump builds the bytes)."""

from __future__ import annotations

import re
import threading
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from lgsp.portal.access import Entry, OpenCatalogue
from lgsp.portal.downloads import etag_matches
from lgsp.publishing.dcat import catalogue_graph, serialise
from lgsp.publishing.dump import DUMP_NAME, Dump, members

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class BulkDump:
    """Builds the archive of what `catalogue` shows, kept per address and catalogue state: the
    serialised catalogue takes rdflib seconds at thousands of datasets, and listing the releases
    reads two descriptor files per dataset, neither to be repeated for every download."""

    def __init__(self, catalogue: OpenCatalogue) -> None:
        self.catalogue = catalogue
        self._made: dict[Any, Dump] = {}
        self._lock = threading.Lock()

    def archive(self, base: str) -> Dump:
        entries = self.catalogue.entries()
        key = (base, self.catalogue.generation, tuple(sorted(e.stamp for e in entries.values())))
        with self._lock:
            made = self._made.get(key)
        if made is None:
            files = catalogue_files(entries, base, self.catalogue.settings.province)
            latest = [e.latest for e in entries.values()]
            made = Dump(members(self.catalogue.settings.home, latest, files, self.catalogue.store))
            with self._lock:
                if len(self._made) >= 4:  # a few public addresses at most; older states are gone
                    self._made.pop(next(iter(self._made)))
                self._made[key] = made
        return made


def catalogue_files(entries: dict[str, Entry], base: str, province: str) -> dict[str, bytes]:
    """The DCAT catalogue of exactly these entries, as the archive's catalog.jsonld and catalog.ttl."""
    graph = catalogue_graph([e.contract for e in entries.values()], {i: e.releases for i, e in entries.items()},
                            base, province)  # fmt: skip
    return {"catalog.jsonld": serialise(graph, "json-ld").encode(), "catalog.ttl": serialise(graph, "turtle").encode()}


def respond(request: Request, archive: Dump) -> Response:
    """GET or HEAD of the archive: 304 for a tag the client has, one byte range on request
    (`Range: bytes=a-b`, honoured only while `If-Range` still names this archive), else all of it."""
    etag = archive.etag
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Content-Disposition": f'attachment; filename="{DUMP_NAME}"'}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    start, end, status = 0, len(archive), 200
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if wanted and (if_range is None or if_range == etag):
        found = _RANGE.fullmatch(wanted.strip())
        if found and (found.group(1) or found.group(2)):  # one range; several get the whole archive
            first, last = found.group(1), found.group(2)
            if first:
                start, end = int(first), min(int(last) + 1, len(archive)) if last else len(archive)
            else:
                start = max(len(archive) - int(last), 0)
            if start >= len(archive) or start >= end:
                return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(archive)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(archive)}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type="application/zip")
    return StreamingResponse(
        archive.read(start, end), status_code=status, headers=headers, media_type="application/zip"
    )
