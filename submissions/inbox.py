"""A department's inbox folder: which files in it are drops for which dataset, and taking them in.

File names match a contract's patterns without regard to case (`CHI_TIEU_Q1.CSV` is a
`chi_tieu_*.csv`); a file no contract of the folder matches stays where it is and is listed as
unmatched. A matched file leaves the inbox only once its bytes are in the archive, read back
with their hash, and its submission is in the ledger.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lgsp.submissions import ledger
from lgsp.submissions.archive import Archive, sha256
from lgsp.submissions.ledger import Channel, Submission
from lgsp.warehouse.store import Warehouse

RECEIPTS = "receipts"  # the inbox's subfolder where receipts are written for the department


def inbox_path(url: str) -> Path:
    """A connection's inbox folder: a plain path or a file:// URL."""
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    if re.match(r"^[a-z][a-z0-9+.-]*://", url):
        raise ValueError(f"a file-drop connection must be a folder path or a file:// URL, not '{url.split(':')[0]}:'")
    return Path(url)


def is_drop(path: Path) -> bool:
    """Office lock files, hidden and half-copied files are not drops, and neither is a link: a
    link in a shared folder could point the hub at any file it can read."""
    return (
        path.is_file()
        and not path.is_symlink()
        and not path.name.startswith(("~$", "."))
        and not path.name.endswith((".part", ".tmp"))
    )


def matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.casefold(), p.casefold()) for p in patterns)


def drops(inbox: Path) -> list[Path]:
    """Every file waiting in the inbox folder (not its receipts), in the order they arrived (by
    modification time, then name): the newest submission is the one that arrived last."""
    if not inbox.is_dir():
        return []
    found = [p for p in inbox.iterdir() if is_drop(p)]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


@dataclass(frozen=True)
class Taken:
    submission: Submission
    path: Path


def take(
    warehouse: Warehouse,
    archive: Archive,
    *,
    dataset_id: str,
    inbox: Path,
    patterns: list[str],
    connection: str,
    run_id: str,
) -> list[Taken]:
    """Archive and record every file of the inbox that matches `patterns`, then remove it from
    the inbox (only if its bytes did not change meanwhile). Returns the submissions made."""
    taken = []
    for path in drops(inbox):
        if not matches(path.name, patterns):
            continue
        data = path.read_bytes()
        checksum = archive.put(data)
        with warehouse.writer() as con:
            submission = ledger.receive(
                con,
                dataset_id=dataset_id,
                name=path.name,
                checksum=checksum,
                size=len(data),
                sender=f"inbox:{connection}",
                channel=Channel.INBOX,
                run_id=run_id,
            )
        try:
            if sha256(path.read_bytes()) == checksum:
                path.unlink()
        except FileNotFoundError:
            pass  # someone removed it meanwhile: its bytes are archived either way
        taken.append(Taken(submission, path))
    return taken


def receive_bytes(
    warehouse: Warehouse,
    archive: Archive,
    *,
    dataset_id: str,
    name: str,
    data: bytes,
    sender: str,
    channel: Channel,
    corrects: int | None = None,
) -> Submission:
    """A file uploaded on the department pages: archived and recorded, waiting for its run."""
    checksum = archive.put(data)
    with warehouse.writer() as con:
        return ledger.receive(
            con,
            dataset_id=dataset_id,
            name=Path(name).name,
            checksum=checksum,
            size=len(data),
            sender=sender,
            channel=channel,
            run_id=None,
            corrects=corrects,
        )
