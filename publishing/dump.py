"""The bulk dump: the catalogue and every open dataset's latest release in one zip archive,
assembled while it is sent instead of kept on disk.

A release's files never change once made, so the archive is only a list of them: a refresh
rewrites nothing (an archive rebuilt at every release copied gigabytes to change one dataset),
and the dump always holds exactly the latest releases. The members are stored, not deflated (the
CSV and JSON have their `.gz` twins beside them), in a fixed order with a fixed date, so the same
releases give the same bytes; the length is known before the first byte, so downloads show
progress.

Written by hand rather than with zipstream-ng, which stamps each member with its file's mtime or
the current time: the bytes would depend on when a release was made. The format is PKWARE's
APPNOTE: zip64 throughout, with a data descriptor after each member so its CRC-32 is computed as
it is sent rather than in a first pass over gigabytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lgsp.publishing.versions import releases_dir

DUMP_NAME = "lgsp-open-data.zip"
CATALOGUE_FILES = ("catalog.jsonld", "catalog.ttl")
CHUNK = 1 << 20

_DOS_DATE = ((2020 - 1980) << 9) | (1 << 5) | 1  # 2020-01-01, 00:00: no clock in the bytes
_FLAGS = 0x0808  # bit 3: sizes and CRC follow the data; bit 11: names are UTF-8
_VERSION = 45  # zip64
_MADE_BY = (3 << 8) | _VERSION  # Unix, so the mode below is read
_MODE = 0o100644 << 16  # a regular file, readable when unzipped
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_ZIP64_LOCAL = struct.Struct("<HHQQ")
_DESCRIPTOR = struct.Struct("<IIQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_CENTRAL = struct.Struct("<HHQQQ")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")


@dataclass(frozen=True)
class Member:
    """One file of the archive: a release file (read when its turn comes) or bytes in hand."""

    name: str
    size: int
    path: Path | None = None
    data: bytes | None = None

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with self.path.open("rb") as src:
            left = self.size
            while left:
                chunk = src.read(min(CHUNK, left))
                if not chunk:
                    raise OSError(f"{self.path}: shorter than the {self.size} bytes announced")
                left -= len(chunk)
                yield chunk


def members(home: Path, latest: Iterable[tuple[str, int]]) -> list[Member]:
    """The archive's members: the catalogue files as they are now (read at once, since a release
    may rewrite them while the archive is sent), then each (dataset, version)'s release folder."""
    root = home / "releases"
    found = []
    for name in CATALOGUE_FILES:
        if (root / name).exists():
            data = (root / name).read_bytes()
            found.append(Member(name, len(data), data=data))
    for dataset_id, version in sorted(latest):
        folder = releases_dir(home, dataset_id) / f"v{version}"
        for path in sorted(folder.iterdir()):
            if path.is_file():
                found.append(Member(f"{dataset_id}/v{version}/{path.name}", path.stat().st_size, path=path))
    return found


class Dump:
    """The archive of `parts`: its length, an ETag that changes only with the contents, and its bytes."""

    def __init__(self, parts: list[Member]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        local = sum(
            _LOCAL.size + len(m.name.encode()) + _ZIP64_LOCAL.size + m.size + _DESCRIPTOR.size for m in self.parts
        )
        central = sum(_CENTRAL.size + len(m.name.encode()) + _ZIP64_CENTRAL.size for m in self.parts)
        return local + central + _END64.size + _LOCATOR.size + _END.size

    def etag(self) -> str:
        """From the names, sizes and the bytes of the small members; a release file's name holds
        its dataset and version, which never change bytes once made."""
        digest = hashlib.sha256()
        for m in self.parts:
            digest.update(f"{m.name}\0{m.size}\0".encode())
            if m.data is not None:
                digest.update(m.data)
        return f'"{digest.hexdigest()[:32]}"'

    def __iter__(self) -> Iterator[bytes]:
        offset = 0
        central = []
        for m in self.parts:
            name = m.name.encode()
            head = _LOCAL.pack(0x04034B50, _VERSION, _FLAGS, 0, 0, _DOS_DATE, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name),
                               _ZIP64_LOCAL.size) + name + _ZIP64_LOCAL.pack(1, 16, 0, 0)  # fmt: skip
            yield head
            crc = 0
            for chunk in m.chunks():
                crc = zlib.crc32(chunk, crc)
                yield chunk
            yield _DESCRIPTOR.pack(0x08074B50, crc, m.size, m.size)
            central.append(
                _CENTRAL.pack(0x02014B50, _MADE_BY, _VERSION, _FLAGS, 0, 0, _DOS_DATE, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(name), _ZIP64_CENTRAL.size, 0, 0, 0, _MODE, 0xFFFFFFFF)
                + name + _ZIP64_CENTRAL.pack(1, 24, m.size, m.size, offset)
            )  # fmt: skip
            offset += len(head) + m.size + _DESCRIPTOR.size
        directory = b"".join(central)
        yield directory
        end64 = offset + len(directory)
        count = len(self.parts)
        yield _END64.pack(0x06064B50, 44, _MADE_BY, _VERSION, 0, 0, count, count, len(directory), offset)
        yield _LOCATOR.pack(0x07064B50, 0, end64, 1)
        yield _END.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


def write_dump(home: Path, latest: Iterable[tuple[str, int]], target: Path) -> int:
    """Write the archive of `latest` to `target` (for a mirror or a copy on another medium); returns its size."""
    dump = Dump(members(home, latest))
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("wb") as out:
        for chunk in dump:
            out.write(chunk)
    tmp.replace(target)
    return len(dump)
