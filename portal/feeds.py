"""Atom feeds (RFC 4287) of releases, so a consumer learns that a dataset changed without polling
the API: one per dataset, one per publisher and one for the whole catalogue, one entry per
release with its date, row count and what it changed. Open datasets only, as everywhere on the
portal: a dataset that is not open has no feed (404), as it has no page.

Built with the standard library's ElementTree, which escapes text and attributes itself."""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from lgsp.core.settings import Settings
from lgsp.portal import diffs
from lgsp.portal.access import Entry, OpenCatalogue
from lgsp.portal.dataset_page import diff_text
from lgsp.portal.i18n import number, texts
from lgsp.publishing.versions import Release
from lgsp.web.forwarded import public_base
from lgsp.web.problems import NotFound

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 200  # the newest releases; older ones are in each dataset's history
MEDIA_TYPE = "application/atom+xml; charset=utf-8"


def _stamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _urn(*parts: str) -> str:
    """A permanent id, the same whatever host or language the feed is read through."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "lgsp-hub:" + "/".join(parts)).urn


def feed(base_url: str, self_path: str, title: str, entries: list[Entry], settings: Settings, lang: str) -> bytes:
    """The feed document: entries newest first, ids stable across hosts and languages."""
    t = texts(lang)
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    releases: list[tuple[Release, Entry, diffs.Diff | None]] = []
    for entry in entries:
        changes = diffs.history(settings, entry)
        releases += [(r, entry, changes[r.version]) for r in entry.releases]
    releases.sort(key=lambda item: (item[0].created_at, item[0].dataset, item[0].version), reverse=True)
    releases = releases[:MAX_ENTRIES]
    ET.SubElement(root, f"{{{ATOM}}}id").text = _urn(settings.province, self_path)
    ET.SubElement(root, f"{{{ATOM}}}title").text = title
    newest = releases[0][0].created_at if releases else dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ET.SubElement(root, f"{{{ATOM}}}updated").text = _stamp(newest)
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "self", "href": f"{base_url}{self_path}?lang={lang}"})
    ET.SubElement(
        root, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": f"{base_url}/?lang={lang}"}
    )
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = f"{t['site']} · {settings.province}"
    for release, entry, diff in releases:
        c = entry.contract
        item = ET.SubElement(root, f"{{{ATOM}}}entry")
        digest = release.distribution("parquet").sha256
        ET.SubElement(item, f"{{{ATOM}}}id").text = _urn(settings.province, c.id, str(release.version), digest)
        ET.SubElement(item, f"{{{ATOM}}}title").text = t["release_title"].format(
            title=getattr(c.title, lang), version=release.version
        )
        ET.SubElement(item, f"{{{ATOM}}}updated").text = _stamp(release.created_at)
        ET.SubElement(item, f"{{{ATOM}}}published").text = _stamp(release.created_at)
        page = f"{base_url}/dataset/{c.id}?lang={lang}#release-v{release.version}"
        ET.SubElement(item, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": page})
        for d in release.distributions:
            url = f"{base_url}/releases/{c.id}/v{release.version}/{d.file}"
            ET.SubElement(
                item, f"{{{ATOM}}}link", {"rel": "enclosure", "type": d.media_type, "href": url, "length": str(d.bytes)}
            )
        who = ET.SubElement(item, f"{{{ATOM}}}author")
        ET.SubElement(who, f"{{{ATOM}}}name").text = getattr(c.publisher.name, lang)
        ET.SubElement(
            item, f"{{{ATOM}}}category", {"term": c.publisher.code.lower(), "label": getattr(c.publisher.name, lang)}
        )
        ET.SubElement(item, f"{{{ATOM}}}summary").text = t["release_summary"].format(
            rows=number(release.rows, lang), diff=diff_text(diff, lang)
        )
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def router(settings: Settings, catalogue: OpenCatalogue) -> APIRouter:
    feeds = APIRouter()

    def _lang(request: Request) -> str:
        return "en" if request.query_params.get("lang") == "en" else "vi"

    async def _answer(request: Request, path: str, title: str, entries: list[Entry]) -> Response:
        lang = _lang(request)
        base_url = public_base(request, settings)
        body: Any = await run_in_threadpool(feed, base_url, path, title, entries, settings, lang)
        return Response(body, media_type=MEDIA_TYPE)

    @feeds.get("/feed.atom")
    async def catalogue_feed(request: Request) -> Response:
        title = f"{texts(_lang(request))['feed_catalogue']} · {settings.province}"
        return await _answer(request, "/feed.atom", title, list(catalogue.entries().values()))

    @feeds.get("/dataset/{dataset_id}/feed.atom")
    async def dataset_feed(dataset_id: str, request: Request) -> Response:
        entry = catalogue.get(dataset_id)
        if entry is None:  # unknown and non-open datasets look the same: they do not exist here
            raise NotFound("Không tìm thấy / Not found")
        title = getattr(entry.contract.title, _lang(request))
        return await _answer(request, f"/dataset/{dataset_id}/feed.atom", title, [entry])

    @feeds.get("/publisher/{code}/feed.atom")
    async def publisher_feed(code: str, request: Request) -> Response:
        entries = [e for e in catalogue.entries().values() if e.contract.publisher.code.lower() == code.lower()]
        if not entries:
            raise NotFound("Không tìm thấy / Not found")
        title = getattr(entries[0].contract.publisher.name, _lang(request))
        return await _answer(request, f"/publisher/{code.lower()}/feed.atom", title, entries)

    return feeds
