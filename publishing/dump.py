"""The bulk dump: the catalogue and every open dataset's latest release in one zip archive,
assembled while it is sent instead of kept on disk.

A release's files never change once made, so the archive is only a list of them: a refresh
rewrites nothing (an archive rebuilt at every release copied gigabytes to change one dataset),
and the dump always holds exactly the latest releases the catalogue shows. The members are stored,
not deflated (the CSV and JSON have their `.gz` twins beside them), in a fixed order with a fixed
date, and each local header carries its member's CRC-32 and sizes (a release records each file's
CRC-32 beside its SHA-256), so the same releases give the same bytes, streaming readers (Java's
ZipInputStream) read it, the length is known before the first byte, and any byte range can be
sent on its own: a broken download resumes.

Written by hand rather than with zipstream-ng, which stamps each member with its file's mtime or
the current time (the bytes would depend on when a release was made) and writes data descriptors
after stored members, which streaming readers refuse. The format is PKWARE's APPNOTE, zip64
throughout.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lgsp.publishing.objectstore import ReleaseStore, StoreError
from lgsp.publishing.versions import Release, releases_dir

DUMP_NAME = "lgsp-open-data.zip"
CHUNK = 1 << 20
FORMAT = "lgsp-dump-2"  # part of the ETag: a change in how the archive is laid out changes it

_DOS_DATE = ((2020 - 1980) << 9) | (1 << 5) | 1  # 2020-01-01, 00:00: no clock in the bytes
_FLAGS = 0x0800  # names are UTF-8
_VERSION = 45  # zip64
_MADE_BY = (3 << 8) | _VERSION  # Unix, so the mode below is read
_MODE = 0o100644 << 16  # a regular file, readable when unzipped
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_ZIP64_LOCAL = struct.Struct("<HHQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_CENTRAL = struct.Struct("<HHQQQ")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")


@dataclass(frozen=True)
class Member:
    """One file of the archive: a release file (read when its bytes are sent, from this host or
    from the release store) or bytes in hand."""

    name: str
    size: int
    crc32: int
    path: Path | None = None
    data: bytes | None = None
    stored: Callable[[int, int], Iterator[bytes]] | None = None  # bytes [start, end) from the store

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end) of the member."""
        if self.data is not None:
            yield self.data[start:end]
            return
        if self.stored is not None:
            yield from self.stored(start, end)
            return
        assert self.path is not None
        with self.path.open("rb") as src:
            src.seek(start)
            left = end - start
            while left:
                chunk = src.read(min(CHUNK, left))
                if not chunk:
                    raise OSError(f"{self.path}: shorter than the {self.size} bytes listed")
                left -= len(chunk)
                yield chunk


_crcs: dict[tuple[str, int, int], int] = {}
_crcs_lock = threading.Lock()


