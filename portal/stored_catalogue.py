"""The release store's side of the open catalogue: the releases of the datasets this host has none
of, read by one background thread and swapped in whole, so that no request ever waits on the store
(a store that drops packets would otherwise freeze the event loop for a minute at each look)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from lgsp.core.settings import Settings
from lgsp.publishing.objectstore import ReleaseStore, StoreError
from lgsp.publishing.stored import has_local
from lgsp.publishing.versions import Release

log = logging.getLogger(__name__)
STORE_LOOK = 5.0  # seconds between looks at the release store's latest.json pointers
FIRST_WAIT = 10.0  # seconds a new catalogue waits for the first look (at start-up, off the event loop)


class StoredReleases:
    """What the store holds for the datasets not here: `releases` (dataset → its releases, oldest
    first) is replaced whole by the thread after each look, never changed in place."""

    def __init__(self, settings: Settings, store: ReleaseStore) -> None:
        self.settings = settings
        self.store = store
        self.releases: dict[str, list[Release]] = {}
        self._etags: dict[str, str] = {}  # each pointer's ETag as last read: later looks are conditional GETs
        self.read = threading.Event()  # set once a look has succeeded: until then the catalogue is not whole
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lgsp-release-store", daemon=True)

    def start(self, wait: float = FIRST_WAIT) -> None:
        """Start looking every STORE_LOOK seconds; wait at most `wait` for the first look."""
        self._thread.start()
        self.read.wait(wait)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.look()
            self._stop.wait(STORE_LOOK)

    def look(self) -> None:
        """Read every dataset's latest.json (in parallel) and the manifests not read before. A
        store that does not answer keeps what it said last; a dataset whose pointer or manifest
        does not parse keeps its last releases (logged): one bad object takes down nothing else."""
        try:
            names = [n for n in self.store.datasets() if not has_local(self.settings, n)]
        except StoreError as exc:
            log.error("%s", exc)
            return
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = dict(zip(names, pool.map(self._one, names), strict=True))
        self.releases = {n: r for n, (r, _) in found.items() if r}
        if all(answered for _, answered in found.values()):
            self.read.set()

    def _one(self, dataset: str) -> tuple[list[Release], bool]:
        """The dataset's releases in the store ([] without a pointer; its last ones when they could
        not be read), and whether the store answered."""
        known = self._etags.get(dataset)
        try:
            latest, etag = self.store.pointer(dataset, known)
            if latest is None and etag is not None and etag == known:  # unchanged (304): nothing read
                return self.releases.get(dataset, []), True
            found = self.store.releases(dataset, latest) if latest is not None else []
            if etag is not None:
                self._etags[dataset] = etag
            return found, True
        except StoreError as exc:
            log.error("%s", exc)
            return self.releases.get(dataset, []), False
        except ValueError as exc:  # pydantic's, for an object that does not parse: that dataset only
            log.error("%s: %s", dataset, exc)
            return self.releases.get(dataset, []), True
