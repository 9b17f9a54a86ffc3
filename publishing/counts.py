"""Download counts of the open releases, per day, dataset and file format, and nothing else.

No address, user agent, referrer or time of day is kept, so the counts are publishable as they
stand: the open dataset `download_stats` reads this SQLite file (connection `download_stats`, a
hub database like `exchange_stats`). It lives apart from the warehouse, in WAL mode: a download
never waits on a run's writer lock, and a run reading the counts never blocks a download.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from pathlib import Path

from lgsp.core.connections import HUB_DATABASES

TABLE = "download_stats"
log = logging.getLogger(__name__)


def store_path(home: Path) -> Path:
    return home / HUB_DATABASES[TABLE]


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=2)
    con.execute("PRAGMA journal_mode = WAL")  # readers (a run) and the writer (downloads) never wait on each other
    con.execute("PRAGMA synchronous = NORMAL")  # a crash may lose the last counts, never corrupt the file
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (day TEXT NOT NULL, dataset_id TEXT NOT NULL, format TEXT NOT NULL, "
        "downloads INTEGER NOT NULL, PRIMARY KEY (day, dataset_id, format))"
    )
    return con


def ensure_store(home: Path) -> Path:
    """Create the (empty) store, so the `download_stats` dataset runs before anything is downloaded."""
    _open(store_path(home)).close()
    return store_path(home)


class DownloadCounter:
    """Counts downloads into the store; one per server, shared by its threads."""

    def __init__(self, home: Path) -> None:
        self.path = store_path(home)
        self._con: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def count(self, dataset_id: str, fmt: str, day: dt.date | None = None) -> bool:
        """Add one download; False when the store cannot be written (the download goes on uncounted)."""
        day = day or dt.datetime.now(dt.UTC).date()
        try:
            with self._lock:
                if self._con is None:
                    self._con = _open(self.path)
                self._con.execute(
                    f"INSERT INTO {TABLE} VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (day, dataset_id, format) DO UPDATE SET downloads = downloads + 1",
                    (day.isoformat(), dataset_id, fmt),
                )
            return True
        except (sqlite3.Error, OSError) as exc:
            log.warning("download of %s (%s) not counted: %s", dataset_id, fmt, exc)
            return False


def read_counts(home: Path) -> list[tuple[str, str, str, int]]:
    """Every (day, dataset_id, format, downloads), in that order; empty before the first download."""
    path = store_path(home)
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute(f"SELECT * FROM {TABLE} ORDER BY day, dataset_id, format")]
    finally:
        con.close()
