"""SQL connector: any SQLAlchemy URL, streamed as Arrow batches, full or incremental by a cursor.

PostgreSQL, MySQL/MariaDB and SQLite are read with DuckDB's scanners (the fast path); other
databases (SQL Server, Oracle, ...) through SQLAlchemy with server-side cursors. Either way the
rows arrive as a `pyarrow.RecordBatchReader`, so memory stays flat whatever the table size.
MySQL/MariaDB and SQLite values arrive as text, as SQLAlchemy's do: their legacy dates and
booleans ('0000-00-00', '2024-05-00', a TINYINT(1) holding 2) are typed, and quarantined with
their raw text, by the hub rather than nulled or refused by a scanner.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, SecretStr
from sqlalchemy.engine import URL, make_url
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register
from lgsp.connectors.sql_scanners import attach_string, libpq_value, mysql_name, mysql_select, mysql_value, scanner_for
from lgsp.core import duck
from lgsp.core.connections import resolve
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, DeleteMode, SqlSource
from lgsp.warehouse.projection import DELETED


class SqlConfig(BaseModel):
    """What the SQL connector needs: built from a contract and a resolved connection."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    connection: str
    url: SecretStr
    columns: list[str]
    table: str | None = None
    db_schema: str | None = None
    query: str | None = None
    cursor: str | None = None
    cursor_type: str = "VARCHAR"  # the DuckDB type the contract declares for the cursor column
    deleted_column: str | None = None  # a soft-delete marker, read as `_lgsp_deleted` (incremental.deletes)
    engine: str = "auto"
    batch_rows: int = 250_000
    extension_dir: Path
    memory_limit: str = "1GB"


def _with_driver(url: URL) -> URL:
    """`mysql://` and `mariadb://` (as Airflow writes them) name no driver, and SQLAlchemy's default,
    mysqlclient, is not installed: read them with PyMySQL, which the hub ships."""
    if url.drivername in ("mysql", "mariadb"):
        return url.set(drivername=f"{url.drivername}+pymysql")
    return url


def engine_for(config: SqlConfig) -> str:
    """'duckdb' when a DuckDB scanner can read this source, else 'sqlalchemy'."""
    url = make_url(config.url.get_secret_value())
    if config.engine == "sqlalchemy":
        return "sqlalchemy"
    scanner = scanner_for(url)
    if scanner is None or (scanner == "sqlite" and config.query):
        if config.engine == "duckdb":
            raise ConnectorError(
                f"engine: duckdb cannot read {url.get_backend_name()} sources"
                + (" with a query" if config.query else ""),
                dataset=config.dataset,
                connector=config.connection,
            )
        return "sqlalchemy"
    return "duckdb"


def _refused(message: str) -> bool:
    """Whether a connection error says the credentials were refused (PostgreSQL, MySQL/MariaDB)."""
    return any(s in message.lower() for s in ("authentication failed", "access denied for user"))


def _mysql_select(config: SqlConfig, cursor_value: Any) -> str:
    source = config.query or ".".join(mysql_name(p) for p in (config.db_schema, config.table) if p)
    return mysql_select(
        read_columns(config), source, config.cursor, config.cursor_type, cursor_value, query=bool(config.query)
    )


def read_columns(config: SqlConfig) -> list[str]:
    """The source columns a read takes: the contract's, and a soft-delete marker it does not declare."""
    marker = config.deleted_column
    return config.columns + ([marker] if marker and marker not in config.columns else [])


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ConnectorError) and exc.transient


_retry_wait = wait_exponential_jitter(multiplier=0.5, max=8, jitter=0.5)
_retry = retry(
    retry=retry_if_exception(_is_transient),
    stop=stop_after_attempt(4),
    wait=_retry_wait,
    reraise=True,
)


