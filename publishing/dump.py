"""The bulk dump: the whole catalogue and every open dataset's latest release in one archive.

Entries are sorted and stamped with a fixed date, so the same releases give the same bytes.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from lgsp.publishing.versions import latest_release, releases_dir

DUMP_NAME = "lgsp-open-data.zip"
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)


def write_dump(home: Path, dataset_ids: list[str]) -> Path:
    """(Re)write releases/lgsp-open-data.zip; returns its path."""
    root = home / "releases"
    members: list[tuple[str, Path]] = [(n, root / n) for n in ("catalog.jsonld", "catalog.ttl") if (root / n).exists()]
    for dataset_id in sorted(dataset_ids):
        release = latest_release(home, dataset_id)
        if release is None:
            continue
        folder = releases_dir(home, dataset_id) / f"v{release.version}"
        for path in sorted(folder.iterdir()):
            members.append((f"{dataset_id}/v{release.version}/{path.name}", path))
    target = root / DUMP_NAME
    tmp = root / f".{DUMP_NAME}.tmp"
    with zipfile.ZipFile(tmp, "w") as archive:
        for name, path in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16  # readable files when unzipped
            # Stored, not deflated: rebuilding the archive after every release must stay cheap
            # (deflating a 10-million-row CSV and JSON takes half a minute).
            info.compress_type = zipfile.ZIP_STORED
            with path.open("rb") as src, archive.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(src, out, 1 << 20)
    tmp.replace(target)
    return target


def dump_contents(path: Path) -> set[tuple[str, int]]:
    """(dataset, version) pairs the archive holds."""
    with zipfile.ZipFile(path) as archive:
        parts = [n.split("/") for n in archive.namelist() if n.count("/") == 2]
    return {(p[0], int(p[1][1:])) for p in parts}
