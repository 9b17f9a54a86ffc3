"""Who may see what, in one place: the open catalogue shows only open, released datasets and
only their public columns. (The agency-sharing API will add authenticated access here.)

The releases are read where they were made ($LGSP_HOME/releases) or, for a dataset this host has
none of, from the release store ($LGSP_RELEASE_STORE), so replicas on other hosts list the same."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lgsp.core.settings import Settings
from lgsp.portal.stored_catalogue import StoredReleases
from lgsp.publishing.objectstore import StoreError
from lgsp.publishing.store_client import release_store
from lgsp.publishing.stored import has_local
from lgsp.publishing.versions import Release, list_releases, public_columns, releases_dir
from lgsp.schemas.contract import Classification, Column, Contract
from lgsp.schemas.loader import contract_files, problems_in

log = logging.getLogger(__name__)
NOT_READ = "Kho bản phát hành chưa được đọc lần nào / The release store has not been read yet"


@dataclass(frozen=True)
class Entry:
    """An open dataset as the public sees it: its contract and its releases, oldest first."""

    contract: Contract
    releases: list[Release]

    @property
    def stamp(self) -> tuple[tuple[str, int, str], ...]:
        return tuple((self.contract.id, r.version, r.distributions[0].sha256) for r in self.releases)

    @property
    def latest(self) -> Release:
        return self.releases[-1]

    @property
    def columns(self) -> list[Column]:
        return public_columns(self.contract)


class OpenCatalogue:
    """The open datasets, reloaded when a contract or a release changes on disk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stamp: frozenset[tuple[str, int]] = frozenset()
        self._entries: dict[str, Entry] = {}
        self._checked = 0.0
        self._interval = 1.0
        self._loaded = False
        self._lock = threading.Lock()
        self.generation = 0  # bumped at every reload: what answers built from entries are cached by
        self.store = release_store(settings, serving=True)
        self.stored: StoredReleases | None = None  # the store's releases of each dataset not here
        if self.store is not None:
            self.stored = StoredReleases(settings, self.store)
            self.stored.start()

    def _fingerprint(self) -> frozenset[tuple[str, int]]:
        """Every contract's and every latest.json's modification time, by scandir and stat on
        plain strings: at 5,000 datasets a Path glob cost 190 ms, this about a quarter of it; and
        with a release store, the version its latest.json names for each dataset not here."""
        found = []
        try:
            with os.scandir(self.settings.contracts_dir) as listing:
                for e in listing:
                    if e.name.endswith((".yaml", ".yml")):
                        try:
                            found.append((f"c/{e.name}", e.stat().st_mtime_ns))
                        except OSError:  # removed meanwhile, or a broken link: the next look sees it
                            found.append((f"c/{e.name}", -1))
        except FileNotFoundError:
            pass
        releases = str(self.settings.home / "releases")
        names = []
        try:
            with os.scandir(releases) as listing:
                names = [e.name for e in listing if e.is_dir()]
        except FileNotFoundError:
            pass
        local = set()
        for name in names:
            try:
                found.append((name, os.stat(f"{releases}/{name}/latest.json").st_mtime_ns))
                local.add(name)
            except FileNotFoundError:
                continue  # a dataset being released for the first time
        if self.stored is not None:  # what the background thread read last: no store I/O here
            found += [(f"s3/{name}", r[-1].version) for name, r in self.stored.releases.items() if name not in local]
            found.append(("s3/read", int(self.stored.read.is_set())))
        return frozenset(found)

    def entries(self) -> dict[str, Entry]:
        """Visible datasets by id (open, valid contract, at least one release); the files are
        looked at again at most once a second, or less often (at most every 10 s) when looking
        costs more than 2 % of one thread's time (a catalogue of thousands of datasets). One
        thread looks while the others go on with the entries they have."""
        now = time.monotonic()
        if now - self._checked < self._interval and self._loaded:
            return self._entries
        if not self._lock.acquire(blocking=not self._loaded):
            return self._entries  # another thread is looking
        try:
            if time.monotonic() - self._checked < self._interval and self._loaded:
                return self._entries
            self._checked = time.monotonic()
            spent = time.thread_time()
            stamp = self._fingerprint()
            self._interval = min(10.0, max(1.0, 50 * (time.thread_time() - spent)))
            if stamp != self._stamp or not self._loaded:
                self._reload(stamp)
            return self._entries
        finally:
            self._lock.release()

    def _reload(self, stamp: frozenset[tuple[str, int]]) -> None:
        """Parse the contracts and read the releases again (a new generation)."""
        entries = {}
        for path in contract_files(self.settings.contracts_dir):
            contract, _ = problems_in(path)
            if contract is None or contract.classification is not Classification.open:
                continue
            public = {c.name for c in public_columns(contract)}
            made = self._releases(contract.id)
            # A release made before a column became personal data is never served again.
            history = [r for r in made if set(r.columns) <= public]
            if history:
                entries[contract.id] = Entry(contract, history)
        self._entries, self._stamp, self._loaded = entries, stamp, True
        self.generation += 1

    def _releases(self, dataset_id: str) -> list[Release]:
        """The dataset's releases, oldest first: this host's, else the store's as last read. Raises
        StoreError (a 503) for a dataset this host has none of while the store has never been read:
        an empty catalogue must not pass for the real one."""
        if self.stored is None or has_local(self.settings, dataset_id):
            return list_releases(self.settings.home, dataset_id)
        if not self.stored.read.is_set() and dataset_id not in self.stored.releases:
            raise StoreError(NOT_READ, dataset=dataset_id)
        return self.stored.releases.get(dataset_id, [])

    def close(self) -> None:
        """Stop looking at the release store (the app's shutdown)."""
        if self.stored is not None:
            self.stored.stop()

    def get(self, dataset_id: str) -> Entry | None:
        return self.entries().get(dataset_id)

    def release_file(self, dataset_id: str, version: int, file: str) -> tuple[Release, Path] | None:
        """A released file, if the dataset is visible and the release has that file, with where
        this host keeps it (a path that may not exist: the release is then in the store)."""
        entry = self.get(dataset_id)
        if entry is None:
            return None
        release = next((r for r in entry.releases if r.version == version), None)
        if release is None or file not in {d.file for d in release.distributions}:
            return None
        return release, releases_dir(self.settings.home, dataset_id) / f"v{version}" / file
