"""The FastAPI application of `lgsp serve`: CKAN API, DCAT catalogue and release downloads.
Errors become HTTP here, in one place."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from lgsp.settings import Settings
from portal.access import OpenCatalogue
from portal.api import Actions
from portal.datastore import RawJSON
from portal.errors import ApiError, NotFound
from portal.pages import router
from publishing.dump import DUMP_NAME


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    catalogue = OpenCatalogue(settings)
    actions = Actions(settings, catalogue)
    app = FastAPI(title=f"lgsp-hub: {settings.province}", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"help": str(request.url), "success": False, "error": exc.body()}, status_code=exc.status)

    async def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if "json" in content_type:
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            elif "form" in content_type:
                params.update(dict(await request.form()))
        return params

    @app.api_route("/api/3/action/{action}", methods=["GET", "POST"])
    @app.api_route("/api/action/{action}", methods=["GET", "POST"], include_in_schema=False)
    async def action(action: str, request: Request) -> Response:
        # DuckDB and the search work run in the thread pool, so one slow query never stalls the loop
        result = await run_in_threadpool(actions.dispatch, action, await _params(request))
        help_url = f"{settings.base_url}/api/3/action/help_show?name={action}"
        return _json_response({"help": help_url, "success": True, "result": result})

    def _file(request: Request, dataset: str, version: int | None, file: str) -> Response:
        entry = catalogue.get(dataset)
        if entry is None:
            raise NotFound("Not found")
        found = catalogue.release_file(dataset, version or entry.latest.version, file)
        if found is None:
            raise NotFound("Not found")
        release, path = found
        distribution = next(d for d in release.distributions if d.file == file)
        etag = f'"{distribution.sha256}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        return FileResponse(path, media_type=distribution.media_type, filename=file, headers={"etag": etag})

    @app.get("/releases/{dataset}/latest/{file}")
    async def latest_file(dataset: str, file: str, request: Request) -> Response:
        return _file(request, dataset, None, file)

    @app.get("/releases/{dataset}/v{version}/{file}")
    async def release_file(dataset: str, version: int, file: str, request: Request) -> Response:
        return _file(request, dataset, version, file)

    app.include_router(router(settings, catalogue, actions))

    @app.get("/dump.zip")
    async def dump() -> Response:
        return _catalogue(settings, DUMP_NAME, "application/zip")

    @app.get("/catalog.ttl")
    async def catalog_ttl() -> Response:
        return _catalogue(settings, "catalog.ttl", "text/turtle; charset=utf-8")

    @app.get("/catalog.jsonld")
    async def catalog_jsonld() -> Response:
        return _catalogue(settings, "catalog.jsonld", "application/ld+json")

    return app


_SPLICE = "\u0000raw\u0000"


def _json_response(body: dict[str, Any]) -> Response:
    """JSON with DuckDB-made parts (RawJSON) spliced in verbatim."""
    raw: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, RawJSON):
            raw.append(str(value))
            return _SPLICE
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    text = json.dumps(swap(body), ensure_ascii=False, separators=(",", ":"))
    for part in raw:
        text = text.replace(json.dumps(_SPLICE), part, 1)
    return Response(text.encode("utf-8"), media_type="application/json")


def _catalogue(settings: Settings, name: str, media_type: str) -> Response:
    path = settings.home / "releases" / name
    if not path.exists():
        raise NotFound("No dataset has been released yet")
    return FileResponse(path, media_type=media_type)
