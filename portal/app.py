"""The open-data side of `lgsp serve`: the CKAN API, the DCAT catalogue, release downloads and the
portal's pages, installed on the app that `lgsp.app` assembles."""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from lgsp.core.settings import Settings
from lgsp.portal import downloads
from lgsp.portal.access import OpenCatalogue
from lgsp.portal.api import Actions
from lgsp.portal.bulk import BulkDump, respond
from lgsp.portal.datastore import RawJSON
from lgsp.portal.pages import error_page, render, router
from lgsp.portal.reports import router as reports_router
from lgsp.publishing.counts import DownloadCounter
from lgsp.publishing.dcat import catalogue_graph, serialise
from lgsp.publishing.dcat_pages import PAGE_SIZE, NoSuchPage, catalogue_page
from lgsp.publishing.objectstore import StoreError
from lgsp.web.forwarded import public_base
from lgsp.web.problems import STORE_DOWN, Invalid, NotFound, Problem, Unavailable

log = logging.getLogger(__name__)


async def ckan_problem(request: Request, problem: Problem) -> Response:
    """An error in CKAN's envelope, as ckanapi and harvesters read it (also for downloads); a
    browser asking for a page gets the portal's error page, in its language."""
    if _wants_page(request):
        return error_page(request, problem.status, problem.message)
    body = {"help": str(request.url), "success": False, "error": problem.ckan_error()}
    return JSONResponse(body, status_code=problem.status)


