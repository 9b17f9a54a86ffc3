"""The sharing registry: consumers, credentials, grants, access requests and staff, in one SQLite
file under $LGSP_HOME/sharing (SQLite allows many processes; the DuckDB warehouse allows one writer)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from lgsp.core import files
from lgsp.core.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS consumers (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, contact TEXT NOT NULL, kind TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, consumer TEXT NOT NULL REFERENCES consumers(code), hash TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, consumer TEXT NOT NULL REFERENCES consumers(code), hash TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL REFERENCES clients(client_id),
    consumer TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL REFERENCES consumers(code),
    dataset TEXT NOT NULL, columns TEXT, row_filter TEXT NOT NULL, purpose TEXT NOT NULL,
    expires_at TEXT, granted_by TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS access_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL REFERENCES consumers(code),
    dataset TEXT NOT NULL, purpose TEXT NOT NULL, columns TEXT, requested_at TEXT NOT NULL,
    due_on TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', answered_at TEXT, answered_by TEXT,
    reason TEXT, grant_id INTEGER
);
CREATE TABLE IF NOT EXISTS staff (
    username TEXT PRIMARY KEY, department TEXT NOT NULL, hash TEXT NOT NULL, created_at TEXT NOT NULL,
    session_version INTEGER NOT NULL DEFAULT 1, disabled_at TEXT
);
-- Older versions kept the hub's secrets here; hub_secret moves them to key files.
CREATE TABLE IF NOT EXISTS hub_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (username TEXT NOT NULL, at TEXT NOT NULL, address TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS login_failures_by_user ON login_failures (username, at);
-- Webhooks (lgsp.sharing.webhooks): subscriptions keep their signing secret (it must sign), events
-- are queued once each, and the outbox holds one delivery per subscription and event.
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id TEXT PRIMARY KEY, consumer TEXT NOT NULL REFERENCES consumers(code), url TEXT NOT NULL,
    datasets TEXT, secret TEXT NOT NULL, created_at TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    deactivated_at TEXT, deactivated_why TEXT
);
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, type TEXT NOT NULL, dataset TEXT, payload TEXT NOT NULL,
    created_at TEXT NOT NULL, contents TEXT
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subscription TEXT NOT NULL REFERENCES webhook_subscriptions(id),
    event TEXT NOT NULL REFERENCES webhook_events(id), status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, claim TEXT, claimed_until TEXT,
    last_status INTEGER, last_error TEXT, finished_at TEXT, UNIQUE (subscription, event)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery INTEGER NOT NULL REFERENCES webhook_deliveries(id), attempt INTEGER NOT NULL, at TEXT NOT NULL,
    status_code INTEGER, error TEXT, ms REAL NOT NULL, next_attempt_at TEXT, PRIMARY KEY (delivery, attempt)
);
"""


def now() -> dt.datetime:
    """The current time in UTC, timezone-aware: every timestamp in the registry is UTC."""
    return dt.datetime.now(dt.UTC)


def stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def parse(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def registry_path(settings: Settings) -> Path:
    return settings.sharing_dir / "registry.sqlite"


def connect(settings: Settings) -> sqlite3.Connection:
    """A connection to the registry (created on first use); rows come back as sqlite3.Row."""
    path = registry_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    _private(path)
    con = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("PRAGMA foreign_keys = ON")
    con.executescript(SCHEMA)
    _add_columns(con)
    con.execute("CREATE INDEX IF NOT EXISTS login_failures_by_address ON login_failures (address, at)")
    return con


def _private(path: Path) -> None:
    """The registry holds webhook signing secrets: it is the hub's user's alone (0600), whatever the
    umask of the process that made it (SQLite gives its -wal and -shm files the database's mode)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mode & 0o077:
                part.chmod(0o600)


# Columns added since a registry was first made: (table, column, definition).
_ADDED = (
    ("staff", "session_version", "INTEGER NOT NULL DEFAULT 1"),
    ("staff", "disabled_at", "TEXT"),
    ("login_failures", "address", "TEXT NOT NULL DEFAULT ''"),
)


def _add_columns(con: sqlite3.Connection) -> None:
    for table, column, definition in _ADDED:
        if column not in {r["name"] for r in con.execute(f"PRAGMA table_info({table})")}:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


@contextlib.contextmanager
def transaction(settings: Settings) -> Iterator[sqlite3.Connection]:
    """One write transaction on a fresh connection: servers see it at once (their caches key on
    SQLite's data_version, which changes when another connection commits)."""
    con = connect(settings)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


def hub_secret(settings: Settings, name: str) -> str:
    """A secret the hub keeps (lgsp.core.files.hub_secret: environment or a 0600 key file). Older
    versions kept them in the registry, which other users could read: such a secret moves to its
    key file (so sessions stay valid) and leaves the registry."""
    with transaction(settings) as con:
        row = con.execute("SELECT value FROM hub_secrets WHERE name = ?", [name]).fetchone()
        value = files.hub_secret(settings, name, initial=str(row["value"]) if row else None)
        con.execute("DELETE FROM hub_secrets WHERE name = ?", [name])
        return value
