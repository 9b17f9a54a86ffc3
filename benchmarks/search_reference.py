"""The portal's search before issue 16, kept as the benchmark's yardstick: a substring match of
every query word over the folded text of each package dict, built anew for every request.
(`bench_search.py` serves it beside the real search, over the same catalogue, in the same run.)"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lgsp.portal import ckan
from lgsp.portal.access import OpenCatalogue
from lgsp.portal.ckan import ALWAYS, FACETS, SORTABLE, fold
from lgsp.web.problems import Invalid, Problem


def _facet_values(package: dict[str, Any], field: str) -> list[str]:
    if field == "organization":
        return [package["organization"]["name"]]
    if field == "tags":
        return [t["name"] for t in package["tags"]]
    if field == "res_format":
        return sorted({r["format"] for r in package["resources"]})
    if field == "groups":
        return [g["name"] for g in package["groups"]]
    if field == "license_id":
        return [package["license_id"]]
    if field == "update_frequency":
        return [e["value"] for e in package["extras"] if e["key"] == "update_frequency"]
    if field == "name":
        return [package["name"]]
    raise Invalid({"fq": [f"cannot filter on '{field}' (use one of {', '.join((*FACETS, 'name'))})"]})


_RANGE = re.compile(r"^\[(\S+) TO (\S+)\]$")


def _parse_fq(fq: str) -> list[tuple[str, str, bool]]:
    """`field:value` terms (Solr style, as CKAN clients send them): quoted values, a leading `-`
    to exclude, `+` ignored, and `[from TO to]` ranges on metadata_modified/metadata_created."""
    fq = re.sub(r"\[(\S+) TO (\S+)\]", lambda m: f'"[{m.group(1)} TO {m.group(2)}]"', fq)
    try:
        terms = shlex.split(fq)
    except ValueError as exc:
        raise Invalid({"fq": [f"cannot parse fq: {exc}"]}) from None
    out = []
    for term in terms:
        if term == "*:*":
            continue
        negated = term.startswith("-")
        field, sep, value = term.lstrip("+-").partition(":")
        if not sep:
            raise Invalid({"fq": [f"'{term}' is not field:value"]})
        if (field, value.strip('"').lower()) in ALWAYS:
            continue
        out.append((field, value.strip('"'), negated))
    return out


def _fq_matches(package: dict[str, Any], field: str, value: str, negated: bool) -> bool:
    if field in ("metadata_modified", "metadata_created") and (bounds := _RANGE.match(value)):
        low, high = (b.rstrip("Z") for b in bounds.groups())
        stamp = package[field]
        hit = (low == "*" or stamp >= low) and (high == "*" or stamp <= high)
    else:
        hit = value in _facet_values(package, field)
    return hit != negated


def _sort_key(sort: str) -> list[tuple[str, bool]]:
    keys = []
    for part in [p.strip() for p in sort.split(",") if p.strip()]:
        bits = part.split()
        field, order = bits[0], (bits[1].lower() if len(bits) > 1 else "asc")
        if field not in SORTABLE or order not in ("asc", "desc") or len(bits) > 2:
            raise Invalid({"sort": [f"cannot sort by '{part}'"]})
        keys.append((field, order == "desc"))
    return keys


def search(
    packages: list[dict[str, Any]],
    *,
    q: str = "",
    fq: str = "",
    rows: int = 10,
    start: int = 0,
    sort: str = "score desc, metadata_modified desc",
    facet_fields: list[str] | None = None,
    facet_limit: int = 50,
) -> dict[str, Any]:
    """CKAN package_search over the open packages."""
    tokens = [fold(t) for t in re.split(r"\s+", q.strip()) if t and q.strip() not in ("*:*", "*")]
    matched: list[tuple[int, dict[str, Any]]] = []
    for package in packages:
        text = fold(
            " ".join(
                [package["name"], package["title"], package["notes"], package["organization"]["title"]]
                + [name for former in package["organization"]["former_names"] for name in former.values()]
                + [t["name"] for t in package["tags"]]
                + list(package["title_translated"].values())
            )
        )
        if not all(token in text for token in tokens):
            continue
        if all(_fq_matches(package, field, value, negated) for field, value, negated in _parse_fq(fq)):
            score = sum(text.count(token) for token in tokens)
            matched.append((score, package))
    for field, descending in reversed(_sort_key(sort)):
        if field == "score":
            matched.sort(key=lambda sp: sp[0], reverse=descending)
        else:
            name = {"title_string": "title", "id": "name"}.get(field, field)

            def by_field(scored: tuple[int, dict[str, Any]], name: str = name) -> str:
                return fold(str(scored[1][name]))

            matched.sort(key=by_field, reverse=descending)
    facets: dict[str, dict[str, int]] = {}
    for field in facet_fields or []:
        if field not in FACETS:
            raise Invalid({"facet.field": [f"cannot facet on '{field}' (use one of {', '.join(FACETS)})"]})
        counts: dict[str, int] = {}
        for _, package in matched:
            for value in _facet_values(package, field):
                counts[value] = counts.get(value, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        facets[field] = dict(ranked if facet_limit < 0 else ranked[:facet_limit])
    return {
        "count": len(matched),
        "sort": sort,
        "results": [p for _, p in matched[start : start + rows]],
        "facets": facets,
        "search_facets": {
            field: {
                "title": field,
                "items": [{"name": k, "display_name": k, "count": v} for k, v in values.items()],
            }
            for field, values in facets.items()
        },
    }


def reference_app(settings: Any) -> Any:
    """package_search as it was served: every open package's dict built anew, then matched."""
    catalogue = OpenCatalogue(settings)
    app = FastAPI()

    @app.get("/api/3/action/package_search")
    def package_search(request: Request) -> JSONResponse:
        params = request.query_params
        packages = [ckan.package_dict(e, settings.base_url) for e in catalogue.entries().values()]
        try:
            found = search(
                packages, q=params.get("q", ""), fq=params.get("fq", ""), rows=int(params.get("rows", 10)),
                start=int(params.get("start", 0)), sort=params.get("sort") or "score desc, metadata_modified desc",
                facet_fields=json.loads(params.get("facet.field", "[]")),
            )  # fmt: skip
        except Problem as problem:
            return JSONResponse({"success": False, "error": problem.ckan_error()}, status_code=problem.status)
        return JSONResponse({"success": True, "result": found})

    return app


if __name__ == "__main__":
    import argparse

    import uvicorn

    from lgsp.core.settings import Settings

    parser = argparse.ArgumentParser(description="Serve the reference package_search on loopback.")
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(
        reference_app(Settings.from_env()), host="127.0.0.1", port=parser.parse_args().port, log_level="warning"
    )
