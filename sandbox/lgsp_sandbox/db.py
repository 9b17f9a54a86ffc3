"""Writing generated blocks into a database: COPY for PostgreSQL, executemany for everything else."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lgsp_sandbox.schema import TableSpec

Progress = Callable[[str, int], None]
"""progress(table name, rows written so far)."""

POSTGRES_TYPES = {"REAL": "DOUBLE PRECISION", "DOUBLE": "DOUBLE PRECISION"}
"""REAL would be float4 in PostgreSQL; SQLite's REAL is 8 bytes, so both become DOUBLE PRECISION there."""
EXECUTEMANY_BATCH = 50_000


def engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL; creates the parent directory of a SQLite file."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"


def create_table(conn: Connection, spec: TableSpec) -> None:
    """Drop and create the table, deliberately without a primary key or any other constraint."""
    types = POSTGRES_TYPES if conn.dialect.name == "postgresql" else {}
    cols = ", ".join(f"{c.name} {types.get(c.type, c.type)}" for c in spec.columns)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {spec.name}")
    conn.exec_driver_sql(f"CREATE TABLE {spec.name} ({cols})")


def _placeholders(conn: Connection, names: list[str]) -> str:
    style = conn.dialect.paramstyle
    if style == "qmark":
        return ", ".join("?" for _ in names)
    if style in ("format", "pyformat"):
        return ", ".join("%s" for _ in names)
    if style == "numeric":
        return ", ".join(f":{i + 1}" for i in range(len(names)))
    raise NotImplementedError(f"paramstyle {style!r} is not supported")


def _copy(conn: Connection, spec: TableSpec, table: pa.Table) -> None:
    buffer = io.BytesIO()
    # Strings are always quoted and nulls written as nothing: exactly PostgreSQL's CSV NULL convention.
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY {spec.name} ({', '.join(spec.column_names)}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


def _executemany(conn: Connection, spec: TableSpec, table: pa.Table) -> None:
    sql = f"INSERT INTO {spec.name} ({', '.join(spec.column_names)}) VALUES ({_placeholders(conn, spec.column_names)})"
    for batch in table.to_batches(max_chunksize=EXECUTEMANY_BATCH):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def insert(conn: Connection, spec: TableSpec, table: pa.Table) -> int:
    """Append rows (columns in spec order) inside the caller's transaction; returns the row count."""
    table = table.select(spec.column_names).cast(spec.arrow_schema)
    if table.num_rows:
        (_copy if is_postgres(conn) else _executemany)(conn, spec, table)
    return table.num_rows


def load(conn: Connection, spec: TableSpec, blocks: Iterable[pa.Table], progress: Progress | None = None) -> int:
    """Recreate the table and stream blocks into it; returns the row count."""
    create_table(conn, spec)
    done = 0
    for block in blocks:
        done += insert(conn, spec, block)
        if progress is not None:
            progress(spec.name, done)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {spec.name}")
    return done
