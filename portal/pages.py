"""The portal's HTML pages (Jinja2, server-rendered, no external assets), each with a JSON twin:
the home page with search and facets, dataset pages, publisher pages, validation reports (the
indicator reports' pages are in `lgsp.portal.reports`)."""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from lgsp.core.settings import Settings
from lgsp.portal import dataset_page as view
from lgsp.portal.access import Entry, OpenCatalogue
from lgsp.portal.api import Actions
from lgsp.portal.charts import Charts
from lgsp.portal.feeds import router as feeds_router
from lgsp.portal.i18n import date, datetime, number, size, texts
from lgsp.portal.maps import Maps, station_map
from lgsp.publishing.compliance import check
from lgsp.publishing.dcat import THEME_LABELS
from lgsp.publishing.versions import RunQuality
from lgsp.validation.report import Report, report_stem
from lgsp.web.forwarded import public_base
from lgsp.web.problems import NotFound

HOME_ROWS = 20
FACETS = [
    ("publisher", "organization"),
    ("theme", "groups"),
    ("format", "res_format"),
    ("licence", "license_id"),
    ("classification", "classification"),
    ("frequency", "update_frequency"),
]
SORTS = {
    "relevance": "score desc, metadata_modified desc",
    "newest": "metadata_modified desc",
    "name": "title_string asc",
}
_env = Environment(loader=PackageLoader("lgsp.portal", "templates"), autoescape=select_autoescape(["html", "j2"]))
_env.filters.update(number=number, date=date, datetime=datetime)  # {{ value | date(lang) }}: the reader's formats


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "vi"


