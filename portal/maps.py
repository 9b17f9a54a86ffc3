"""Which map a dataset page gets, read from the contracts' column roles and the latest releases.

A dataset with a `latitude` and a `longitude` column is drawn as its own points (coloured by a
text column of a few values, such as a station's kind). A dataset without coordinates whose
column `references` such a dataset (the readings' station codes, the stations' catalogue) is drawn
at the referenced points, each with the mean of the measure the charts show, for the value the
charts are kept to (one parameter), against the `limit` column when there is one. Rows the hub
quarantined (a station with swapped coordinates) are in no release, so they are on no map. Both
releases are read from their Parquet files with DuckDB, as the charts are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lgsp.core.duck import literal, quote
from lgsp.core.settings import Settings
from lgsp.portal.access import Entry, OpenCatalogue
from lgsp.portal.charts import ChartSet, ReleaseQueries
from lgsp.portal.i18n import number, texts
from lgsp.portal.svg_map import Mark, point_map
from lgsp.publishing.stored import local_file
from lgsp.schemas.contract import Column, ColumnRole, ColumnType

MAX_KINDS = 6  # a text column with more distinct values does not colour the points
ABOVE, WITHIN, NO_VALUE, PLAIN = "#c0392b", "#1e8449", "#9a9a9a", "#0b4f8a"
KIND_COLOURS = ("#0b4f8a", "#d35400", "#16a085", "#8e44ad", "#b7950b", "#5d6d7e")


@dataclass(frozen=True)
class Place:
    key: str
    label: str
    lat: float
    lon: float
    kind: str | None = None
    value: float | None = None
    limit: float | None = None
    readings: int = 0
    unit: str | None = None
    minimum: bool = False  # the limit is one to stay above (dissolved oxygen), not below


@dataclass(frozen=True)
class Located:
    """Where a dataset's points come from: `points` holds the coordinates, its column `key` the
    values that `via` (a column of the page's dataset) references; `via` is None for its own points."""

    points: Entry
    key: Column
    via: Column | None


def _has_coordinates(entry: Entry) -> bool:
    public = {c.name for c in entry.columns}
    roles = [entry.contract.with_role(r) for r in (ColumnRole.latitude, ColumnRole.longitude)]
    return all(c is not None and c.name in public for c in roles)


def located(catalogue: OpenCatalogue, entry: Entry) -> Located | None:
    """The dataset's own coordinates, else those of the first open dataset a column references."""
    if _has_coordinates(entry):
        return Located(entry, entry.contract.column(entry.contract.primary_key[0]), None)
    for column in entry.columns:
        ref = column.references
        target = catalogue.get(ref.dataset) if ref else None
        if ref and target and _has_coordinates(target) and ref.column in {c.name for c in target.columns}:
            return Located(target, target.contract.column(ref.column), column)
    return None


def _role(entry: Entry, role: ColumnRole) -> str | None:
    column = entry.contract.with_role(role)
    return column.name if column is not None and column in entry.columns else None


class Maps(ReleaseQueries[list[Place]]):
    """Finds the places of a map in the releases' Parquet files."""

    def places(self, settings: Settings, found: Located, entry: Entry, chosen: ChartSet) -> list[Place]:
        stamp = tuple(e.latest.distribution("parquet").sha256 for e in (found.points, entry))
        key = (entry.contract.id, stamp, chosen.measure.name if chosen.measure else "", chosen.facet_value)
        return self._cached(key, lambda: self._places(settings, found, entry, chosen))

    def _places(self, settings: Settings, found: Located, entry: Entry, chosen: ChartSet) -> list[Place]:
        points = found.points
        lat, lon = _role(points, ColumnRole.latitude), _role(points, ColumnRole.longitude)
        label = _role(points, ColumnRole.label) or found.key.name
        source = f"read_parquet({literal(str(local_file(settings, points.latest, 'parquet')))})"
        where = f"{quote(str(lat))} IS NOT NULL AND {quote(str(lon))} IS NOT NULL"
        head = f"CAST(s.{quote(found.key.name)} AS VARCHAR), CAST(s.{quote(label)} AS VARCHAR), s.{quote(str(lat))}, s.{quote(str(lon))}"
        if found.via is None:
            kind = self._kind(source, points, {found.key.name, label})
            rows = self._query(
                f"SELECT {head}, {f'CAST(s.{quote(kind)} AS VARCHAR)' if kind else 'NULL'} "
                f"FROM {source} s WHERE {where} ORDER BY 1"
            )
            return [Place(str(k), str(n), float(a), float(o), kind=c) for k, n, a, o, c in rows]
        readings = f"read_parquet({literal(str(local_file(settings, entry.latest, 'parquet')))})"
        args: list[Any] = []
        keep = "TRUE"
        if chosen.facet is not None and chosen.facet_value is not None:
            keep, args = f"CAST({quote(chosen.facet.name)} AS VARCHAR) = $1", [chosen.facet_value]
        measure = quote(chosen.measure.name) if chosen.measure else "NULL"
        limit = _role(entry, ColumnRole.limit)
        limit_column = entry.contract.with_role(ColumnRole.limit)
        rule = limit_column.minimum_when if limit_column is not None else None
        if rule is not None and any(c.name == rule.column for c in entry.columns):
            listed = ", ".join(literal(v) for v in rule.values)
            floor = f"CASE WHEN {keep} THEN CAST({quote(rule.column)} AS VARCHAR) IN ({listed}) END"
            # 1: every kept row's limit is a minimum, 0: none is, NULL: both (no single limit to draw)
            minimum = f"CASE WHEN bool_and({floor}) THEN 1 WHEN NOT bool_or({floor}) THEN 0 END"
        else:
            minimum = "0"
        unit = "unit" if any(c.name == "unit" and c.type is ColumnType.string for c in entry.columns) else None
        rows = self._query(
            f"WITH r AS (SELECT CAST({quote(found.via.name)} AS VARCHAR) AS k, "
            f"avg(CASE WHEN {keep} THEN {measure} END) AS v, "
            f"avg(CASE WHEN {keep} THEN {quote(limit) if limit else 'NULL'} END) AS lim, "
            f"count(CASE WHEN {keep} AND {measure} IS NOT NULL THEN 1 END) AS n, "
            f"any_value(CASE WHEN {keep} THEN {quote(unit) if unit else 'NULL'} END) AS u, "
            f"{minimum} AS mn FROM {readings} GROUP BY k) "
            f"SELECT {head}, r.v, CASE WHEN r.mn IS NOT NULL THEN r.lim END, r.n, r.u, coalesce(r.mn, 0) FROM {source} s JOIN r ON CAST(s.{quote(found.key.name)} AS VARCHAR) = r.k "
            f"WHERE {where} ORDER BY 1",
            args,
        )
        return [
            Place(str(k), str(n), float(a), float(o), None, v, lim, int(c), u, mn == 1)
            for k, n, a, o, v, lim, c, u, mn in rows
        ]

    def _kind(self, source: str, points: Entry, skip: set[str]) -> str | None:
        """The first text column (not the key nor the label) with between 2 and MAX_KINDS values,
        a column whose values the contract labels first (a code list: the station's kind)."""
        candidates = [c for c in points.columns if c.type is ColumnType.string and c.name not in skip]
        texts_ = [c.name for c in sorted(candidates, key=lambda c: not c.labels)]
        if not texts_:
            return None
        counts = self._query(f"SELECT {', '.join(f'count(DISTINCT {quote(n)})' for n in texts_)} FROM {source}")[0]
        return next((n for n, c in zip(texts_, counts, strict=True) if 2 <= c <= MAX_KINDS), None)


def station_map(
    settings: Settings, maps: Maps, catalogue: OpenCatalogue, entry: Entry, chosen: ChartSet, lang: str
) -> dict[str, Any] | None:
    """The page's map as SVG with its caption, or None when the dataset has no places to draw."""
    found = located(catalogue, entry)
    if found is None:
        return None
    places = maps.places(settings, found, entry, chosen)
    if not places:
        return None
    t = texts(lang)
    if found.via is None:
        kinds = sorted({p.kind for p in places if p.kind is not None})
        colour = {k: KIND_COLOURS[i % len(KIND_COLOURS)] for i, k in enumerate(kinds)}
        labelled = [c for c in found.points.columns if c.labels and c.type is ColumnType.string]
        # the column _kind chose, when the contract labels its values (labelled columns come first)
        words = {k: getattr(labelled[0].labels[k], lang) for k in kinds if labelled and k in labelled[0].labels}
        marks = [
            Mark(
                p.key,
                p.lat,
                p.lon,
                colour.get(p.kind or "", PLAIN),
                f"{p.label} ({p.key})" + (f" · {words.get(p.kind, p.kind)}" if p.kind else ""),
            )
            for p in places
        ]
        legend = [(colour[k], words.get(k, k)) for k in kinds] or [(PLAIN, t["map_place"])]
        title = t["map_places"].format(n=number(len(places), lang))
        return {"title": title, "svg": point_map(title, marks, legend, lang), "source": None}
    measure = getattr(chosen.measure.description, lang) if chosen.measure else ""
    marks = [Mark(p.key, p.lat, p.lon, _colour(p), _tip(p, lang)) for p in places]
    legend = [(ABOVE, t["map_above"]), (WITHIN, t["map_within"])] if any(p.limit is not None for p in places) else []
    legend = legend or [(PLAIN, t["map_mean"])]
    legend.append((NO_VALUE, t["map_no_value"].capitalize()))
    title = t["map_values"].format(measure=measure, n=number(len(places), lang))
    if chosen.facet is not None:
        title += " · " + t["chart_for"].format(
            column=getattr(chosen.facet.description, lang).lower(), value=chosen.facet_value
        )
    return {
        "title": title,
        "svg": point_map(title, marks, legend, lang),
        "source": found.points.contract.id,
        "source_title": getattr(found.points.contract.title, lang),
    }


def _colour(p: Place) -> str:
    if p.value is None:
        return NO_VALUE
    if p.limit is None:
        return PLAIN
    broken = p.value < p.limit if p.minimum else p.value > p.limit
    return ABOVE if broken else WITHIN


def _tip(p: Place, lang: str) -> str:
    t = texts(lang)
    if p.value is None:
        return f"{p.label} ({p.key}): {t['map_no_value']}"
    unit = f" {p.unit}" if p.unit and p.unit != "-" else ""
    words = f"{p.label} ({p.key}): {t['map_mean']} {number(p.value, lang)}{unit}"
    if p.limit is not None:
        words += f" · {t['map_limit_min' if p.minimum else 'map_limit']} {number(p.limit, lang)}{unit}"
    return words + " · " + t["map_readings"].format(n=number(p.readings, lang))