@dataclass(frozen=True)
class Scan:
    """A source DuckDB reads itself: staging runs `sql` in its own connection with no Python in
    between (the fast path); `extract` streams the same query as Arrow batches."""

    config: SqlConfig
    scanner: str
    url: URL
    base_sql: str  # every row, the contract's columns
    cursor_value: Any = None

    def query(self, source_types: dict[str, str]) -> tuple[str, list[Any]]:
        """The SELECT to run, given the source's column types (from a LIMIT 0 run of `base_sql`).

        The cursor is compared in the contract's type, so '10' comes after '9' even where the
        source keeps numbers or dates as text; a native column keeps the filter pushed down.
        """
        if self.cursor_value is None or not self.config.cursor:
            return self.base_sql, []
        kind = self.config.cursor_type
        column = duck.quote(self.config.cursor)
        native = source_types.get(self.config.cursor, "").upper() == kind
        left = column if native else f"TRY_CAST({column} AS {kind})"
        return f"{self.base_sql} WHERE {left} >= CAST(? AS {kind})", [self.cursor_value]

    def attach(self, con: Any) -> None:
        """Load the scanner and attach the source as `src` (read-only), retrying while unreachable."""
        duck.load_extension(con, self.scanner, self.config.extension_dir)
        if self.scanner == "sqlite":
            # Legacy SQLite columns hold anything; read text and let validation type it.
            con.execute("SET sqlite_all_varchar = true")
        if self.scanner == "postgres" and self.cursor_value is not None:
            # An incremental pull wants the few rows past the cursor: one query PostgreSQL can answer
            # from an index on the cursor, not parallel slices by ctid that each scan their pages.
            con.execute("SET pg_use_ctid_scan = false")
        _retry(self._attach)(con)

    def detach(self, con: Any) -> None:
        con.execute("DETACH src")
        if self.scanner == "postgres" and self.cursor_value is not None:
            con.execute("RESET pg_use_ctid_scan")

    def _attach(self, con: Any) -> None:
        import duckdb

        target = attach_string(self.url, self.scanner).replace("'", "''")
        try:
            con.execute(f"ATTACH '{target}' AS src (TYPE {self.scanner}, READ_ONLY)")
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            raise ConnectorError(
                f"cannot connect to '{self.config.connection}': {_redact(message, self.url)}",
                dataset=self.config.dataset,
                connector=self.config.connection,
                # Wrong credentials will not pass on retry, and retrying them can lock the account.
                transient=not _refused(message),
            ) from exc

    def error(self, exc: Exception) -> ConnectorError:
        import duckdb

        return ConnectorError(
            f"cannot read from '{self.config.connection}': {_redact(str(exc).splitlines()[0], self.url)}",
            dataset=self.config.dataset,
            connector=self.config.connection,
            transient=isinstance(exc, duckdb.IOException),
        )


def scan(config: SqlConfig, state: dict[str, Any] | None) -> Scan | None:
    """The DuckDB scan of this source, or None when SQLAlchemy must read it."""
    if engine_for(config) != "duckdb":
        return None
    url = make_url(config.url.get_secret_value())
    scanner = scanner_for(url)
    assert scanner is not None
    if scanner == "sqlite" and (not url.database or not Path(url.database).exists()):
        raise ConnectorError(
            f"SQLite database {url.database!r} does not exist", dataset=config.dataset, connector=config.connection
        )
    try:
        attach_string(url, scanner)
    except ValueError as exc:
        raise ConnectorError(
            f"connection '{config.connection}': {exc}", dataset=config.dataset, connector=config.connection
        ) from None
    columns = ", ".join(duck.quote(c) for c in config.columns)
    if config.deleted_column:
        columns += f", t.{duck.quote(config.deleted_column)} AS {DELETED}"
    cursor_value = state.get("cursor") if (config.cursor and state) else None
    if scanner == "mysql":
        base = f"(SELECT * FROM mysql_query('src', {duck.literal(_mysql_select(config, cursor_value))}))"
    elif config.query:
        base = f"(SELECT * FROM {scanner}_query('src', {duck.literal(config.query)}))"
    else:
        schema = config.db_schema or ("public" if scanner == "postgres" else None)
        base = ".".join(duck.quote(p) for p in ("src", schema, config.table) if p)
    return Scan(
        config=config,
        scanner=scanner,
        url=url,
        base_sql=f"SELECT {columns} FROM {base} AS t",
        cursor_value=cursor_value,
    )


def _duckdb_reader(plan: Scan) -> pa.RecordBatchReader:
    import duckdb

    con = duck.connect(memory_limit=plan.config.memory_limit)
    plan.attach(con)
    try:
        sql, params = plan.query(duck.source_types(con, plan.base_sql))
        reader = con.execute(sql, params).to_arrow_reader(plan.config.batch_rows)
    except duckdb.Error as exc:
        con.close()
        raise plan.error(exc) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        try:  # the generator holds the connection until the stream is drained
            yield from reader
        except duckdb.Error as exc:
            raise plan.error(exc) from exc
        finally:
            con.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _redact(message: str, url: URL) -> str:
    """Drivers echo the connection string in their errors; no part of the password may reach a log,
    as written or as quoted in the scanners' connection strings."""
    if not url.password:
        return message
    password = str(url.password)
    forms = {password, libpq_value(password)[1:-1], mysql_value(password)[1:-1]}
    for secret in sorted({p for form in forms for p in (form, *form.split())}, key=len, reverse=True):
        if len(secret) >= 3:
            message = message.replace(secret, "***")
    return message