def _wants_page(request: Request) -> bool:
    path = request.url.path
    machine = (
        path.startswith(("/api/", "/releases/", "/catalog"))
        or path.endswith((".json", ".atom", ".zip"))
        or request.query_params.get("format") == "json"  # a page's JSON twin
    )
    return not machine and request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI, settings: Settings) -> None:
    """Add the CKAN API, the release downloads, the catalogue and the portal's pages to `app`."""
    catalogue = OpenCatalogue(settings)
    app.state.catalogue = catalogue
    actions = Actions(settings, catalogue)

    async def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if "json" in content_type:
                try:
                    body = await request.json()
                except (ValueError, RecursionError):  # malformed, or nested deeper than Python parses
                    raise Invalid(
                        {"body": ["Không đọc được JSON của yêu cầu / Cannot parse the JSON request body"]}
                    ) from None
                if isinstance(body, dict):
                    params.update(body)
            elif "form" in content_type:
                params.update(dict(await request.form()))
        return params

    @app.api_route("/api/3/action/{action}", methods=["GET", "POST"])
    @app.api_route("/api/action/{action}", methods=["GET", "POST"], include_in_schema=False)
    async def action(action: str, request: Request) -> Response:
        # DuckDB and the search work run in the thread pool, so one slow query never stalls the loop
        base = public_base(request, settings)
        result = await run_in_threadpool(actions.dispatch, action, await _params(request), base)
        help_url = f"{base}/api/3/action/help_show?name={action}"
        return _json_response({"help": help_url, "success": True, "result": result})

    counter = DownloadCounter(settings.home)  # the release downloads' counts (lgsp.publishing.counts)

    async def _file(request: Request, dataset: str, version: int | None, file: str) -> Response:
        entry = catalogue.get(dataset)
        if entry is None:
            raise NotFound("Không tìm thấy / Not found")
        found = catalogue.release_file(dataset, version or entry.latest.version, file)
        if found is None:
            raise NotFound("Không tìm thấy / Not found")
        release, path = found
        if catalogue.store is None or path.exists():  # made here (or on the shared home): sendfile
            return downloads.serve(request, release, path, counter)
        # a replica without the files: the store answers (a network call, off the event loop)
        return await run_in_threadpool(
            downloads.serve_stored, request, release, file, catalogue.store, settings, counter
        )

    @app.get("/releases/{dataset}/latest/{file}")
    async def latest_file(dataset: str, file: str, request: Request) -> Response:
        return await _file(request, dataset, None, file)

    @app.get("/releases/{dataset}/v{version}/{file}")
    async def release_file(dataset: str, version: int, file: str, request: Request) -> Response:
        return await _file(request, dataset, version, file)

    app.include_router(router(settings, catalogue, actions))
    app.include_router(reports_router(settings, catalogue, render))

    bulk = BulkDump(catalogue)

    @app.api_route("/dump.zip", methods=["GET", "HEAD"])
    def dump(request: Request) -> Response:
        # Assembled from the latest releases the catalogue shows, with the catalogue serialised
        # from the same entries, so it is never stale. (A sync route: off the event loop.)
        try:
            archive = bulk.archive(public_base(request, settings))
        except StoreError as exc:
            log.error("%s", exc)  # the details for the operator; the public gets no bucket names
            raise Unavailable(STORE_DOWN) from None
        return respond(request, archive)

    graphs: dict[Any, Any] = {}
    graphs_lock = threading.Lock()

    def _graph(base: str) -> Any:
        entries = catalogue.entries()
        key = (base, catalogue.generation, tuple(sorted(e.stamp for e in entries.values())))
        with graphs_lock:
            found = graphs.get(key)
        if found is None:
            contracts = [e.contract for e in entries.values()]
            found = catalogue_graph(contracts, {i: e.releases for i, e in entries.items()}, base, settings.province)
            with graphs_lock:
                if len(graphs) >= 4:  # a few public addresses (LAN name, public name) at most
                    graphs.pop(next(iter(graphs)))
                graphs[key] = found
        return found

    def _page(request: Request, extension: str, page: str | None, per_page: str | None) -> Any:
        """The whole catalogue, or with `?page=N` one page of it with Hydra paging (lgsp.publishing.dcat_pages);
        its URIs and download links at the address the request came to (lgsp.web.forwarded)."""
        base = public_base(request, settings)
        if page is None:
            return _graph(base)
        try:
            number, size = int(page), int(per_page or PAGE_SIZE)
        except ValueError:
            raise Invalid({"page": ["Phải là số nguyên / must be a whole number"]}) from None
        entries = catalogue.entries()
        contracts, releases = [e.contract for e in entries.values()], {i: e.releases for i, e in entries.items()}
        try:
            return catalogue_page(contracts, releases, base, settings.province, extension, number, size)
        except NoSuchPage as exc:
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            raise Invalid({"per_page": [str(exc)]}) from None

    @app.get("/catalog.ttl")
    async def catalog_ttl(request: Request, page: str | None = None, per_page: str | None = None) -> Response:
        # building and serialising the graph is seconds of rdflib at thousands of datasets: off the event loop
        body = await run_in_threadpool(lambda: serialise(_page(request, "ttl", page, per_page), "turtle"))
        return Response(body, media_type="text/turtle; charset=utf-8")

    @app.get("/catalog.jsonld")
    async def catalog_jsonld(request: Request, page: str | None = None, per_page: str | None = None) -> Response:
        body = await run_in_threadpool(lambda: serialise(_page(request, "jsonld", page, per_page), "json-ld"))
        return Response(body, media_type="application/ld+json")


_SPLICE = "\u0000raw\u0000"
_MARK = orjson.dumps(_SPLICE)


def _json_response(body: dict[str, Any]) -> Response:
    """JSON with ready-made parts (RawJSON: DuckDB's records, cached package dicts) spliced in verbatim."""
    raw: list[bytes] = []

    def swap(value: Any) -> Any:
        if isinstance(value, RawJSON):
            raw.append(value.encode("utf-8"))
            return _SPLICE
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list) and value and isinstance(value[0], RawJSON | dict):
            return [swap(v) for v in value]
        return value

    text = orjson.dumps(swap(body), option=orjson.OPT_NON_STR_KEYS)
    if raw:
        pieces = text.split(_MARK)
        text = b"".join(p for pair in zip(pieces, [*raw, b""], strict=True) for p in pair)
    return Response(text, media_type="application/json")
