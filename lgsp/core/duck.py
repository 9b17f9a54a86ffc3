"""DuckDB connections with the hub's settings and the scanner extensions shipped as PyPI wheels."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from lgsp.core.errors import ConfigError

# DuckDB's extension server is out of reach, so extensions come from the duckdb-extension-* wheels.
# The postgres extension's internal name is postgres_scanner: its file must carry that name.
_WHEELS = {
    "postgres": ("duckdb_extension_postgres", "postgres_scanner"),
    "mysql": ("duckdb_extension_mysql", "mysql_scanner"),
    "sqlite": ("duckdb_extension_sqlite", "sqlite_scanner"),
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
    "aws": ("duckdb_extension_aws", "aws"),
}


def extension_file(name: str, cache_dir: Path) -> Path:
    """Path of a loadable extension file, copied once from its wheel under its internal name."""
    module_name, internal = _WHEELS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigError(f"DuckDB extension wheel {module_name} is not installed") from exc
    root = Path(module.__file__ or "").parent / "extensions" / f"v{duckdb.__version__}"
    shipped = next(root.glob("*.duckdb_extension"), None)
    if shipped is None:
        raise ConfigError(
            f"{module_name} has no extension for DuckDB {duckdb.__version__} in {root}: "
            "the duckdb pin and the extension wheels must match"
        )
    target = cache_dir / f"v{duckdb.__version__}" / f"{internal}.duckdb_extension"
    if not target.exists() or target.stat().st_size != shipped.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(shipped, tmp)  # a hard link costs nothing; a copy 20 MB
        except OSError:  # another file system
            shutil.copyfile(shipped, tmp)
        tmp.replace(target)
    return target


def connect(
    path: Path | str = ":memory:",
    *,
    memory_limit: str = "1GB",
    threads: int | None = None,
    temp_dir: Path | None = None,
    read_only: bool = False,
    extension_dir: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection bounded in memory, spilling to `temp_dir` rather than growing."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "autoinstall_known_extensions": False,
    }
    if extension_dir is not None:
        config["extension_directory"] = str(extension_dir)
    if threads:
        config["threads"] = threads
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(temp_dir)
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    con.execute("SET VARIABLE lgsp_memory_limit = ?", [memory_limit])  # restored exactly by memory_at_most
    con.execute("SET enable_progress_bar = false")  # a library prints nothing of its own
    con.execute("SET preserve_insertion_order = false")  # rows are ordered by key where order matters
    con.execute("SET TimeZone = 'UTC'")  # the warehouse keeps timestamps in UTC, whatever the machine's zone
    return con


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str, database: str | None = None) -> bool:
    """Whether `schema.name` exists in the connection's own database (or in attached `database`)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = coalesce(?, current_database()) "
        "AND schema_name = ? AND table_name = ?",
        [database, schema, name],
    ).fetchone()
    return bool(found and found[0])


def is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's current database is a DuckLake (the warehouse on lgsp.warehouse.lake)."""
    found = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(found and found[0] == "ducklake")


# DuckLake has no constraints and no sequences: its tables are made without them, and ids come from
# the sequences of the catalog's PostgreSQL (lgsp.warehouse.lake registers `lgsp_next_id`).
_KEYS = re.compile(r",\s*PRIMARY KEY\s*\([^)]*\)|\s+PRIMARY KEY\b", re.IGNORECASE)
_SEQUENCES = re.compile(r"CREATE SEQUENCE[^;]*;", re.IGNORECASE)


def create_schema(con: duckdb.DuckDBPyConnection, ddl: str) -> None:
    """Run `ddl` (CREATE … IF NOT EXISTS statements); on a DuckLake without its keys and sequences."""
    if is_lake(con):
        ddl = _SEQUENCES.sub("", _KEYS.sub("", ddl))
    con.execute(ddl)