def _text(value: Any) -> str | None:
    """Render a source value as text the warehouse can cast back without loss."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _sqlalchemy_reader(config: SqlConfig, state: dict[str, Any] | None) -> pa.RecordBatchReader:
    import sqlalchemy as sa

    url = _with_driver(make_url(config.url.get_secret_value()))
    try:
        engine = sa.create_engine(url)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:  # a dialect or driver not installed
        raise ConnectorError(
            f"cannot read from '{config.connection}': the SQLAlchemy dialect or driver for {url.drivername} "
            f"is not installed ({exc})",
            dataset=config.dataset,
            connector=config.connection,
        ) from None
    names = read_columns(config)
    if config.query:
        base: Any = sa.text(config.query).columns(*(sa.column(c) for c in names)).subquery("q")
    else:
        base = sa.table(config.table or "", *(sa.column(c) for c in names), schema=config.db_schema)
    selected = [base.c[c] for c in config.columns]
    if config.deleted_column:  # the marker's value as the source holds it; staging decides what it means
        selected.append(base.c[config.deleted_column].label(DELETED))
    selectable = sa.select(*selected)
    cursor_col = base.c[config.cursor] if config.cursor else None
    if cursor_col is not None and state and state.get("cursor") is not None:
        selectable = selectable.where(cursor_col >= state["cursor"])
    schema = pa.schema([(c, pa.string()) for c in config.columns + ([DELETED] if config.deleted_column else [])])

    def failure(exc: sa.exc.SQLAlchemyError, transient: bool) -> ConnectorError:
        detail = _redact(str(getattr(exc, "orig", None) or exc).splitlines()[0], engine.url)
        return ConnectorError(
            f"cannot read from '{config.connection}': {detail}",
            dataset=config.dataset,
            connector=config.connection,
            transient=transient,
        )

    @_retry
    def open_result() -> tuple[Any, Any]:
        try:  # failing to connect may pass (wrong credentials will not); a bad query will not
            conn = engine.connect().execution_options(stream_results=True, yield_per=config.batch_rows)
        except sa.exc.SQLAlchemyError as exc:
            refused = _refused(str(getattr(exc, "orig", None) or exc))
            raise failure(exc, transient=isinstance(exc, sa.exc.OperationalError) and not refused) from exc
        try:
            return conn, conn.execute(selectable)
        except sa.exc.SQLAlchemyError as exc:
            conn.close()
            raise failure(exc, transient=getattr(exc, "connection_invalidated", False)) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        conn, result = open_result()
        try:
            for rows in result.partitions(config.batch_rows):
                columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema.names]
                yield pa.RecordBatch.from_arrays(
                    [pa.array([_text(v) for v in col], type=pa.string()) for col in columns], schema=schema
                )
        except sa.exc.SQLAlchemyError as exc:  # the source went away mid-read: the next run may pass
            raise failure(exc, transient=isinstance(exc, sa.exc.OperationalError)) from exc
        finally:
            conn.close()
            engine.dispose()

    return pa.RecordBatchReader.from_batches(schema, batches())


def configure(contract: Contract, settings: Settings) -> SqlConfig:
    source = contract.source
    assert isinstance(source, SqlSource)
    cursor = contract.incremental.cursor if contract.incremental else None
    deletes = contract.incremental.deletes if contract.incremental else None
    return SqlConfig(
        dataset=contract.id,
        connection=source.connection,
        url=resolve(source.connection, settings.sandbox_dir, home=settings.home),
        columns=[c.name for c in contract.columns],
        table=source.table,
        db_schema=source.db_schema,
        query=source.query,
        cursor=cursor,
        cursor_type=contract.column(cursor).duckdb_type if cursor else "VARCHAR",
        deleted_column=deletes.column if deletes and deletes.mode is DeleteMode.soft_delete else None,
        engine=source.engine.value,
        batch_rows=settings.batch_rows,
        extension_dir=settings.home / "duckdb_extensions",
        memory_limit=settings.duckdb_memory_limit,
    )


@register("sql", configure=configure, scan=scan)
def extract(
    config: SqlConfig, state: dict[str, Any] | None, notes: dict[str, Any] | None = None
) -> pa.RecordBatchReader:
    """Stream the source's rows as Arrow batches; with a cursor in `state`, only rows at or past it.

    Raises ConnectorError (transient when the source could not be reached).
    """
    plan = scan(config, state)
    return _duckdb_reader(plan) if plan else _sqlalchemy_reader(config, state)
