"""The sharing registry: consumers, credentials, grants, access requests, staff and the webhook
outbox, through SQLAlchemy: one SQLite file under $LGSP_HOME/sharing by default (SQLite allows many
processes; the DuckDB warehouse allows one writer), PostgreSQL with `LGSP_STATE_URL` (the cluster
profile). The tables are lgsp.sharing.tables; Alembic migrations (lgsp/sharing/migrations) bring a
registry up to date on first use, an old SQLite file included.

Reads go through `connect` (autocommit); writes through `transaction`, which on SQLite is `BEGIN
IMMEDIATE` and on PostgreSQL first bumps `registry_version`, whose row lock serialises writers the
same way. Queries are `text()` with named parameters, in SQL both databases speak.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, RowMapping, create_engine, event, make_url, pool, text

from lgsp.core import files
from lgsp.core.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _forget_pools() -> None:
    """In a forked child (Airflow's task runner): never reuse the parent's pooled connections."""
    for made in _engines.values():
        made.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools)


def now() -> dt.datetime:
    """The current time in UTC, timezone-aware: every timestamp in the registry is UTC."""
    return dt.datetime.now(dt.UTC)


def stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def parse(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def registry_path(settings: Settings) -> Path:
    """The default registry's SQLite file (where the embedded profile keeps it)."""
    return settings.sharing_dir / "registry.sqlite"


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def is_sqlite(settings: Settings) -> bool:
    return _sqlite_file(settings.registry_url) is not None


def exists(settings: Settings) -> bool:
    """Whether the hub has a registry yet (a SQLite file not made yet: no consumer, no subscriber)."""
    path = _sqlite_file(settings.registry_url)
    return path is None or path.exists()


def engine(settings: Settings) -> Engine:
    """The registry's engine, one per process and URL, brought up to date (Alembic) when made."""
    url = settings.registry_url
    with _engines_lock:
        found = _engines.get(url)
        if found is None:
            found = _make_engine(url)
            upgrade(found)
            _engines[url] = found
        return found


def dispose(settings: Settings) -> None:
    """Close the registry's pooled connections and forget its engine (a test's database dropped)."""
    with _engines_lock:
        found = _engines.pop(settings.registry_url, None)
    if found is not None:
        found.dispose()


def _make_engine(url: str) -> Engine:
    path = _sqlite_file(url)
    if path is None:  # PostgreSQL: pooled connections, checked before use (a restarted server)
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
    # SQLite: a connection per use, as the file is cheap to open, and many test homes come and go
    made = create_engine(url, poolclass=pool.NullPool, connect_args={"timeout": 10, "check_same_thread": False})

    @event.listens_for(made, "do_connect")
    def _before_connect(*_: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _private(path)

    @event.listens_for(made, "connect")
    def _pragmas(dbapi_con: Any, _: Any) -> None:
        dbapi_con.isolation_level = None  # transactions are ours to begin (below), never the driver's
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
            dbapi_con.execute(f"PRAGMA {pragma}")

    @event.listens_for(made, "begin")
    def _immediate(con: Connection) -> None:
        if con.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            con.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: no upgrade from read to write later

    return made


def _private(path: Path) -> None:
    """The registry holds webhook signing secrets: it is the hub's user's alone (0600), whatever the
    umask of the process that made it (SQLite gives its -wal and -shm files the database's mode)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mode & 0o077:
                part.chmod(0o600)


def upgrade(made: Engine) -> str:
    """Run the migrations the registry lacks (none: nothing happens); returns the revision it is at.
    A SQLite file the older, SQLite-only versions made is adopted by revision 0001 as it is."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with made.begin() as con:  # SQLite: BEGIN IMMEDIATE, so two processes upgrade one after the other
        if con.dialect.name == "postgresql":
            con.execute(text("SELECT pg_advisory_xact_lock(72147)"))  # the same, for two replicas starting
        config.attributes["connection"] = con  # migrations/env.py migrates this connection, in this transaction
        command.upgrade(config, "head")
    return str(ScriptDirectory.from_config(config).get_current_head())


def connect(settings: Settings) -> Connection:
    """A connection for reads and single statements (autocommit); the caller closes it. Rows come
    back as mappings (`row["code"]`)."""
    return engine(settings).connect().execution_options(isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def transaction(settings: Settings, *, bump: bool = True) -> Iterator[Connection]:
    """One write transaction, committed at the end (rolled back on an error). `bump` (the default)
    moves registry_version first: servers drop their caches, and on PostgreSQL its row lock queues
    the writers as SQLite's BEGIN IMMEDIATE does, so a check-then-write inside is never raced."""
    with engine(settings).begin() as con:
        if bump:
            con.execute(text("UPDATE registry_version SET version = version + 1 WHERE id = 1"))
        yield con


def change_marker(con: Connection) -> Any:
    """What moves whenever the registry changed: SQLite's data_version (any other connection's
    commit, even by hand) or, on PostgreSQL, registry_version (every `transaction`)."""
    if con.dialect.name == "sqlite":
        return con.exec_driver_sql("PRAGMA data_version").scalar()
    return con.execute(text("SELECT version FROM registry_version WHERE id = 1")).scalar()


def rows(con: Connection, sql: str, **params: Any) -> list[RowMapping]:
    return list(con.execute(text(sql), params).mappings())


def one(con: Connection, sql: str, **params: Any) -> RowMapping | None:
    return con.execute(text(sql), params).mappings().first()


def value(con: Connection, sql: str, **params: Any) -> Any:
    return con.execute(text(sql), params).scalar()


def run(con: Connection, sql: str, **params: Any) -> CursorResult[Any]:
    """A statement; its result's rowcount says how many rows it changed."""
    return con.execute(text(sql), params)


def hub_secret(settings: Settings, name: str) -> str:
    """A secret the hub keeps (lgsp.core.files.hub_secret: environment or a 0600 key file). Older
    versions kept them in the registry, which other users could read: such a secret moves to its
    key file (so sessions stay valid) and leaves the registry."""
    with transaction(settings, bump=False) as con:
        row = one(con, "SELECT value FROM hub_secrets WHERE name = :name", name=name)
        secret = files.hub_secret(settings, name, initial=str(row["value"]) if row else None)
        run(con, "DELETE FROM hub_secrets WHERE name = :name", name=name)
        return secret
