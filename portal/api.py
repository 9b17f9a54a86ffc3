"""The CKAN Action API v3 (`/api/3/action/<name>`), read-only, over the open catalogue."""

from __future__ import annotations

import json
import threading
from typing import Any

import orjson

from lgsp.core.settings import Settings
from lgsp.portal import ckan, search
from lgsp.portal.access import Entry, OpenCatalogue
from lgsp.portal.datastore import Datastore, RawJSON
from lgsp.portal.more_actions import MoreActions
from lgsp.portal.params import int_param
from lgsp.portal.sql import SqlStore
from lgsp.publishing.stored import local_file
from lgsp.web.problems import Invalid, NotFound, UnknownAction

CKAN_VERSION = "2.10.4"  # the API generation these answers follow


class Actions(MoreActions):
    """One method per supported action; each takes the request's parameters and the public
    address resource URLs start with (the request's, or $LGSP_BASE_URL when it is set)."""

    def __init__(self, settings: Settings, catalogue: OpenCatalogue) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.datastore = Datastore(settings.home / "cache" / "datastore")
        self.sql = SqlStore(self.datastore)
        self._index_lock = threading.Lock()
        self._indexed: dict[str, Entry] | None = None
        self._index = search.Index()
        self._packages_json: dict[tuple[str, str], tuple[Entry, RawJSON]] = {}

    PACKAGES_CACHED = 20_000

    def package_json(self, entry: Entry, base: str) -> RawJSON:
        """package_dict as JSON text, kept per entry (the catalogue makes new entries whenever a
        contract or a release changed) and address: a search answer is then mostly spliced text,
        which is what lets one process answer hundreds of searches a second."""
        key = (entry.contract.id, base)
        cached = self._packages_json.get(key)
        if cached is not None and cached[0] is entry:
            return cached[1]
        if len(self._packages_json) >= self.PACKAGES_CACHED:
            self._packages_json = {}
        found = RawJSON(orjson.dumps(ckan.package_dict(entry, base)).decode())
        self._packages_json[key] = (entry, found)
        return found

    ACTIONS = (
        "status_show", "package_list", "package_show", "package_search", "organization_list",
        "organization_show", "resource_show", "datastore_search", "group_list", "group_show", "tag_list",
        "license_list", "help_show", "current_package_list_with_resources", "datastore_search_sql",
        "package_activity_list",
    )  # fmt: skip

    def dispatch(self, name: str, params: dict[str, Any], base: str | None = None) -> Any:
        if name not in self.ACTIONS:
            raise UnknownAction(f"Action name not known: {name}")
        return getattr(self, name)(params, base or self.settings.base_url)

    def index(self) -> search.Index:
        """The search index of the catalogue as it is now, rebuilt when the catalogue changed
        (OpenCatalogue hands out a new dict then)."""
        entries = self.catalogue.entries()
        with self._index_lock:
            if self._indexed is not entries:
                self._index, self._indexed = search.Index.build(list(entries.values())), entries
            return self._index

    # -- helpers ----------------------------------------------------------------------------------

    def _entry(self, params: dict[str, Any], key: str = "id") -> Entry:
        dataset_id = params.get(key) or params.get("name")
        if not dataset_id:
            raise Invalid({key: ["Thiếu giá trị / Missing value"]})
        entry = self.catalogue.get(str(dataset_id))
        if entry is None:  # unknown and non-open datasets look the same: they do not exist here
            raise NotFound("Không tìm thấy / Not found")
        return entry

    def _packages(self, base: str) -> list[dict[str, Any]]:
        return [ckan.package_dict(e, base) for e in self.catalogue.entries().values()]

    def _orgs(self) -> dict[str, tuple[Entry, int]]:
        orgs: dict[str, tuple[Entry, int]] = {}
        for entry in self.catalogue.entries().values():
            key = entry.contract.publisher.code.lower()
            orgs[key] = (entry, orgs.get(key, (entry, 0))[1] + 1)
        return orgs

    # -- actions ----------------------------------------------------------------------------------

    def status_show(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        return {
            "ckan_version": CKAN_VERSION,
            "site_url": base or self.settings.base_url,
            "site_title": f"Cổng dữ liệu mở tỉnh {self.settings.province}",
            "site_description": f"Open-data portal of {self.settings.province} province",
            "locale_default": "vi",
            "extensions": ["lgsp-hub", "datastore", "dcat"],
        }

    def package_list(self, params: dict[str, Any], base: str | None = None) -> list[str]:
        names = sorted(self.catalogue.entries())
        offset = int_param(params, "offset", 0)
        limit = int_param(params, "limit", len(names)) if params.get("limit") not in (None, "") else len(names)
        return names[offset : offset + limit]

    def package_show(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        return ckan.package_dict(self._entry(params), base or self.settings.base_url)

    def package_search(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        facet_fields = params.get("facet.field") or []
        if isinstance(facet_fields, str):
            try:
                facet_fields = json.loads(facet_fields)
            except (ValueError, RecursionError):
                raise Invalid({"facet.field": ["Không đọc được JSON / Cannot parse JSON"]}) from None
        if not isinstance(facet_fields, list) or not all(isinstance(f, str) for f in facet_fields):
            raise Invalid(
                {
                    "facet.field": [
                        'Cần một danh sách JSON các tên trường / Give a JSON list of field names, e.g. ["organization"]'
                    ]
                }
            )
        rows = int_param(params, "rows", 10, 1000)
        found = search.search(
            self.index(),
            q=str(params.get("q") or ""),
            fq=str(params.get("fq") or ""),
            rows=rows,
            start=int_param(params, "start", 0),
            sort=str(params.get("sort") or "score desc, metadata_modified desc"),
            facet_fields=list(facet_fields),
            facet_limit=-1 if str(params.get("facet.limit", "")) == "-1" else int_param(params, "facet.limit", 50),
        )
        found["results"] = [self.package_json(e, base or self.settings.base_url) for e in found.pop("entries")]
        del found["scores"]
        return found

    def organization_list(self, params: dict[str, Any], base: str | None = None) -> list[Any]:
        orgs = self._orgs()
        if str(params.get("all_fields", "")).lower() in ("true", "1"):
            return [ckan.organization_dict(e, n) for _, (e, n) in sorted(orgs.items())]
        return sorted(orgs)

    def organization_show(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        key = str(params.get("id") or "").lower()
        orgs = self._orgs()
        if not key:
            raise Invalid({"id": ["Thiếu giá trị / Missing value"]})
        if key not in orgs:
            raise NotFound("Không tìm thấy / Not found")
        entry, count = orgs[key]
        out = ckan.organization_dict(entry, count)
        if str(params.get("include_datasets", "")).lower() in ("true", "1"):
            out["packages"] = [p for p in self._packages(base or self.settings.base_url) if p["owner_org"] == key]
        return out

    def _resource(self, resource_id: str) -> tuple[Entry, Any, Any]:
        dataset_id, _, rest = resource_id.rpartition("-v")
        version, _, fmt = rest.partition("-")
        entry = self.catalogue.get(dataset_id)
        release = next((r for r in entry.releases if str(r.version) == version), None) if entry else None
        if entry is None or release is None or fmt not in {d.format for d in release.distributions}:
            raise NotFound("Không tìm thấy tài nguyên / Resource was not found.")
        return entry, release, release.distribution(fmt)

    def resource_show(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        if not params.get("id"):
            raise Invalid({"id": ["Thiếu giá trị / Missing value"]})
        entry, release, distribution = self._resource(str(params["id"]))
        position = [d.format for d in release.distributions].index(distribution.format)
        return ckan.resource_dict(entry, release, distribution, base or self.settings.base_url, position)

    def datastore_search(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        resource = params.get("resource_id") or params.get("id")
        if not resource:
            raise Invalid({"resource_id": ["Thiếu giá trị / Missing value"]})
        entry = self.catalogue.get(str(resource))  # a dataset id means its latest release
        if entry is not None:
            release, resource = entry.latest, ckan.resource_id(entry.latest, "parquet")
        else:
            entry, release, _ = self._resource(str(resource))
        parquet = local_file(self.settings, release, "parquet")
        return self.datastore.search(entry, release, str(parquet), str(resource), params)
