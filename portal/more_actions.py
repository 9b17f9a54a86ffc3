"""The CKAN actions harvesters and clients call besides search: groups (our DCAT-AP themes),
tags, licences, help, the full package list with resources, read-only SQL and the release history
as CKAN activities. A mixin of `lgsp.portal.api.Actions`, in CKAN's shapes (ckan/logic/action/get.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lgsp.core.text import without_diacritics
from lgsp.portal import ckan
from lgsp.portal.access import Entry, OpenCatalogue
from lgsp.portal.params import int_param
from lgsp.publishing.dcat import THEME_LABELS
from lgsp.publishing.stored import local_file
from lgsp.publishing.versions import Release
from lgsp.web.problems import Invalid, NotFound

if TYPE_CHECKING:
    from lgsp.core.settings import Settings
    from lgsp.portal.sql import SqlStore

HELP = {
    "status_show": "Phiên bản và thông tin cổng. / The portal's version and site information.",
    "package_list": "Mã các bộ dữ liệu mở (limit, offset). / Ids of the open datasets (limit, offset).",
    "package_show": "Một bộ dữ liệu và các tài nguyên (id). / One dataset and its resources (id).",
    "package_search": "Tìm kiếm có xếp hạng BM25 (q, fq, facet.field, sort, rows, start). / "
    "Ranked (BM25) search (q, fq, facet.field, sort, rows, start).",
    "organization_list": "Các cơ quan công bố (all_fields). / Publishers (all_fields).",
    "organization_show": "Một cơ quan công bố (id, include_datasets). / One publisher (id, include_datasets).",
    "group_list": "Các chủ đề DCAT-AP như nhóm CKAN (all_fields, sort, limit, offset). / "
    "DCAT-AP themes as CKAN groups (all_fields, sort, limit, offset).",
    "group_show": "Một chủ đề (id, include_datasets). / One theme (id, include_datasets).",
    "tag_list": "Các từ khóa (query, all_fields). / Keywords (query, all_fields).",
    "license_list": "Các giấy phép đang dùng. / The licences in use.",
    "help_show": "Mô tả một action (name). / What an action does (name).",
    "current_package_list_with_resources": "Các bộ dữ liệu mới cập nhật nhất trước (limit, offset). / "
    "Datasets, most recently updated first (limit, offset).",
    "resource_show": "Một tài nguyên (id). / One resource (id).",
    "datastore_search": "Dữ liệu của một phiên bản (resource_id, filters, q, fields, sort, limit, offset). / "
    "A release's rows (resource_id, filters, q, fields, sort, limit, offset).",
    "datastore_search_sql": "Một câu SELECT chỉ đọc trên phiên bản mới nhất của các bộ dữ liệu mở (sql). / "
    "One read-only SELECT over the open datasets' latest releases (sql).",
    "package_activity_list": "Lịch sử phát hành như hoạt động CKAN (id, limit, offset). / "
    "Release history as CKAN activities (id, limit, offset).",
}


def _true(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "")).lower() in ("true", "1", "yes")


class MoreActions:
    settings: Settings
    catalogue: OpenCatalogue
    sql: SqlStore

    def _entry(self, params: dict[str, Any], key: str = "id") -> Entry:
        raise NotImplementedError

    def _groups(self) -> dict[str, list[Entry]]:
        groups: dict[str, list[Entry]] = {}
        for entry in self.catalogue.entries().values():
            for theme in entry.contract.theme:
                groups.setdefault(theme.value.lower(), []).append(entry)
        return groups

    @staticmethod
    def _group_dict(name: str, entries: list[Entry]) -> dict[str, Any]:
        vi, en = THEME_LABELS.get(name.upper(), (name, name))
        return {
            "id": name, "name": name, "title": vi, "display_name": vi, "title_translated": {"vi": vi, "en": en},
            "description": f"{vi} / {en} (DCAT-AP data theme {name.upper()})", "type": "group",
            "is_organization": False, "state": "active", "approval_status": "approved", "image_url": "",
            "created": min(e.releases[0].created_at for e in entries).isoformat(), "package_count": len(entries),
        }  # fmt: skip

    def group_list(self, params: dict[str, Any], base: str) -> list[Any]:
        groups = self._groups()
        sort = str(params.get("sort") or "title asc").split()
        if sort[0] not in ("name", "title", "package_count") or sort[-1] not in ("asc", "desc", sort[0]):
            raise Invalid(
                {
                    "sort": [
                        f"không sắp xếp theo '{' '.join(sort)}' được (name, title, package_count) / cannot sort by '{' '.join(sort)}' (name, title or package_count)"
                    ]
                }
            )
        dicts = [self._group_dict(n, e) for n, e in groups.items()]
        dicts.sort(key=lambda g: g[sort[0]], reverse=sort[-1] == "desc")
        offset = int_param(params, "offset", 0)
        dicts = dicts[offset : offset + int_param(params, "limit", 1000, 1000)]
        return dicts if _true(params, "all_fields") else [g["name"] for g in dicts]

    def group_show(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        key = str(params.get("id") or "").lower()
        if not key:
            raise Invalid({"id": ["Thiếu giá trị / Missing value"]})
        groups = self._groups()
        if key not in groups:
            raise NotFound("Không tìm thấy nhóm / Group not found")
        out = self._group_dict(key, groups[key])
        if _true(params, "include_datasets"):
            out["packages"] = [ckan.package_dict(e, base) for e in groups[key]]
        return out

    def tag_list(self, params: dict[str, Any], base: str) -> list[Any]:
        if params.get("vocabulary_id"):
            raise NotFound("Không tìm thấy bộ từ vựng / Vocabulary not found")  # our keywords are free tags
        tags = sorted(
            {t for e in self.catalogue.entries().values() for t in (*e.contract.keywords.vi, *e.contract.keywords.en)}
        )
        if query := without_diacritics(str(params.get("query") or params.get("q") or "")).lower():
            tags = [t for t in tags if query in without_diacritics(t).lower()]
        if _true(params, "all_fields"):
            return [{"id": t, "name": t, "vocabulary_id": None} for t in tags]
        return tags

    def license_list(self, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
        licences = {e.contract.licence.id: e.contract.licence for e in self.catalogue.entries().values()}
        return [
            {"id": lic.id, "title": lic.title, "url": lic.url, "status": "active", "maintainer": "", "family": "",
             "domain_content": True, "domain_data": True, "domain_software": False, "is_generic": False,
             "od_conformance": "approved" if lic.id.upper().startswith(("CC", "ODC", "OGL")) else "not reviewed",
             "osd_conformance": "not reviewed"}
            for lic in sorted(licences.values(), key=lambda lic: lic.id)
        ]  # fmt: skip

    def help_show(self, params: dict[str, Any], base: str) -> str:
        name = str(params.get("name") or "")
        if not name:
            raise Invalid({"name": ["Thiếu giá trị / Missing value"]})
        if name not in HELP:
            raise NotFound(f"Action function not found: {name}")
        return HELP[name]

    def current_package_list_with_resources(self, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
        limit = int_param(params, "limit", 1000, 1000)
        page = int_param(params, "page", 0)
        offset = (page - 1) * limit if page else int_param(params, "offset", 0)
        entries = sorted(self.catalogue.entries().values(), key=lambda e: e.latest.created_at, reverse=True)
        return [ckan.package_dict(e, base) for e in entries[offset : offset + limit]]

    def package_activity_list(self, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
        entry = self._entry(params)
        limit, offset = int_param(params, "limit", 31, 100), int_param(params, "offset", 0)
        activities = []
        for release in reversed(entry.releases):
            activities.append({
                "id": f"{entry.contract.id}-v{release.version}", "timestamp": release.created_at.isoformat(),
                "user_id": entry.contract.publisher.code.lower(), "object_id": entry.contract.id,
                "activity_type": "new package" if release.version == entry.releases[0].version else "changed package",
                "data": {"package": {"id": entry.contract.id, "name": entry.contract.id, "title": entry.contract.title.vi,
                                     "version": str(release.version), "num_rows": release.rows,
                                     "resources": [ckan.resource_dict(entry, release, d, base, i)
                                                   for i, d in enumerate(release.distributions)]}},
            })  # fmt: skip
        return activities[offset : offset + limit]

    def datastore_search_sql(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        sql = params.get("sql")
        if not sql or not isinstance(sql, str):
            raise Invalid({"sql": ["Thiếu giá trị / Missing value"]})
        names = {}
        for entry in self.catalogue.entries().values():
            names[entry.contract.id] = names[ckan.resource_id(entry.latest, "parquet")] = entry.latest
        return self.sql.run(sql, LatestTables(self.settings, names))


class LatestTables(Mapping[str, tuple[Release, str]]):
    """The open tables by name, each resolved to its Parquet file only when the SQL names it: a
    replica fetches from the release store the tables a query reads, not every dataset's."""

    def __init__(self, settings: Settings, releases: dict[str, Release]) -> None:
        self.settings, self.releases = settings, releases

    def __getitem__(self, name: str) -> tuple[Release, str]:
        release = self.releases[name]
        return release, str(local_file(self.settings, release, "parquet"))

    def __iter__(self) -> Iterator[str]:
        return iter(self.releases)

    def __len__(self) -> int:
        return len(self.releases)
