"""Build the sandbox province: one source database per department, the same bytes for the same seed."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox import db
from sandbox.db import Progress
from sandbox.departments import GENERATORS
from sandbox.mutate import mutate_department
from sandbox.schema import DEPARTMENTS, TABLES, Department

__all__ = ["DEPARTMENTS", "Department", "build_department", "build_province", "mutate_department", "sqlite_url"]

DEFAULT_SEED = 2026
DEFAULT_SCALE = 100_000
DEFAULT_DIRTY_SHARE = 0.02


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
                blocks = GENERATORS[name](seed, scale=scale, dirty_share=dirty_share)
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
    (directory / "connections.json").write_text(json.dumps(urls, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return urls
