"""How DuckDB's scanners reach a department's database: which scanner reads a URL, the connection
string it takes (quoted as each scanner parses it), and the SELECT run on MySQL/MariaDB itself."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import URL


def scanner_for(url: URL) -> str | None:
    backend = url.get_backend_name()
    return {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}.get(backend)


def libpq_value(value: object) -> str:
    """Quote a value for a libpq-style `key=value` string (spaces, quotes and backslashes)."""
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def mysql_value(value: object) -> str:
    """Quote a value for DuckDB's MySQL scanner: double quotes, where a backslash escapes \\ and "
    (it reads single quotes as part of the value)."""
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# URL query parameters DuckDB's MySQL scanner understands; `charset` is left out because the
# scanner always reads utf8mb4. Any other (PyMySQL's ssl_verify_identity, read_timeout, …) is
# refused rather than dropped: leaving out a TLS setting would weaken the connection unseen.
MYSQL_OPTIONS = {
    "unix_socket": "socket", "socket": "socket", "compress": "compress", "ssl_mode": "ssl_mode", "ssl_ca": "ssl_ca",
    "ssl_capath": "ssl_capath", "ssl_cert": "ssl_cert", "ssl_cipher": "ssl_cipher", "ssl_crl": "ssl_crl",
    "ssl_crlpath": "ssl_crlpath", "ssl_key": "ssl_key",
}  # fmt: skip
MYSQL_IGNORED = {"charset"}


def attach_string(url: URL, scanner: str) -> str:
    """The connection string DuckDB's scanner takes; the URL's query (sslmode, ssl_ca, …) is kept.

    Raises ValueError for a MySQL URL parameter the scanner cannot take.
    """
    if scanner == "sqlite":
        return url.database or ""
    parts: dict[str, object] = {"host": url.host, "port": url.port, "user": url.username, "password": url.password}
    parts["dbname" if scanner == "postgres" else "database"] = url.database
    for key, value in url.query.items():
        if scanner == "mysql":
            if key in MYSQL_IGNORED:
                continue
            if key not in MYSQL_OPTIONS:
                raise ValueError(
                    f"URL parameter '{key}' is not understood by DuckDB's MySQL scanner (it takes "
                    f"{', '.join(sorted(MYSQL_OPTIONS))}); remove it, or read the source with engine: sqlalchemy"
                )
            key = MYSQL_OPTIONS[key]
        parts[key] = value if isinstance(value, str) else value[-1]
    quoted = mysql_value if scanner == "mysql" else libpq_value
    return " ".join(f"{k}={quoted(v)}" for k, v in parts.items() if v not in (None, ""))


def mysql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# The pushed-down cursor comparison, for the cursor types where MySQL and DuckDB read the same
# instant from the same text. Numbers and text are compared by DuckDB alone: MySQL converts
# '0x10' or a collation-ordered string differently, and a narrower pre-filter would lose rows.
MYSQL_CURSOR_TYPES = {"TIMESTAMP": "DATETIME(6)", "DATE": "DATE"}
CURSOR_TEXT = re.compile(r"[0-9][0-9 :.T-]*")


def mysql_select(
    columns: list[str], source: str, cursor: str | None, cursor_type: str, cursor_value: Any, *, query: bool
) -> str:
    """The MySQL SELECT the scanner runs: the contract's columns as utf8mb4 text, from the table
    or the contract's query (`source`, a query when `query`, else the schema-qualified table as
    MySQL names it), with rows before the cursor left on the server.

    The filter there only narrows what is sent; DuckDB applies the exact one after. A value MySQL
    cannot read as the cursor's type is sent, so that DuckDB decides on it.
    """
    texts = ", ".join(f"CAST({mysql_name(c)} AS CHAR CHARACTER SET utf8mb4) AS {mysql_name(c)}" for c in columns)
    sql = f"SELECT {texts} FROM " + (f"({source}) AS q" if query else source)
    kind = MYSQL_CURSOR_TYPES.get(cursor_type)
    if cursor and kind and cursor_value is not None and CURSOR_TEXT.fullmatch(str(cursor_value)):
        column = mysql_name(cursor)
        sql += f" WHERE {column} >= CAST('{cursor_value}' AS {kind}) OR CAST({column} AS {kind}) IS NULL"
    return sql