def next_id(con: duckdb.DuckDBPyConnection, sequence: str) -> int:
    """The next number of `sequence` (e.g. meta.change_ids), from DuckDB's or, on a DuckLake, PostgreSQL's."""
    sql = "SELECT lgsp_next_id(?)" if is_lake(con) else "SELECT nextval(?)"
    return int(con.execute(sql, [sequence]).fetchone()[0])  # type: ignore[index]


def is_conflict(exc: BaseException) -> bool:
    """A DuckLake commit that lost to another writer's (it may succeed if tried again)."""
    return isinstance(exc, duckdb.TransactionException) and "Transaction conflict" in str(exc)


def load_extension(con: duckdb.DuckDBPyConnection, name: str, cache_dir: Path) -> None:
    con.execute(f"LOAD {literal(str(extension_file(name, cache_dir)))}")


def install_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...], cache_dir: Path) -> None:
    """INSTALL extensions from their wheels into the connection's extension directory, where DuckDB
    finds them by name: DuckLake loads postgres_scanner and httpfs itself, which a LOAD by path
    cannot satisfy. Installed once; an installed file that is not the wheel's (another build, a
    partial copy) is replaced."""
    installed = {
        str(name): str(path or "")
        for name, path in con.execute(
            "SELECT extension_name, install_path FROM duckdb_extensions() WHERE installed"
        ).fetchall()
    }
    for name in names:
        shipped = extension_file(name, cache_dir)
        there = Path(installed.get(_WHEELS[name][1], ""))
        if not there.is_file() or there.stat().st_size != shipped.stat().st_size:
            con.execute(f"FORCE INSTALL {literal(str(shipped))}")


def quote(identifier: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def source_types(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, str]:
    """DuckDB type of each column a query returns (run with LIMIT 0: no rows are read)."""
    described = con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description or []
    return {d[0]: str(d[1]) for d in described}


def literal(text: str) -> str:
    """Quote a string literal for DuckDB (paths in ATTACH, for one)."""
    return "'" + text.replace("'", "''") + "'"


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back when it raises (a COMMIT that
    failed has rolled back already, and its error is the one raised)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("ROLLBACK")
        raise


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


@contextlib.contextmanager
def memory_at_most(con: duckdb.DuckDBPyConnection, limit: int) -> Iterator[None]:
    """DuckDB keeps the blocks a scan read cached up to its memory limit, so a step that only
    streams a table out (a release's COPY) would grow the process by the whole limit on top of what
    the steps before it left: it runs under `limit` bytes instead (spilling, if it must sort, to the
    temporary directory). Never raises a lower limit. The limit in force is kept exactly (in the
    connection's `lgsp_memory_limit`, which `connect` sets) and is back afterwards; a connection
    that lacks it (a cursor, one `connect` did not make) is left as it is. An error of the block is
    the one raised, even if putting the limit back fails too (say, in an aborted transaction)."""
    kept, shown = con.execute("SELECT getvariable('lgsp_memory_limit'), current_setting('memory_limit')").fetchone()  # type: ignore[misc]
    number, unit = str(shown).split()
    if kept is None or float(number) * _UNITS[unit] <= limit:
        yield
        return
    capped = f"{limit // 2**20}MiB"

    def put(value: str) -> None:
        con.execute(f"SET memory_limit = {literal(value)}")
        con.execute("SET VARIABLE lgsp_memory_limit = ?", [value])  # a nested use puts back this one

    put(capped)
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            put(str(kept))
        raise
    put(str(kept))


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, reader: pa.RecordBatchReader) -> Iterator[None]:
    """`reader`'s batches as DuckDB's view `name` for the block. An error its source raises comes
    out as itself (a connector's error keeps its transient flag), not flattened into DuckDB's."""
    raised: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except BaseException as exc:
            raised.append(exc)
            raise

    con.register(name, pa.RecordBatchReader.from_batches(reader.schema, batches()))
    try:
        yield
    except duckdb.Error:
        if raised:
            raise raised[0] from None
        raise
    finally:
        con.unregister(name)
