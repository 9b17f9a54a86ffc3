"""The exchange log: every sharing-API request, appended as one JSON line that carries the hash of
the line before it (SHA-256 over a canonical serialisation), so editing or deleting any line
breaks the chain. The head (entry count and last hash) is kept in a second file, so cutting lines
off the end is detected too. `verify` names the first bad line and why; `export` gives a
department its datasets' entries for an audit.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import os
import queue
import threading
import time
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


GROUP_WINDOW = 0.05  # seconds between the writer's batches


class ExchangeLog:
    """The appender used by the API.

    Requests hand their entry to one writer thread (a queue put: no lock and no write on the
    request path). The writer wakes when an entry arrives, lets GROUP_WINDOW pass, then chains
    and appends everything that arrived in one write and updates the head once: group commit, so
    a busy server pays one write and two wake-ups of the writer per batch, not per request, and
    the writer seldom competes with the requests for the GIL. `flush()` returns once everything handed over before it is on
    disk (the server flushes when it stops).
    The writer takes flock on the log and re-reads the head, so two servers can share one log.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path, self.head_path = log_paths(directory)
        self._log = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._head = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o640)
        self._queue: queue.SimpleQueue[dict[str, Any] | threading.Event | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="exchange-log", daemon=True)
        self._writer.start()
        atexit.register(self.flush)

    def append(self, entry: dict[str, Any]) -> None:
        """Hand one entry to the writer (seq, prev_hash and hash are added as it is written)."""
        self._queue.put(entry)

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every entry handed over so far is written; False if that took too long."""
        if not self._writer.is_alive():
            return True
        written = threading.Event()
        self._queue.put(written)
        return written.wait(timeout)

    def _write_loop(self) -> None:
        while True:
            batch = [self._queue.get()]  # blocks only while nothing arrives at all
            if isinstance(batch[0], dict):
                time.sleep(GROUP_WINDOW)
            while len(batch) < 100_000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if isinstance(e, dict)]
            if entries:
                self._write(entries)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if None in batch:
                return

    def _write(self, batch: list[dict[str, Any]]) -> None:
        fcntl.flock(self._log, fcntl.LOCK_EX)
        try:
            raw = os.pread(self._head, HEAD_BYTES, 0).strip()
            head: dict[str, Any] = orjson.loads(raw) if raw else {"count": 0, "hash": GENESIS}
            count, previous = int(head["count"]), str(head["hash"])
            lines = []
            for entry in batch:
                count += 1
                body = canonical({**entry, "seq": count, "prev_hash": previous})
                previous = hashlib.sha256(body).hexdigest()
                lines.append(body[:-1] + b',"hash":"' + previous.encode() + b'"}\n')
            os.write(self._log, b"".join(lines))
            new_head = orjson.dumps({"count": count, "hash": previous})
            os.pwrite(self._head, new_head.ljust(HEAD_BYTES - 1) + b"\n", 0)
        finally:
            fcntl.flock(self._log, fcntl.LOCK_UN)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._writer.join(timeout=10)
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
    if not path.exists():
        count, _ = read_head(head_path)
        return Verdict(count == 0, 0, 1 if count else None, None if count == 0 else "the log file is gone")
    with path.open(encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # a live server appends under LOCK_EX: read a settled log
        try:
            return _verify(handle, *read_head(head_path))
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _verify(handle: TextIO, expected_count: int, expected_hash: str) -> Verdict:
    previous, count = GENESIS, 0
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
            return Verdict(False, count, number, f"holds entry {seq!r}, expected {number} (lines moved or inserted)")
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
    """Every entry, read under a shared lock (never half a batch the server is writing)."""
    path, _ = log_paths(directory)
    if not path.exists():
        return
    with path.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            lines = handle.readlines()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    for line in lines:
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