def _switch(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = "en" if lang == "vi" else "vi"
    return f"{request.url.path}?{urlencode(params)}"


def render(template: str, request: Request, lang: str, **context: Any) -> HTMLResponse:
    """A portal page: the template with the language, its words and the switch to the other."""
    page = _env.get_template(template).render(lang=lang, t=texts(lang), switch_url=_switch(request, lang), **context)
    return HTMLResponse(page)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The page a browser gets for an error: its status in words (vi, or en with ?lang=en) and
    the message, which names what was wrong in both languages."""
    lang = _lang(request)
    words = texts(lang)
    heading = words.get(f"error_{status}") or words["error_500" if status >= 500 else "error_400"]
    page = render("error.html.j2", request, lang, heading=heading, status=status, message=message)
    page.status_code = status
    return page


def router(settings: Settings, catalogue: OpenCatalogue, actions: Actions) -> APIRouter:
    pages = APIRouter()
    chart_builder, map_builder = Charts(), Maps()

    @pages.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        lang = _lang(request)
        params = request.query_params
        twin = params.get("format") == "json"  # the page's JSON twin, not the JSON format facet (JSON)
        chosen = {name: params[name] for name, _ in FACETS if params.get(name) and not (twin and name == "format")}
        active = list(chosen.items())
        fq = " ".join(f"{field}:{shlex.quote(chosen[name])}" for name, field in FACETS if name in chosen)
        q = params.get("q", "")
        chosen_order = params.get("sort", "") if params.get("sort") in SORTS else ""
        order = chosen_order or ("relevance" if q.strip() else "newest")  # relevance needs words to rank by
        raw_page = params.get("page", "1")
        page = max(int(raw_page), 1) if raw_page.isdigit() and len(raw_page) < 6 else 1
        found = actions.package_search(
            {"q": q, "fq": fq, "rows": HOME_ROWS, "start": (page - 1) * HOME_ROWS, "sort": SORTS[order],
             "facet.field": [f for _, f in FACETS]},
            public_base(request, settings),
        )  # fmt: skip
        found["results"] = [json.loads(p) for p in found["results"]]  # JSON text kept for the API
        if twin:
            return JSONResponse(found)
        publishers = {
            e.contract.publisher.code.lower(): getattr(e.contract.publisher.name, lang)
            for e in catalogue.entries().values()
        }
        facets = []
        for name, field in FACETS:
            items = []
            for value, count in found["facets"][field].items():
                chosen = params.get(name) == value
                query = {k: v for k, v in params.items() if k not in (name, "page")}
                if not chosen:
                    query[name] = value
                label = _facet_label(name, value, lang, publishers)
                items.append({"label": label, "count": count, "active": chosen, "url": "/?" + urlencode(query)})
            facets.append({"title": texts(lang)[name], "items": items})
        results = []
        for p in found["results"]:
            p = dict(p)
            p["frequency"] = next(e["value"] for e in p["extras"] if e["key"] == "update_frequency")
            p["formats"] = ", ".join(r["format"] for r in p["resources"])
            results.append(p)

        def page_url(n: int) -> str:
            return "/?" + urlencode({**{k: v for k, v in params.items() if k != "page"}, "page": n})

        return render(
            "index.html.j2",
            request,
            lang,
            q=q,
            facets=facets,
            results=results,
            count=f"{found['count']:,}".replace(",", "."),
            active=active,
            order=chosen_order,
            prev=page_url(page - 1) if page > 1 else None,
            next=page_url(page + 1) if page * HOME_ROWS < found["count"] else None,
        )

    @pages.get("/dataset/{dataset_id}.json")
    async def dataset_json(dataset_id: str, request: Request) -> JSONResponse:
        return JSONResponse(actions.package_show({"id": dataset_id}, public_base(request, settings)))

    @pages.get("/dataset/{dataset_id}", response_class=HTMLResponse)
    async def dataset(dataset_id: str, request: Request) -> Response:
        lang = _lang(request)
        entry = catalogue.get(dataset_id)
        if entry is None:
            raise NotFound("Không tìm thấy / Not found")
        params = dict(request.query_params)
        base_url = public_base(request, settings)

        def build() -> dict[str, Any]:  # DuckDB work: in the thread pool, never on the event loop
            chosen, charts = view.charts(settings, chart_builder, entry, params, lang)
            return {
                "preview": view.preview(actions, entry, params, lang),
                "chart_set": chosen,
                "charts": charts,
                "station_map": station_map(settings, map_builder, catalogue, entry, chosen, lang),
                "history": view.history(settings, entry, lang),
            }

        parts = await run_in_threadpool(build)
        return render(
            "dataset.html.j2",
            request,
            lang,
            c=_describe(settings, entry, lang),
            schema_org=json.dumps(schema_org(settings, entry, base_url), ensure_ascii=False).replace("</", "<\\/"),
            dictionary=view.dictionary(entry, lang),
            examples=view.examples(base_url, entry),
            feed_url=f"/dataset/{dataset_id}/feed.atom?lang={lang}",
            **parts,
        )

    @pages.get("/publisher/{code}", response_class=HTMLResponse)
    async def publisher(code: str, request: Request) -> Response:
        lang = _lang(request)
        org = actions.organization_show({"id": code, "include_datasets": "true"})
        if request.query_params.get("format") == "json":
            return JSONResponse(org)
        name, former = org["title_translated"][lang], [f[lang] for f in org["former_names"]]
        feed_url = f"/publisher/{code.lower()}/feed.atom?lang={lang}"
        packages = org["packages"]
        return render(
            "publisher.html.j2", request, lang, name=name, former=former, packages=packages, feed_url=feed_url
        )

    @pages.get("/reports/{dataset_id}/{stem}.html")
    async def report(dataset_id: str, stem: str) -> Response:
        entry = catalogue.get(dataset_id)  # reports of open datasets only
        if entry is None or stem not in {report_stem(r.run_id) for r in entry.releases}:
            raise NotFound("Không tìm thấy / Not found")
        path = settings.reports_dir / dataset_id / f"{stem}.html"
        if not path.exists():
            raise NotFound("Không tìm thấy / Not found")
        return FileResponse(path, media_type="text/html; charset=utf-8")

    pages.include_router(feeds_router(settings, catalogue))
    return pages


def _facet_label(name: str, value: str, lang: str, publishers: dict[str, str]) -> str:
    if name == "classification":
        return str(texts(lang)["classifications"].get(value, value))
    if name == "frequency":
        return str(texts(lang)["frequencies"].get(value, value))
    if name == "publisher":
        return publishers.get(value, value.upper())
    if name == "theme" and value.upper() in THEME_LABELS:
        return THEME_LABELS[value.upper()][0 if lang == "vi" else 1]
    return value


def _quality(settings: Settings, entry: Entry, lang: str) -> tuple[str, bool, str | None]:
    """The quality badge of the latest release: what the run whose rows it holds found (text, ok,
    link to that run's report)."""
    latest, t = entry.latest, texts(lang)
    stem = report_stem(latest.run_id)
    folder = settings.reports_dir / entry.contract.id
    url = f"/reports/{entry.contract.id}/{stem}.html" if (folder / f"{stem}.html").exists() else None
    q, published = latest.quality, None
    if q is not None:
        published = q.rows_published
    elif (folder / f"{stem}.json").exists():  # a release made before releases recorded their run: its report
        report = Report.model_validate_json((folder / f"{stem}.json").read_text(encoding="utf-8"))
        q = RunQuality(
            status="published",
            rows_published=0,  # not in the report: left out
            rows_quarantined=report.rows_quarantined,
            rows_warned=report.rows_warned,
            checks=len(report.checks),
            checks_passed=sum(c.success for c in report.checks),
        )
    if q is None:
        return t["no_report"], False, url
    parts = [] if published is None else [t["q_published"].format(n=number(published, lang))]
    parts += [
        t["q_quarantined"].format(n=number(q.rows_quarantined, lang)),
        t["q_warned"].format(n=number(q.rows_warned, lang)),
    ]
    if q.rows_rejected:
        parts.append(t["q_rejected"].format(n=number(q.rows_rejected, lang)))
    if q.checks is not None:
        parts.append(t["q_checks"].format(passed=q.checks_passed, total=q.checks))
    return " · ".join(parts), q.rows_quarantined == 0 and q.rows_rejected == 0, url


def _describe(settings: Settings, entry: Entry, lang: str) -> dict[str, Any]:
    c, latest = entry.contract, entry.latest
    verdict = check(c, latest.created_at)
    quality, quality_ok, report_url = _quality(settings, entry, lang)
    base = f"/releases/{c.id}"
    return {
        "title": {"vi": c.title.vi, "en": c.title.en},
        "description": {"vi": c.description.vi, "en": c.description.en},
        "publisher": {"vi": c.publisher.name.vi, "en": c.publisher.name.en},
        "publisher_code": c.publisher.code.lower(),
        "publisher_former": [getattr(f, lang) for f in c.publisher.former_names],
        "licence": c.licence.title,
        "licence_url": c.licence.url,
        "frequency": c.update_frequency.value,
        "updated": f"{datetime(latest.created_at, lang)} UTC",
        "compliance": verdict.label(lang),
        "compliant": verdict.ok,
        "quality": quality,
        "quality_ok": quality_ok,
        "report_url": report_url,
        "derived_from": [  # a derived dataset's released inputs, as this release read them
            {"dataset": d.dataset, "version": d.version, "url": f"/dataset/{d.dataset}?lang={lang}"}
            for d in latest.derived_from or []
            if d.version is not None
        ],
        "distributions": [
            {
                "format": d.format.upper(),
                "url": f"{base}/v{latest.version}/{d.file}",
                "size": size(d.bytes, lang),
                "sha256": d.sha256,
            }
            for d in latest.distributions
        ],
    }


def schema_org(settings: Settings, entry: Entry, base_url: str) -> dict[str, Any]:
    """schema.org Dataset JSON-LD, what search engines read, with links at `base_url`."""
    c, latest = entry.contract, entry.latest
    out: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": c.title.vi,
        "alternateName": c.title.en,
        "description": f"{c.description.vi} {c.description.en}",
        "url": f"{base_url}/dataset/{c.id}",
        "identifier": c.id,
        "inLanguage": ["vi", "en"],
        "keywords": [*c.keywords.vi, *c.keywords.en],
        "license": c.licence.url,
        "isAccessibleForFree": True,
        "version": str(latest.version),
        "datePublished": entry.releases[0].created_at.date().isoformat(),
        "dateModified": latest.created_at.isoformat(),
        "creator": {
            "@type": "GovernmentOrganization",
            "name": c.publisher.name.vi,
            "alternateName": [c.publisher.name.en, *(n for f in c.publisher.former_names for n in (f.vi, f.en))],
        },
        "spatialCoverage": {"@type": "Place", "name": f"Tỉnh {settings.province}"},
        "distribution": [
            {
                "@type": "DataDownload",
                "encodingFormat": d.media_type,
                "contentUrl": f"{base_url}/releases/{c.id}/v{latest.version}/{d.file}",
                "contentSize": f"{d.bytes} B",
            }
            for d in latest.distributions
        ],
    }
    if latest.temporal_start and latest.temporal_end:
        out["temporalCoverage"] = f"{latest.temporal_start}/{latest.temporal_end}"
    return out
