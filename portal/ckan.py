"""CKAN's shapes for open datasets: pure functions from contracts and releases to CKAN dicts,
plus package search (q, fq, sort, facets) over them, so `ckanapi` and harvesters work unchanged."""

from __future__ import annotations

import re
import shlex
from typing import Any

from lgsp.core.text import without_diacritics
from lgsp.portal.access import Entry
from lgsp.publishing.versions import Distribution, Release
from lgsp.web.problems import Invalid

FACETS = ("organization", "tags", "res_format", "groups", "license_id", "update_frequency")
SORTABLE = {"id", "name", "title", "title_string", "metadata_modified", "metadata_created", "score"}
ALWAYS = {("capacity", "public"), ("dataset_type", "dataset"), ("state", "active"), ("private", "false")}


def fold(text: str) -> str:
    """Lower-case without diacritics, so 'quan trac' finds 'quan trắc' (users type both)."""
    return without_diacritics(text).lower()


def _stamp(release: Release) -> str:
    return release.created_at.isoformat()


def resource_id(release: Release, fmt: str) -> str:
    return f"{release.dataset}-v{release.version}-{fmt}"


def organization_dict(entry: Entry, package_count: int | None = None) -> dict[str, Any]:
    publisher = entry.contract.publisher
    out: dict[str, Any] = {
        "id": publisher.code.lower(),
        "name": publisher.code.lower(),
        "title": publisher.name.vi,
        "title_translated": {"vi": publisher.name.vi, "en": publisher.name.en},
        "display_name": publisher.name.vi,
        "description": f"{publisher.name.vi} / {publisher.name.en}",
        "former_names": [{"vi": f.vi, "en": f.en} for f in publisher.former_names],
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "created": _stamp(entry.releases[0]),
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def resource_dict(entry: Entry, release: Release, d: Distribution, base_url: str, position: int) -> dict[str, Any]:
    return {
        "id": resource_id(release, d.format),
        "package_id": entry.contract.id,
        "name": f"{entry.contract.title.vi} ({d.format.upper()}, v{release.version})",
        "description": f"Phiên bản {release.version} / version {release.version}, {release.rows:,} rows",
        "format": d.format.upper(),
        "mimetype": d.media_type,
        "url": f"{base_url}/releases/{release.dataset}/v{release.version}/{d.file}",
        "size": d.bytes,
        "hash": d.sha256,
        "created": _stamp(release),
        "last_modified": _stamp(release),
        "position": position,
        "state": "active",
        "url_type": None,
        "datastore_active": True,
        "resource_type": None,
    }


def package_dict(entry: Entry, base_url: str) -> dict[str, Any]:
    """A CKAN package (dataset) for an open dataset and its latest release."""
    c, latest = entry.contract, entry.latest
    tags = [*c.keywords.vi, *c.keywords.en]
    resources = [resource_dict(entry, latest, d, base_url, i) for i, d in enumerate(latest.distributions)]
    return {
        "id": c.id,
        "name": c.id,
        "type": "dataset",
        "state": "active",
        "private": False,
        "title": c.title.vi,
        "title_translated": {"vi": c.title.vi, "en": c.title.en},
        "notes": f"{c.description.vi}\n\n{c.description.en}",
        "notes_translated": {"vi": c.description.vi, "en": c.description.en},
        "url": f"{base_url}/dataset/{c.id}",
        "version": str(latest.version),
        "author": c.publisher.name.vi,
        "author_email": c.publisher.email,
        "maintainer": c.publisher.name.vi,
        "maintainer_email": c.publisher.email,
        "license_id": c.licence.id,
        "license_title": c.licence.title,
        "license_url": c.licence.url,
        "owner_org": c.publisher.code.lower(),
        "organization": organization_dict(entry),
        "metadata_created": _stamp(entry.releases[0]),
        "metadata_modified": _stamp(latest),
        "tags": [{"name": t, "display_name": t, "vocabulary_id": None, "state": "active"} for t in tags],
        "num_tags": len(tags),
        "groups": [{"name": t.value.lower(), "title": t.value, "display_name": t.value} for t in c.theme],
        "resources": resources,
        "num_resources": len(resources),
        "extras": [
            {"key": "update_frequency", "value": c.update_frequency.value},
            {"key": "classification", "value": c.classification.value},
            {"key": "releases", "value": ",".join(f"v{r.version}" for r in entry.releases)},
            {"key": "temporal_start", "value": str(latest.temporal_start or "")},
            {"key": "temporal_end", "value": str(latest.temporal_end or "")},
        ],
    }


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
