"""Build the sandbox province: one source database per department, the same bytes for the same seed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lgsp_sandbox import db
from lgsp_sandbox.db import Progress
from lgsp_sandbox.departments import GENERATORS
from lgsp_sandbox.inbox import drop_ict_files, drop_office_files
from lgsp_sandbox.mutate import mutate_department
from lgsp_sandbox.schema import DEPARTMENTS, TABLES, Department

__all__ = [
    "DEPARTMENTS",
    "Department",
    "add_connections",
    "build_department",
    "build_province",
    "mutate_department",
    "sqlite_url",
]

DEFAULT_SEED = 2026
DEFAULT_SCALE = 100_000
DEFAULT_DIRTY_SHARE = 0.02
INBOX = DEPARTMENTS["ict"].code.lower()
"""The ICT indicators' inbox (`inbox/skhcn/`, connection `skhcn_inbox`), named for the department that receives them."""
OFFICE_INBOX = "vpubnd"
"""The provincial People's Committee Office's inbox (`inbox/vpubnd/`, connection `vpubnd_inbox`)."""


def department(name: str) -> Department:
    """The department's metadata; a clear error for an unknown name."""
    try:
        return DEPARTMENTS[name]
    except KeyError:
        raise KeyError(f"unknown department {name!r}; known: {', '.join(DEPARTMENTS)}") from None


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file (absolute, so it works from any working directory)."""
    return f"sqlite:///{Path(path).resolve()}"


def build_department(
    name: str,
    url: str,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = DEFAULT_SCALE,
    dirty_share: float = DEFAULT_DIRTY_SHARE,
    progress: Progress | None = None,
) -> dict[str, int]:
    """(Re)create the department's tables at a SQLAlchemy URL and load them; returns rows per table.

    `scale` is the row count of the high-volume table (env_readings); the others have a fixed, realistic size.
    """
    dept = department(name)
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    engine = db.engine(url)
    try:
        counts = {}
        with engine.begin() as conn:
            for table in dept.tables:
                blocks = GENERATORS[table](seed, scale=scale, dirty_share=dirty_share)
                counts[table] = db.load(conn, TABLES[table], blocks, progress)
        return counts
    finally:
        engine.dispose()


def build_province(
    directory: Path,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = DEFAULT_SCALE,
    dirty_share: float = DEFAULT_DIRTY_SHARE,
    progress: Progress | None = None,
) -> dict[str, str]:
    """One SQLite file per department in `directory`, plus connections.json; returns {department: URL}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    urls = {}
    for name in DEPARTMENTS:
        path = directory / f"{name}.sqlite"
        for stale in (path, path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
            stale.unlink(missing_ok=True)  # a fresh file, so the same seed gives the same bytes
        urls[name] = sqlite_url(path)
        build_department(name, urls[name], seed=seed, scale=scale, dirty_share=dirty_share, progress=progress)
    inbox = directory / "inbox" / INBOX
    shutil.rmtree(inbox, ignore_errors=True)  # a fresh province: no archive of earlier drops either
    drop_ict_files(inbox)
    office = directory / "inbox" / OFFICE_INBOX
    shutil.rmtree(office, ignore_errors=True)
    drop_office_files(office)
    inboxes = {f"{INBOX}_inbox": str(inbox), f"{OFFICE_INBOX}_inbox": str(office)}
    (directory / "connections.json").write_text(
        json.dumps({**urls, **inboxes}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return urls


def add_connections(directory: Path, connections: dict[str, str]) -> None:
    """Add (or replace) named connections in the sandbox's connections.json, e.g. the simulator's."""
    path = Path(directory) / "connections.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    known.update(connections)
    path.write_text(json.dumps(known, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
