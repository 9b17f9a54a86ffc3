"""New files in the inbox: the drops that match the contract's patterns and are not archived yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.files.archive import archived_files, sha256
from lgsp.connectors.files.config import FilesConfig


def _candidates(config: FilesConfig) -> list[Path]:
    inbox = config.inbox
    if not inbox.is_dir():
        raise ConnectorError(
            f"the inbox folder {inbox} does not exist", dataset=config.dataset, connector=config.connection
        )
    found: set[Path] = set()
    for pattern in config.source.pattern:
        found.update(p for p in inbox.glob(pattern) if p.is_file())
    # Office lock files and half-copied files are not drops.
    return sorted(p for p in found if not p.name.startswith(("~$", ".")) and not p.name.endswith((".part", ".tmp")))


def new_files(config: FilesConfig, notes: dict[str, Any]) -> Iterator[tuple[Path, bytes, str]]:
    """New files of the inbox, with their bytes and checksum; duplicates are only noted."""
    archived = archived_files(config.inbox)
    seen: dict[str, str] = {}
    for path in _candidates(config):
        data = path.read_bytes()
        checksum = sha256(data)
        if checksum in archived or checksum in seen:
            notes["duplicates"].append(
                {"name": path.name, "sha256": checksum, "same_as": archived.get(checksum) or seen[checksum]}
            )
            continue
        seen[checksum] = path.name
        yield path, data, checksum
