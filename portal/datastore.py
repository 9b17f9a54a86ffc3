"""CKAN `datastore_search` over released data: filters, full-text q, fields, sort and paging.

It reads the release's Parquet file, which is immutable and holds exactly the published public
columns ordered by key, so readers never wait on the warehouse's single writer.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock

from lgsp.core.duck import literal, quote
from lgsp.portal.access import Entry
from lgsp.portal.params import int_param
from lgsp.publishing.versions import Release
from lgsp.schemas.columns import DUCKDB_TYPES
from lgsp.web.problems import Invalid

MAX_LIMIT = 32000  # CKAN's ckan.datastore.search.rows_max default
CKAN_TYPES = {
    "string": "text",
    "integer": "int",
    "number": "numeric",
    "boolean": "bool",
    "date": "date",
    "timestamp": "timestamp",
}


def _json(params: dict[str, Any], name: str) -> Any:
    raw = params.get(name)
    if isinstance(raw, str) and raw.strip().startswith(("{", "[")):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # malformed, or nested deeper than Python parses
            raise Invalid({name: ["Không đọc được JSON / Cannot parse JSON"]}) from None
    return raw


class RawJSON(str):
    """JSON text made by DuckDB, spliced into the response as it is (see portal/app.py)."""


class Datastore:
    """One in-process DuckDB; each request gets its own cursor.

    A release is queried through a read-only DuckDB copy of its Parquet file, built once per
    release under `cache_dir`: its `_id` column (the row's position in key order) lets DuckDB skip
    straight to a page by its zone maps, which neither Parquet row numbers nor rowid allow.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._con = duckdb.connect(config={"autoinstall_known_extensions": False})
        self._con.execute("SET threads = 1")  # small queries: parallelism comes from concurrent requests
        self._lock = threading.Lock()
        self._attached: set[str] = set()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._con.cursor()

    def cache_file(self, release: Release, parquet: str) -> Path:
        """The release's read-only DuckDB copy, built once (by one process at a time)."""
        digest = release.distribution("parquet").sha256[:12]  # a rebuilt release gets a new copy
        cache = self.cache_dir / f"{release.dataset}-v{release.version}-{digest}.duckdb"
        if cache.exists():
            return cache
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache) + ".lock"):
            if not cache.exists():
                building = cache.with_suffix(".building")
                building.unlink(missing_ok=True)
                con = duckdb.connect(str(building))
                try:
                    con.execute("SET preserve_insertion_order = true")  # the file is in key order
                    con.execute(
                        "CREATE TABLE data AS SELECT file_row_number + 1 AS _id, * EXCLUDE (file_row_number) "
                        f"FROM read_parquet({literal(parquet)}, file_row_number = true)"
                    )
                finally:
                    con.close()
                building.rename(cache)
        return cache

    def _table(self, release: Release, parquet: str) -> str:
        digest = release.distribution("parquet").sha256[:12]
        alias = f"r_{release.dataset}_v{release.version}_{digest}"
        if alias in self._attached:
            return f"{alias}.data"
        cache = self.cache_file(release, parquet)
        with self._lock:
            if alias not in self._attached:
                self._con.execute(f"ATTACH {literal(str(cache))} AS {alias} (READ_ONLY)")
                self._attached.add(alias)
        return f"{alias}.data"

    def search(
        self, entry: Entry, release: Release, path: str, resource_id: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        names = [c.name for c in entry.columns]
        types = {c.name: CKAN_TYPES[c.type.value] for c in entry.columns}
        column_types = {c.name: c.type for c in entry.columns}
        limit = int_param(params, "limit", 100, MAX_LIMIT)
        offset = int_param(params, "offset", 0)
        fields = _json(params, "fields")
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        fields = list(dict.fromkeys(fields or ["_id", *names]))  # each once, in the order asked
        unknown = [f for f in fields if f != "_id" and f not in names]
        if unknown:
            raise Invalid(
                {"fields": [f'trường "{f}" không có trong tài nguyên / field "{f}" not in resource' for f in unknown]}
            )
        where, args = [], []
        filters = _json(params, "filters") or {}
        if not isinstance(filters, dict):
            raise Invalid({"filters": ["Không phải đối tượng JSON / Not a JSON object"]})
        for column, value in filters.items():
            if column not in names:
                raise Invalid(
                    {"filters": [f'trường "{column}" không có trong tài nguyên / field "{column}" not in resource']}
                )
            values = value if isinstance(value, list) else [value]
            # Compare in the column's own type: 15800 matches 15800.0, 'T' or ' ' in timestamps.
            kind = DUCKDB_TYPES[column_types[column]]
            where.append(f"{quote(column)} IN ({', '.join(f'TRY_CAST(? AS {kind})' for _ in values)})")
            args += [json.dumps(v) if isinstance(v, bool) else str(v) for v in values]
        q = _json(params, "q")
        if isinstance(q, dict):
            for column, text in q.items():
                if column not in names:
                    raise Invalid(
                        {"q": [f'trường "{column}" không có trong tài nguyên / field "{column}" not in resource']}
                    )
                where.append(
                    f"contains(strip_accents(lower(CAST({quote(column)} AS VARCHAR))), strip_accents(lower(?)))"
                )
                args.append(str(text))
        elif q:
            any_column = " OR ".join(
                f"contains(strip_accents(lower(CAST({quote(n)} AS VARCHAR))), strip_accents(lower(?)))" for n in names
            )
            where.append(f"({any_column})")
            args += [str(q)] * len(names)
        order = "ORDER BY _id"  # key order unless another is asked for
        if params.get("sort"):
            parts = []
            for part in str(params["sort"]).split(","):
                bits = part.split()
                if (
                    not bits
                    or bits[0].strip('"') not in [*names, "_id"]
                    or len(bits) > 2
                    or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc"))
                ):
                    raise Invalid(
                        {
                            "sort": [
                                f'trường "{part.strip()}" không có trong tài nguyên / field "{part.strip()}" not in resource'
                            ]
                        }
                    )
                parts.append(f"{quote(bits[0].strip(chr(34)))} {bits[1] if len(bits) == 2 else 'asc'}")
            order = "ORDER BY " + ", ".join(parts)
        source = self._table(release, path)
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        cur = self._cursor()
        try:
            if where:
                total = cur.execute(f"SELECT count(*) FROM {source} {condition}", args).fetchone()[0]  # type: ignore[index]
            else:  # read from the Parquet footer, not the rows
                total = release.rows
            # DuckDB writes the records' JSON itself: no Python object per value on the hot path.
            pack = ", ".join(
                f"{quote(f)} := strftime({quote(f)}, '%Y-%m-%dT%H:%M:%S')"
                if types.get(f) == "timestamp"
                else f"{quote(f)} := {quote(f)}"
                for f in fields
            )
            if where or params.get("sort"):
                page = f"SELECT * FROM {source} {condition} {order} LIMIT ? OFFSET ?"
                page_args = [*args, limit, offset]
            else:  # a plain page: read just that range of _id
                page = f"SELECT * FROM {source} WHERE _id > ? AND _id <= ? ORDER BY _id"
                page_args = [offset, offset + limit]
            numbered = f"SELECT *, row_number() OVER () AS _n FROM ({page})"  # one thread: the page's order
            sql = f"SELECT coalesce(CAST(to_json(list(struct_pack({pack}) ORDER BY _n)) AS VARCHAR), '[]') FROM ({numbered})"
            records = cur.execute(sql, page_args).fetchone()[0]  # type: ignore[index]
        except duckdb.Error as exc:
            raise Invalid({"query": [str(exc).splitlines()[0]]}) from None
        finally:
            cur.close()
        link = f"/api/3/action/datastore_search?resource_id={resource_id}"
        return {
            "resource_id": resource_id,
            "fields": [{"id": f, "type": "int" if f == "_id" else types[f]} for f in fields],
            "records": RawJSON(records),
            "total": int(total),
            "limit": limit,
            "offset": offset,
            "records_format": "objects",
            "include_total": True,
            "_links": {"start": link, "next": f"{link}&offset={offset + limit}"},
        }
