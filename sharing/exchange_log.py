"""The exchange log: every sharing-API request, appended as one JSON line that carries the hash of
the line before it (SHA-256 over a canonical serialisation), so editing or deleting any line
breaks the chain. The head (entry count and last hash) is kept in a second file, so cutting lines
off the end is detected too. `verify` names the first bad line and why; `export` gives a
department its datasets' entries for an audit.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

GENESIS = "0" * 64
HEAD_BYTES = 160  # the head is rewritten in place, padded to a fixed width: one write per entry


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8 (orjson, as when written)."""
    return orjson.dumps({k: v for k, v in entry.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def log_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "exchange-log.jsonl", directory / "exchange-log.head"


def read_head(path: Path) -> tuple[int, str]:
    if not path.exists() or not path.read_bytes().strip():
        return 0, GENESIS
    head = orjson.loads(path.read_bytes().strip())
    return int(head["count"]), str(head["hash"])


class ExchangeLog:
    """The appender used by the API: one lock for the threads of this process, flock for other
    processes; the head is re-read under the lock, so two servers can share one log."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path, self.head_path = log_paths(directory)
        self._log = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._head = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append one entry (seq, prev_hash and hash are added); returns it as written."""
        with self._lock:
            fcntl.flock(self._log, fcntl.LOCK_EX)
            try:
                raw = os.pread(self._head, HEAD_BYTES, 0).strip()
                head = orjson.loads(raw) if raw else {"count": 0, "hash": GENESIS}
                entry = {**entry, "seq": head["count"] + 1, "prev_hash": head["hash"]}
                body = canonical(entry)
                entry["hash"] = hashlib.sha256(body).hexdigest()
                os.write(self._log, body[:-1] + b',"hash":"' + entry["hash"].encode() + b'"}\n')
                new_head = orjson.dumps({"count": entry["seq"], "hash": entry["hash"]})
                os.pwrite(self._head, new_head.ljust(HEAD_BYTES - 1) + b"\n", 0)
            finally:
                fcntl.flock(self._log, fcntl.LOCK_UN)
        return entry

    def close(self) -> None:
        os.close(self._log)
        os.close(self._head)


@dataclass(frozen=True)
class Verdict:
    """The result of checking the chain: ok, how many entries, and the first problem."""

    ok: bool
    entries: int
    line: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"exchange log intact: {self.entries:,} entries, chain and head agree"
        where = f"line {self.line}: " if self.line else ""
        return f"exchange log TAMPERED: {where}{self.reason}"


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, start=1):
        yield number, line.rstrip("\n")


def verify(directory: Path) -> Verdict:
    """Check every line's hash, its link to the line before and its sequence number, then the
    head. Returns the first problem, naming the line."""
    path, head_path = log_paths(directory)
    expected_count, expected_hash = read_head(head_path)
    previous, count = GENESIS, 0
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            for number, line in _lines(handle):
                try:
                    entry = orjson.loads(line)
                    if not isinstance(entry, dict):
                        raise ValueError
                except ValueError:
                    return Verdict(False, count, number, "not a JSON entry (edited or corrupted)")
                if entry.get("seq") != number:
                    seq = entry.get("seq")
                    if isinstance(seq, int) and seq > number:
                        missing = f"entry {number}" if seq == number + 1 else f"entries {number}–{seq - 1}"
                        return Verdict(False, count, number, f"{missing} deleted (this line holds entry {seq})")
                    return Verdict(
                        False, count, number, f"holds entry {seq!r}, expected {number} (lines moved or inserted)"
                    )
                if entry.get("prev_hash") != previous:
                    return Verdict(
                        False, count, number,
                        f"prev_hash does not match line {number - 1}'s hash (line {number - 1} was edited and re-hashed)",
                    )  # fmt: skip
                if entry.get("hash") != entry_hash(entry):
                    return Verdict(False, count, number, "content does not match its hash (edited)")
                previous, count = entry["hash"], number
    if count < expected_count:
        gone = f"line {count + 1}" if expected_count == count + 1 else f"lines {count + 1}–{expected_count}"
        return Verdict(
            False, count, count + 1, f"{gone} deleted from the end (the head records {expected_count:,} entries)"
        )
    if count > expected_count or previous != expected_hash:
        return Verdict(False, count, count or None, f"the head records {expected_count:,} entries ending in "
                       f"{expected_hash[:12]}…, the log has {count:,} ending in {previous[:12]}…")  # fmt: skip
    return Verdict(True, count)


def entries(directory: Path) -> Iterator[dict[str, Any]]:
    path, _ = log_paths(directory)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def export(directory: Path, datasets: set[str], out: Any, header: dict[str, Any]) -> int:
    """Write the entries about `datasets` as JSON Lines (each with its seq, prev_hash and hash, so
    an auditor can check every entry's own hash against the full log), after a header line with
    the chain's verdict and head. Returns the number of entries written."""
    verdict = verify(directory)
    count, last = read_head(log_paths(directory)[1])
    out.write(orjson.dumps({**header, "datasets": sorted(datasets), "chain_ok": verdict.ok,
                            "chain": str(verdict), "head": {"count": count, "hash": last}}) + b"\n")  # fmt: skip
    written = 0
    for entry in entries(directory):
        if entry.get("dataset") in datasets:
            out.write(orjson.dumps(entry) + b"\n")
            written += 1
    return written
