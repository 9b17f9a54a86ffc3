"""What changed between two releases of a dataset: rows added, removed and changed, matched by
the contract's primary key and computed with DuckDB over the two releases' Parquet files.

A release never changes once made, so the counts are written once to
`releases/<dataset>/diffs/v<N>-<sha>.json` (beside the versions, not inside one: a version's
folder is what the bulk dump ships) and read from there afterwards. Only from the files this host
has: a replica reading its releases from the release store says the diff is unavailable rather
than fetch every Parquet file ever released for one anonymous request (a feed, a page).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

import duckdb

from lgsp.core.duck import literal, quote
from lgsp.core.settings import Settings
from lgsp.portal.access import Entry
from lgsp.publishing.versions import Release, release_file, releases_dir

_lock = threading.Lock()


@dataclass(frozen=True)
class Diff:
    against: int | None  # the previous version; None for the first release
    added: int
    removed: int
    changed: int
    columns_changed: bool = False  # the two releases do not have the same columns


def compute(settings: Settings, key: list[str], old: Release, new: Release) -> Diff:
    """Counts by primary key; a row is changed when any column both releases have differs. When
    the key itself changed, no row can be matched: all old rows are removed, all new ones added."""
    if not set(key) <= set(old.columns) & set(new.columns):
        return Diff(old.version, new.rows, old.rows, 0, columns_changed=True)
    common = [c for c in new.columns if c in old.columns and c not in key]
    on = " AND ".join(f"o.{quote(k)} = n.{quote(k)}" for k in key)
    differs = " OR ".join(f"o.{quote(c)} IS DISTINCT FROM n.{quote(c)}" for c in common) or "false"
    first = quote(key[0])
    sql = f"""
        SELECT count(*) FILTER (WHERE o.{first} IS NULL),
               count(*) FILTER (WHERE n.{first} IS NULL),
               count(*) FILTER (WHERE o.{first} IS NOT NULL AND n.{first} IS NOT NULL AND ({differs}))
        FROM read_parquet({literal(str(release_file(settings.home, old, "parquet")))}) o
        FULL OUTER JOIN read_parquet({literal(str(release_file(settings.home, new, "parquet")))}) n ON {on}
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        added, removed, changed = con.execute(sql).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    return Diff(old.version, int(added), int(removed), int(changed), set(old.columns) != set(new.columns))


def history(settings: Settings, entry: Entry) -> dict[int, Diff | None]:
    """Each visible release's diff against the visible release before it, cached on disk; None
    when a release's file cannot be read (the page still shows, saying so)."""
    out: dict[int, Diff | None] = {}
    key = list(entry.contract.primary_key)
    previous: Release | None = None
    for release in entry.releases:
        if previous is None:
            out[release.version] = Diff(None, release.rows, 0, 0)
        else:
            try:
                out[release.version] = _cached(settings, key, previous, release)
            except (duckdb.Error, OSError):
                out[release.version] = None
        previous = release
    return out


def _cached(settings: Settings, key: list[str], old: Release, new: Release) -> Diff:
    stamp = f"{old.distribution('parquet').sha256[:12]}-{new.distribution('parquet').sha256[:12]}"
    path = releases_dir(settings.home, new.dataset) / "diffs" / f"v{new.version}-against-v{old.version}-{stamp}.json"
    if path.exists():
        try:
            return Diff(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError):  # a torn or foreign file: compute again
            pass
    for release in (old, new):  # never fetched from the release store for a request
        if not release_file(settings.home, release, "parquet").exists():
            raise FileNotFoundError(release_file(settings.home, release, "parquet"))
    diff = compute(settings, key, old, new)
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(asdict(diff)), encoding="utf-8")
        tmp.replace(path)
    return diff
