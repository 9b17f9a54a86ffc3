"""The content-addressed archive: every submitted file's bytes, named by their SHA-256.

A file leaves a department's inbox only after its bytes are here and read back with the same
hash, so nothing sent is ever lost; the same bytes sent twice are kept once. A copy that went
missing or was damaged is written again from the next copy that arrives.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lgsp.core.settings import Settings
from lgsp.submissions.errors import SubmissionError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archive:
    """$LGSP_HOME/submissions/archive/<aa>/<sha256>."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.submissions_dir / "archive"

    def path(self, checksum: str) -> Path:
        return self.root / checksum[:2] / checksum

    def has(self, checksum: str) -> bool:
        """True only when the copy is there and its bytes still have this hash."""
        path = self.path(checksum)
        try:
            return path.is_file() and sha256(path.read_bytes()) == checksum
        except OSError:
            return False

    def put(self, data: bytes, checksum: str | None = None) -> str:
        """Keep `data` (written whole, synced, then read back and checked); returns its SHA-256."""
        checksum = checksum or sha256(data)
        if self.has(checksum):
            return checksum
        path = self.path(checksum)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{checksum}.{os.getpid()}.part")
        with partial.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        _sync_dir(path.parent)
        if not self.has(checksum):
            raise SubmissionError(
                f"bản lưu của tệp không khớp mã băm / the archived copy of {checksum[:12]}… does not read back "
                "with its hash; the file stays where it was",
                file=str(path),
            )
        return checksum

    def get(self, checksum: str) -> bytes:
        """The bytes of a submission; raises if the copy is missing or damaged."""
        try:
            data = self.path(checksum).read_bytes()
        except FileNotFoundError:
            raise SubmissionError(
                f"bản lưu của tệp bị mất / the archived copy of {checksum[:12]}… is missing; send the file again",
                file=str(self.path(checksum)),
            ) from None
        if sha256(data) != checksum:
            raise SubmissionError(
                f"bản lưu của tệp bị hỏng / the archived copy of {checksum[:12]}… is damaged; send the file again",
                file=str(self.path(checksum)),
            )
        return data


def _sync_dir(folder: Path) -> None:
    """Make a rename durable: sync the folder that holds the new name."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
