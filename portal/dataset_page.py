"""The parts of a dataset page beyond its metadata: the data dictionary, the preview with its
sorting and filters (plain links and a GET form: no JavaScript), the charts, example calls that
use the address the reader actually reached, and the release history with what each changed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from lgsp.core.settings import Settings
from lgsp.portal import diffs
from lgsp.portal.access import Entry
from lgsp.portal.api import Actions
from lgsp.portal.charts import Charts, ChartSet
from lgsp.portal.i18n import date, datetime, number, texts
from lgsp.portal.svg import bar_chart, line_chart
from lgsp.publishing.stored import local_file
from lgsp.web.problems import BadRequest

PREVIEW_ROWS = 20
STATE = ("q", "col", "val", "sort", "dir", "measure", "chart_for")  # what the page's links carry along


def dictionary(entry: Entry, lang: str) -> list[dict[str, str]]:
    """The public columns only: a column holding personal data is never released nor described."""
    t = texts(lang)
    return [
        {
            "name": c.name,
            "description": getattr(c.description, lang),
            "type": t["types"][c.type.value],
            "unit": c.unit or "",
            "nullable": t["yes"] if c.nullable else t["no"],
        }
        for c in entry.columns
    ]


def preview(actions: Actions, entry: Entry, params: dict[str, str], lang: str) -> dict[str, Any]:
    """A page of rows through `datastore_search`, as an API client would get it."""
    names = [c.name for c in entry.columns]
    state = {k: params[k] for k in STATE if params.get(k)}
    for name in ("sort", "col"):
        if name in state and state[name] not in names:
            raise BadRequest({name: [f'Không có cột "{state[name]}" / field "{state[name]}" not in resource']})
    direction = "desc" if state.get("dir") == "desc" else "asc"
    raw_page = params.get("page", "1")
    page = max(int(raw_page), 1) if raw_page.isdigit() else 1
    query: dict[str, Any] = {"resource_id": entry.contract.id, "limit": PREVIEW_ROWS}
    query["offset"] = (page - 1) * PREVIEW_ROWS
    if state.get("sort"):
        query["sort"] = f"{state['sort']} {direction}"
    if state.get("q"):
        query["q"] = state["q"]
    if state.get("col") and "val" in state:
        query["filters"] = json.dumps({state["col"]: state["val"]})
    found = actions.datastore_search(query)
    records = json.loads(found["records"])
    total = found["total"]

    def url(**change: Any) -> str:
        merged = {"lang": lang, **state, **change}
        return f"/dataset/{entry.contract.id}?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    headers = []
    for name in names:
        current = state.get("sort") == name
        flip = "desc" if current and direction == "asc" else "asc"
        headers.append(
            {
                "name": name,
                "url": url(sort=name, dir=flip, page=None) + "#preview",
                "aria": ("ascending" if direction == "asc" else "descending") if current else "none",
                "arrow": ("▲" if direction == "asc" else "▼") if current else "",
            }
        )
    first = (page - 1) * PREVIEW_ROWS + 1 if records else 0
    return {
        "fields": names,
        "headers": headers,
        "rows": [[cell(r.get(c.name), c.type.value, lang) for c in entry.columns] for r in records],
        "state": state,
        "filtered": any(k in state for k in ("q", "col")),
        "clear_url": url(q=None, col=None, val=None, page=None) + "#preview",
        "total": number(total, lang),
        "first": number(first, lang),
        "last": number(first + len(records) - 1 if records else 0, lang),
        "prev": url(page=page - 1) if page > 1 else None,
        "next": url(page=page + 1) if page * PREVIEW_ROWS < total else None,
    }


def cell(value: Any, column_type: str, lang: str) -> str:
    """A preview cell in the reader's formats (the API keeps ISO dates and plain numbers)."""
    if value is None:
        return ""
    if column_type == "date":
        return date(dt.date.fromisoformat(value), lang)
    if column_type == "timestamp":
        return datetime(dt.datetime.fromisoformat(value), lang)
    if column_type in ("integer", "number") and isinstance(value, int | float):
        return number(value, lang)
    return str(value)


def charts(
    settings: Settings, builder: Charts, entry: Entry, params: dict[str, str], lang: str
) -> tuple[ChartSet, list[dict[str, str]]]:
    """The charts of the latest release (its Parquet file, not the warehouse), as SVG."""
    t, latest = texts(lang), entry.latest
    parquet = local_file(settings, latest, "parquet")
    found = builder.build(entry.contract, entry.columns, str(parquet), latest.distribution("parquet").sha256, params)
    drawn = []
    for chart in found.charts:
        measure = f"{getattr(chart.measure.description, lang)} ({t['agg_' + chart.aggregate]})"
        axis = getattr(chart.axis.description, lang).lower()
        if chart.kind == "time":
            title = t["chart_time"].format(measure=measure, time=axis)
            svg = line_chart(title, chart.points, lang)
        else:
            title = t["chart_bars"].format(measure=measure, category=axis)
            svg = bar_chart(title, chart.points, lang)
        if found.facet is not None:
            title += " · " + t["chart_for"].format(
                column=getattr(found.facet.description, lang).lower(), value=found.facet_value
            )
        drawn.append({"kind": chart.kind, "title": title, "svg": svg})
    return found, drawn


def examples(base_url: str, entry: Entry) -> dict[str, str]:
    """Calls a reader can paste, against this very server."""
    dataset = entry.contract.id
    csv = next(d.file for d in entry.latest.distributions if d.format == "csv")
    parquet = entry.latest.distribution("parquet").file
    return {
        "curl": f"curl '{base_url}/api/3/action/datastore_search?resource_id={dataset}&limit=5'",
        "ckanapi": (
            "from ckanapi import RemoteCKAN\n\n"
            f"portal = RemoteCKAN({base_url!r})\n"
            f"result = portal.action.datastore_search(resource_id={dataset!r}, limit=5)\n"
            'print(result["total"], result["records"])'
        ),
        "pandas": (
            f"import pandas as pd\n\ndf = pd.read_csv({f'{base_url}/releases/{dataset}/latest/{csv}'!r})\nprint(df.head())"
        ),
        "duckdb": (
            "import duckdb\n\n"
            "duckdb.sql('INSTALL httpfs; LOAD httpfs')  # once per machine, then offline\n"
            f"print(duckdb.sql(\"SELECT * FROM '{base_url}/releases/{dataset}/latest/{parquet}' LIMIT 5\"))"
        ),
    }


def diff_text(diff: diffs.Diff | None, lang: str) -> str:
    t = texts(lang)
    if diff is None:
        return str(t["not_compared"])
    if diff.against is None:
        return t["first_release"]
    parts = [
        t["added"].format(n=number(diff.added, lang)),
        t["removed"].format(n=number(diff.removed, lang)),
        t["changed"].format(n=number(diff.changed, lang)),
    ]
    if diff.columns_changed:
        parts.append(t["columns_changed"])
    return ", ".join(parts)


def history(settings: Settings, entry: Entry, lang: str) -> list[dict[str, Any]]:
    changes = diffs.history(settings, entry)
    base = f"/releases/{entry.contract.id}"
    return [
        {
            "version": r.version,
            "created": date(r.created_at, lang),
            "rows": number(r.rows, lang),
            "diff": changes[r.version],
            "diff_text": diff_text(changes[r.version], lang),
            "files": [{"format": d.format.upper(), "url": f"{base}/v{r.version}/{d.file}"} for d in r.distributions],
        }
        for r in reversed(entry.releases)
    ]
