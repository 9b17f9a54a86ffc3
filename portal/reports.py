"""The portal's report pages: the province's reports built from open data, each with its table
(disputed cells highlighted, every cell's sources in its footnotes), its versions and downloads.

A report is shown only when every dataset it reads is open: a report over shared or restricted
data is for the hub's staff, not the public portal.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from lgsp.core.settings import Settings
from lgsp.portal.access import OpenCatalogue
from lgsp.reports.html import table_css, table_html
from lgsp.reports.submit import history
from lgsp.reports.versions import FILES, ReportVersion, folder, latest, load, versions
from lgsp.schemas.reports import report_files
from lgsp.web.problems import NotFound


def _public(settings: Settings, catalogue: OpenCatalogue, code: str) -> ReportVersion | None:
    """The report's latest version, when it was built and every input is an open dataset."""
    made = latest(settings.home, code)
    if made is None:
        return None
    return made if all(catalogue.get(dataset) is not None for dataset in made.lineage) else None


def router(settings: Settings, catalogue: OpenCatalogue, render: Any) -> APIRouter:
    """`render(template, request, lang, **context)` is the portal's page renderer."""
    pages = APIRouter()

    def lang_of(request: Request) -> str:
        return "en" if request.query_params.get("lang") == "en" else "vi"

    def shown() -> list[ReportVersion]:
        found = [_public(settings, catalogue, p.stem) for p in report_files(settings.report_templates_dir)]
        return [v for v in found if v is not None]

    @pages.get("/reports", response_class=HTMLResponse)
    async def reports(request: Request) -> Response:
        lang = lang_of(request)
        listed = []
        for made in shown():
            built = load(settings.home, made.code, made.version)
            listed.append({"code": made.code, "title": built.report.title.model_dump(), "area": built.report.area,
                           "owner": built.report.owner, "version": made.version, "disputed": made.disputed,
                           "cells": made.cells})  # fmt: skip
        if request.query_params.get("format") == "json":
            return JSONResponse({"reports": listed})
        return render("reports.html.j2", request, lang, reports=listed)

    @pages.get("/reports/{code}", response_class=HTMLResponse)
    async def report(code: str, request: Request) -> Response:
        lang = lang_of(request)
        made = _public(settings, catalogue, code)
        if made is None:
            raise NotFound("Not found")
        every = versions(settings.home, code)
        asked = request.query_params.get("version", "")
        chosen = next((v for v in every if str(v.version) == asked), made) if asked else made
        if asked and str(chosen.version) != asked:
            raise NotFound("Not found")
        built = load(settings.home, code, chosen.version)
        if request.query_params.get("format") == "json":
            return JSONResponse({"version": chosen.version, "latest": made.version, **built.as_dict()})
        sent = history(settings.home, code)
        return render(
            "report.html.j2", request, lang, built=built, report=built.report, made=chosen, latest=made,
            versions=list(reversed(every)), table=table_html(built, lang), table_css=table_css(), sent=list(reversed(sent)),
        )  # fmt: skip

    @pages.get("/reports/{code}/{version}/{name}")
    async def download(code: str, version: int, name: str) -> Response:
        if _public(settings, catalogue, code) is None or name not in FILES:
            raise NotFound("Not found")
        path = folder(settings.home, code) / str(version) / name
        if not path.is_file():
            raise NotFound("Not found")
        return FileResponse(path, media_type=FILES[name], filename=f"{code}-v{version}-{name}")

    return pages
