"""CKAN `datastore_search_sql`: one read-only SELECT over the open datasets' latest releases.

Two locks, each enough alone: the query's syntax tree (DuckDB's own parser) must be one SELECT
reading only the open datasets' tables (no table functions such as `read_csv`, no other
database); and it runs in a fresh DuckDB that holds only those tables, attached read-only, with
external access off and its configuration locked, so no file or address is reachable. A row
limit and a time limit (the query is interrupted) keep one client from holding the server.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import duckdb

from lgsp.core.duck import literal, quote
from lgsp.portal.datastore import Datastore
from lgsp.publishing.versions import Release
from lgsp.web.problems import Invalid

MAX_ROWS = 32000  # as datastore_search (CKAN's ckan.datastore.search.rows_max)
TIME_LIMIT = 3.0  # seconds
MEMORY_LIMIT = "256MB"
# Functions that read files, the network or the server's state, refused by name for a clear error
# (external access is off besides).
_REFUSED = ("read_", "glob", "getenv", "current_setting", "duckdb_", "pragma_", "parquet_", "sniff_csv",
            "load", "install", "query", "sql_auto_complete", "which_secret", "iceberg_", "delta_")  # fmt: skip
_TYPES = {"VARCHAR": "text", "BIGINT": "int", "INTEGER": "int", "HUGEINT": "int", "DOUBLE": "numeric",
          "FLOAT": "numeric", "BOOLEAN": "bool", "DATE": "date", "TIMESTAMP": "timestamp"}  # fmt: skip


def _refuse(message_vi: str, message_en: str) -> Invalid:
    return Invalid({"query": [f"{message_vi} / {message_en}"]})


def _walk(node: Any, tables: set[str], ctes: set[str]) -> None:
    """Collect the tables a parsed query reads; refuse table functions and refused functions."""
    if isinstance(node, list):
        for item in node:
            _walk(item, tables, ctes)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "TABLE_FUNCTION":
        name = node.get("function", {}).get("function_name", "?")
        raise _refuse(f"Không được dùng hàm bảng {name}()", f"table functions such as {name}() are not allowed")
    if node.get("type") == "BASE_TABLE":
        if node.get("catalog_name") or node.get("schema_name") not in ("", "main"):
            raise _refuse(
                f'Chỉ được đọc các bảng của dữ liệu mở, không phải "{node.get("table_name")}" của cơ sở khác',
                "only the open datasets' tables may be read, not another database's",
            )
        tables.add(str(node.get("table_name")))
    if node.get("class") == "FUNCTION" and str(node.get("function_name", "")).lower().startswith(_REFUSED):
        name = node["function_name"]
        raise _refuse(f"Không được dùng hàm {name}()", f"the function {name}() is not allowed")
    if isinstance(node.get("cte_map"), dict):
        ctes.update(str(item.get("key")) for item in node["cte_map"].get("map", []))
    for value in node.values():
        _walk(value, tables, ctes)


def parse(sql: str) -> set[str]:
    """The table names a single SELECT reads, or a CKAN-style validation error."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
    if tree.get("error"):
        if "Only SELECT" in tree.get("error_message", ""):
            raise _refuse("Chỉ cho phép một câu lệnh SELECT", "only a single SELECT statement is allowed")
        raise _refuse("Câu lệnh SQL không hợp lệ", f"invalid SQL: {tree.get('error_message', '')}")
    if len(tree["statements"]) != 1:
        raise _refuse("Chỉ cho phép một câu lệnh SELECT", "only a single SELECT statement is allowed")
    tables: set[str] = set()
    ctes: set[str] = set()
    _walk(tree["statements"], tables, ctes)
    return tables - ctes


def _value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    return v


class SqlStore:
    def __init__(self, datastore: Datastore) -> None:
        self.datastore = datastore

    def run(self, sql: str, open_tables: Mapping[str, tuple[Release, str]]) -> dict[str, Any]:
        """Run `sql` over the open tables it names (dataset ids or latest resource ids); only
        those are looked up in `open_tables` (a replica fetches a Parquet file when looked up)."""
        names = parse(sql)
        unknown = sorted(n for n in names if n not in open_tables)
        if unknown:
            raise _refuse(
                f'Không có bảng dữ liệu mở "{unknown[0]}"',
                f'no open dataset table "{unknown[0]}" (use a dataset id or its latest resource id)',
            )
        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        timer = threading.Timer(TIME_LIMIT, con.interrupt)
        try:
            for name in sorted(names):
                release, parquet = open_tables[name]
                alias = f"t_{uuid.uuid4().hex}"
                con.execute(
                    f"ATTACH {literal(str(self.datastore.cache_file(release, parquet)))} AS {alias} (READ_ONLY)"
                )
                con.execute(f"CREATE VIEW main.{quote(name)} AS SELECT * FROM {alias}.data")
            for setting in (f"memory_limit = '{MEMORY_LIMIT}'", "threads = 1", "enable_external_access = false",
                            "lock_configuration = true"):  # fmt: skip
                con.execute(f"SET {setting}")
            body = sql.strip().rstrip(";")
            timer.start()
            cur = con.execute(f"SELECT * FROM (\n{body}\n) LIMIT {MAX_ROWS + 1}")
            rows = cur.fetchall()
            fields = [{"id": d[0], "type": _TYPES.get(str(d[1]), str(d[1]).lower())} for d in cur.description or []]
        except duckdb.InterruptException:
            raise _refuse(
                f"Truy vấn chạy quá {TIME_LIMIT:g} giây nên đã bị dừng", f"the query took longer than {TIME_LIMIT:g} s"
            ) from None
        except duckdb.Error as exc:
            raise _refuse("Truy vấn lỗi", str(exc).splitlines()[0]) from None
        finally:
            timer.cancel()
            con.close()
        out: dict[str, Any] = {
            "sql": sql,
            "fields": fields,
            "records": [{f["id"]: _value(v) for f, v in zip(fields, row, strict=True)} for row in rows[:MAX_ROWS]],
        }
        if len(rows) > MAX_ROWS:
            out["records_truncated"] = True
        return out
