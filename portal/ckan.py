"""CKAN's shapes for open datasets: pure functions from contracts and releases to CKAN dicts, and
the parsing of package_search's fq and sort (the search itself is `lgsp.portal.search`), so
`ckanapi` and harvesters work unchanged."""

from __future__ import annotations

import re
import shlex
from typing import Any

from lgsp.core.text import without_diacritics
from lgsp.portal.access import Entry
from lgsp.publishing.versions import Distribution, Release
from lgsp.web.problems import Invalid

FACETS = ("organization", "tags", "res_format", "groups", "license_id", "classification", "update_frequency")
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


_RANGE = re.compile(r"\[(\S+) TO (\S+)\]")


def parse_fq(fq: str) -> list[tuple[str, str, bool]]:
    """`field:value` terms (Solr style, as CKAN clients send them): quoted values, a leading `-`
    to exclude, `+` ignored, and `[from TO to]` ranges on metadata_modified/metadata_created."""
    fq = _RANGE.sub(lambda m: f'"[{m.group(1)} TO {m.group(2)}]"', fq)
    try:
        terms = shlex.split(fq)
    except ValueError as exc:
        raise Invalid({"fq": [f"không đọc được fq / cannot parse fq: {exc}"]}) from None
    out = []
    for term in terms:
        if term == "*:*":
            continue
        negated = term.startswith("-")
        field, sep, value = term.lstrip("+-").partition(":")
        if not sep:
            raise Invalid({"fq": [f"'{term}' không có dạng trường:giá trị / is not field:value"]})
        if (field, value.strip('"').lower()) in ALWAYS:
            continue
        out.append((field, value.strip('"'), negated))
    return out


def sort_keys(sort: str) -> list[tuple[str, bool]]:
    """CKAN's `sort`: comma-separated `field [asc|desc]` (Solr's syntax), checked."""
    keys = []
    for part in [p.strip() for p in sort.split(",") if p.strip()]:
        bits = part.split()
        field, order = bits[0], (bits[1].lower() if len(bits) > 1 else "asc")
        if field not in SORTABLE or order not in ("asc", "desc") or len(bits) > 2:
            raise Invalid({"sort": [f"không sắp xếp theo '{part}' được / cannot sort by '{part}'"]})
        keys.append((field, order == "desc"))
    return keys