def _file_crc(path: Path) -> int:
    """The CRC-32 of a file a release made before it recorded them, computed once per process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _crcs_lock:
        if key in _crcs:
            return _crcs[key]
    crc = 0
    with path.open("rb") as src:
        while chunk := src.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    with _crcs_lock:
        _crcs[key] = crc
    return crc


def _stored_crc(reader: Callable[[int, int], Iterator[bytes]], key: str, size: int) -> int:
    """The CRC-32 of a stored file a release made before it recorded them, read once per process."""
    with _crcs_lock:
        if (key, size, 0) in _crcs:
            return _crcs[(key, size, 0)]
    crc = 0
    for chunk in reader(0, size):
        crc = zlib.crc32(chunk, crc)
    with _crcs_lock:
        _crcs[(key, size, 0)] = crc
    return crc


def _in_hand(name: str, data: bytes) -> Member:
    return Member(name, len(data), zlib.crc32(data), data=data)


def members(
    home: Path, latest: Iterable[Release], catalogue: dict[str, bytes], store: ReleaseStore | None = None
) -> list[Member]:
    """The archive's members: the catalogue files (`catalog.jsonld`, `catalog.ttl`, as the caller
    serialised them from the same entries), then each release's folder: its descriptors read now,
    its data files by path with the CRC-32 the release recorded. A release this host does not
    have is read from `store` (the same names and bytes, so the same archive)."""
    found = [_in_hand(name, data) for name, data in sorted(catalogue.items())]
    for release in sorted(latest, key=lambda r: r.dataset):
        folder = releases_dir(home, release.dataset) / f"v{release.version}"
        prefix = f"{release.dataset}/v{release.version}/"
        listed = {d.file: d for d in release.distributions}
        if store is not None and not (folder / "release.json").exists():
            found += _stored_members(store, release, prefix)
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            known = listed.get(path.name)
            if known is None:  # release.json, datapackage.json: small, read whole
                found.append(_in_hand(prefix + path.name, path.read_bytes()))
            else:
                crc = known.crc32 if known.crc32 is not None else _file_crc(path)
                found.append(Member(prefix + path.name, known.bytes, crc, path=path))
    return found


def _stored_members(store: ReleaseStore, release: Release, prefix: str) -> list[Member]:
    """A release's folder as the store holds it: its files and its two descriptors, in name order
    (the order the folder's files have where the release was made)."""
    listed = {d.file: d for d in release.distributions}
    found = []
    for name in sorted([*listed, "datapackage.json", "release.json"]):
        key = store.key(release.dataset, release.version, name)
        known = listed.get(name)
        if known is None:
            data = store.get(key)
            if data is None:
                raise StoreError(f"{store.url}: thiếu / missing {key}", dataset=release.dataset, file=key)
            found.append(_in_hand(prefix + name, data))
        else:
            reader = functools.partial(store.read, key, sha256=known.sha256, size=known.bytes)
            crc = known.crc32 if known.crc32 is not None else _stored_crc(reader, key, known.bytes)
            found.append(Member(prefix + name, known.bytes, crc, stored=reader))
    return found


class Dump:
    """The archive of `parts`: its length, an ETag, and any range of its bytes."""

    def __init__(self, parts: list[Member]) -> None:
        self.parts = parts
        self._segments: list[tuple[int, int, Member | bytes]] = []  # (start, end, what)
        offset = 0
        central = []
        for m in parts:
            name = m.name.encode()
            head = _LOCAL.pack(0x04034B50, _VERSION, _FLAGS, 0, 0, _DOS_DATE, m.crc32, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(name), _ZIP64_LOCAL.size) + name + _ZIP64_LOCAL.pack(1, 16, m.size, m.size)  # fmt: skip
            self._add(offset, head)
            self._segments.append((offset + len(head), offset + len(head) + m.size, m))
            central.append(
                _CENTRAL.pack(0x02014B50, _MADE_BY, _VERSION, _FLAGS, 0, 0, _DOS_DATE, m.crc32, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(name), _ZIP64_CENTRAL.size, 0, 0, 0, _MODE, 0xFFFFFFFF)
                + name + _ZIP64_CENTRAL.pack(1, 24, m.size, m.size, offset)
            )  # fmt: skip
            offset += len(head) + m.size
        directory = b"".join(central)
        count = len(parts)
        tail = (
            directory
            + _END64.pack(0x06064B50, 44, _MADE_BY, _VERSION, 0, 0, count, count, len(directory), offset)
            + _LOCATOR.pack(0x07064B50, 0, offset + len(directory), 1)
            + _END.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        )
        self._add(offset, tail)
        self.size = offset + len(tail)

    def _add(self, start: int, data: bytes) -> None:
        self._segments.append((start, start + len(data), data))

    def __len__(self) -> int:
        return self.size

    @functools.cached_property
    def etag(self) -> str:
        """Changes with the layout (FORMAT), the names, sizes and CRCs, and the bytes held in
        hand (the catalogue, each release's release.json with the SHA-256 of every file)."""
        digest = hashlib.sha256(FORMAT.encode())
        for m in self.parts:
            digest.update(f"\0{m.name}\0{m.size}\0{m.crc32}\0".encode())
            if m.data is not None:
                digest.update(m.data)
        return f'"{digest.hexdigest()[:40]}"'

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes [start, end) of the archive (the whole of it by default)."""
        end = self.size if end is None else end
        for seg_start, seg_end, what in self._segments:
            if seg_end <= start or seg_start >= end:
                continue
            lo, hi = max(start, seg_start) - seg_start, min(end, seg_end) - seg_start
            if isinstance(what, bytes):
                yield what[lo:hi]
            else:
                yield from what.read(lo, hi)

    def __iter__(self) -> Iterator[bytes]:
        return self.read()


def write_dump(parts: list[Member], target: Path) -> int:
    """Write the archive of `parts` to `target` (for a mirror or a copy carried to another
    network); returns its size. Nothing is left behind if it fails."""
    dump = Dump(parts)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with tmp.open("wb") as out:
            for chunk in dump:
                out.write(chunk)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return len(dump)
