"""Releases in the release store: put there after they are made here, and read from there by a
host that does not have them ($LGSP_RELEASE_STORE; the client is lgsp.publishing.objectstore).

Order is what keeps a reader safe: a version's files, then its release.json, then (last of all)
the dataset's latest.json, so a replica that sees a latest pointer finds every file it names.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from pathlib import Path

from lgsp.core.settings import Settings
from lgsp.publishing.objectstore import ReleaseStore, StoreConflict
from lgsp.publishing.store_client import release_store
from lgsp.publishing.versions import (
    Release,
    latest_release,
    list_releases,
    public_columns,
    release_file,
    releases_dir,
)
from lgsp.schemas.loader import find_contract

log = logging.getLogger(__name__)
JSON = "application/json"
CACHE_BYTES = 4 << 30  # the release files a replica keeps in cache/releases/ for its readers
_locks: dict[str, threading.Lock] = {}  # one per cached file: a file is fetched once at a time
_locks_lock = threading.Lock()


def upload(settings: Settings, dataset_id: str) -> int:
    """Put the dataset's releases made here into the store (each version not there yet: the one
    just made, and any made before the store was set or while it was down), then point its
    latest.json at the newest; returns the files uploaded (0 without a store). A version with a
    column that is personal data now is never uploaded (the portal no longer serves it, and a key
    in the store cannot be taken back). Raises StoreError when the store cannot be reached and
    StoreConflict when a key holds other bytes: in both cases the store's latest.json is left as it was."""
    store = release_store(settings)
    if store is None:  # the default: nothing read, nothing imported
        return 0
    latest = latest_release(settings.home, dataset_id)
    if latest is None:
        return 0
    public = {c.name for c in public_columns(find_contract(settings.contracts_dir, dataset_id))}
    uploaded = 0
    for release in list_releases(settings.home, dataset_id):
        if not set(release.columns) <= public:
            log.warning("%s v%d: a column is personal data now: not uploaded", dataset_id, release.version)
        elif release.version <= latest.version:  # a newer one is a killed run's, not yet adopted
            uploaded += _upload_version(store, releases_dir(settings.home, dataset_id), release)
    if not set(latest.columns) <= public:
        return uploaded  # the pointer must never name a version that is not there
    pointer = releases_dir(settings.home, dataset_id) / "latest.json"
    for _ in range(5):  # written only over the pointer read: a racing writer makes us look again
        current, etag = store.pointer(dataset_id)
        if current is not None and current.version > latest.version:
            log.warning(
                "%s: the release store already points at v%d, newer than v%d here: left as it is",
                dataset_id,
                current.version,
                latest.version,
            )
            break
        if current == latest or store.put_pointer(store.key(dataset_id), pointer.read_bytes(), etag):
            break
    return uploaded


def _upload_version(store: ReleaseStore, root: Path, release: Release) -> int:
    """One version's files, release.json last; nothing when its release.json is there already
    (it is written after the files, so the files are there too)."""
    folder = root / f"v{release.version}"
    manifest = folder / "release.json"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    there = store.head(store.key(release.dataset, release.version, "release.json"))
    if there is not None:
        if there.sha256 == digest:
            return 0
        # Checked before any file goes up: another host made a different v<N> (a home not shared).
        raise StoreConflict(
            f"Khoá {store.url}{release.dataset}/v{release.version}/release.json đã có một bản phát hành khác: "
            f"không ghi đè / The key {store.url}{release.dataset}/v{release.version}/release.json already holds "
            f"another release: not overwritten",
            dataset=release.dataset,
            file=f"{store.url}{release.dataset}/v{release.version}/release.json",
        )
    listed = {d.file: d for d in release.distributions}
    count = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "release.json"):
        known = listed.get(path.name)
        media_type, sha256 = (known.media_type, known.sha256) if known else (JSON, None)
        count += store.put_immutable(store.key(release.dataset, release.version, path.name), path, media_type, sha256)
    count += store.put_immutable(store.key(release.dataset, release.version, "release.json"), manifest, JSON, digest)
    return count


def local_file(settings: Settings, release: Release, fmt: str) -> Path:
    """The release's file of format `fmt` on this host, for readers that need a file (DuckDB over
    the Parquet): where the release was made, else a copy fetched from the store into
    `cache/releases/` and checked against its SHA-256: once, however many requests want it at once
    (one lock per file), and kept while the cache stays under CACHE_BYTES (the least recently used
    copies go first). Raises StoreError when it cannot be fetched."""
    path = release_file(settings.home, release, fmt)
    store = release_store(settings, serving=True)
    if store is None or path.exists():
        return path
    root = settings.home / "cache" / "releases"
    cached = root / release.dataset / f"v{release.version}" / path.name
    with _locks_lock:
        lock = _locks.setdefault(str(cached), threading.Lock())
    with lock:
        if cached.exists():
            with contextlib.suppress(OSError):
                os.utime(cached)  # recently used
            return cached
        sha256 = release.distribution(fmt).sha256
        store.fetch(store.key(release.dataset, release.version, path.name), cached, sha256)
    _evict(root, keep=cached)
    return cached


def _evict(root: Path, keep: Path) -> None:
    """Remove the least recently used copies until the cache is under CACHE_BYTES (never `keep`,
    the copy a request is about to read; a reader that has a removed copy open still reads it)."""
    found = []
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.name.endswith(".tmp"):
                st = path.stat()
                found.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in found)
    for _, size, path in sorted(found, key=lambda f: f[0]):
        if total <= CACHE_BYTES:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size


def has_local(settings: Settings, dataset_id: str) -> bool:
    """Whether this host holds the dataset's releases itself (its latest.json): then they are read
    here, as without a store."""
    return (releases_dir(settings.home, dataset_id) / "latest.json").exists()
