"""The exchange log: every sharing-API request, appended as one JSON line that carries the hash of
the line before it (SHA-256 over a canonical serialisation), so editing or deleting any line
breaks the chain. The head (entry count, last hash, file size) is kept in a second file, so
cutting lines off the end is detected too; its signed checkpoints are lgsp.sharing.checkpoints,
and checking all of it is lgsp.sharing.audit. In the cluster profile the same entries go to a
PostgreSQL table instead (lgsp.sharing.log_database), through the same writer (LogWriter).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lgsp.core.files import append_whole
from lgsp.sharing import checkpoints
from lgsp.web.problems import Unavailable

GENESIS = "0" * 64
HEAD_BYTES = 160  # the head is rewritten in place, padded to a fixed width: one write per entry


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8 (orjson, as when written)."""
    return orjson.dumps({k: v for k, v in entry.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)


def escaped(value: Any) -> Any:
    """`value` made writable as JSON whatever a request put in it: text that is not valid Unicode
    (a lone surrogate such as \\ud800) is kept as its escape sequence, keys become text, and
    anything JSON has no type for is written as its repr. What is logged is what was asked."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {escaped(k if isinstance(k, str) else repr(k)): escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escaped(v) for v in value]
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and -(2**63) <= value < 2**64):
        return value
    return escaped(repr(value))


class LogUnavailable(Unavailable):
    """The exchange log cannot be written: the sharing API refuses to serve until it can."""

    code = "log_unavailable"


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def stamp(moment: float) -> str:
    """A time as the log writes it: UTC, to the millisecond (`2026-12-07T06:30:30.385Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


def log_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "exchange-log.jsonl", directory / "exchange-log.head"


def read_head(path: Path) -> tuple[int, str]:
    if not path.exists() or not path.read_bytes().strip():
        return 0, GENESIS
    head = orjson.loads(path.read_bytes().strip())
    return int(head["count"]), str(head["hash"])


RETRY_WINDOW = 1.0  # seconds between tries while the log cannot be written
MAX_PENDING = 100_000  # entries kept in memory while the log cannot be written; beyond, refusals are counted


class Stored(threading.Event):
    """Set once the entry `LogWriter.append` handed over is stored (in the file, or committed in
    the database): a request is answered only then, so a server killed at any moment has logged
    every answer it gave."""


class LogWriter:
    """The writer both exchange logs share (the file, ExchangeLog; the PostgreSQL table,
    lgsp.sharing.log_database.DatabaseLog): they differ in how a batch is chained and stored.

    Requests hand their entry to one writer thread (a queue put: no lock and no write on the
    request path) and wait for it to be stored. The writer chains and stores everything that
    arrived in one write and updates the head once: group commit, so the entries that arrive while
    one batch is written go together in the next, and a busy server pays one write per batch, not
    per request. `flush()` returns once everything handed over before it is stored and the head is
    signed (the server flushes when it stops).

    It fails closed: if a batch cannot be written (disk full, a file gone read-only, a database
    down, anything), the writer keeps the entries, tries again every RETRY_WINDOW, and `healthy` is
    False until it succeeds; the API asks `check()` before every request and answers 503
    meanwhile. No input can stop it: an entry JSON cannot encode is written `escaped`.
    """

    def __init__(self) -> None:
        self._signed_at, self._unsigned = 0.0, False
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Stored] | threading.Event | None] = queue.SimpleQueue()
        self._failure: BaseException | None = None  # why the last write failed; None while writing works
        self._sign_error: BaseException | None = None  # why the last checkpoint failed
        self._unlogged = 0  # refusals beyond MAX_PENDING during an outage, written as one entry after it
        self._writer = threading.Thread(target=self._write_loop, name="exchange-log", daemon=True)
        self._writer.start()
        atexit.register(self.flush)

    def append(self, entry: dict[str, Any]) -> Stored:
        """Hand one entry to the writer (seq, prev_hash and hash are added as it is written); the
        event returned is set once it is stored."""
        stored = Stored()
        self._queue.put((entry, stored))
        return stored

    @property
    def healthy(self) -> bool:
        """Entries are being written: the writer runs and its last write succeeded."""
        return self._failure is None and self._sign_error is None and self._writer.is_alive()

    def check(self) -> None:
        """Raise LogUnavailable while entries cannot be written, so nothing is served unlogged."""
        if not self.healthy:
            failure = self._failure or self._sign_error
            why = f"{type(failure).__name__}: {failure}" if failure else "its writer stopped"
            raise LogUnavailable(
                "Nhật ký trao đổi tạm thời không ghi được; thử lại sau / the exchange log cannot be written "
                f"({why}); try again later"
            )

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every entry handed over so far is written; False if that took too long (or
        the log cannot be written now)."""
        if not self._writer.is_alive():
            return True
        written = threading.Event()
        self._queue.put(written)
        return written.wait(timeout)

    def _write_loop(self) -> None:
        pending: list[dict[str, Any]] = []  # entries not written yet (kept while writing fails)
        waiting: list[threading.Event] = []  # flushes to release once `pending` is written and signed
        stored: list[Stored] = []  # requests to release once `pending` is written
        stop = False
        while not stop or pending:
            try:
                # While something failed (or waits), wake to try again even if nothing new arrives.
                retrying = pending or self._failure or self._sign_error
                first = self._queue.get(timeout=RETRY_WINDOW) if retrying else self._queue.get()
            except queue.Empty:
                first = None if stop else threading.Event()  # nothing new: try the pending entries again
            batch = [first]
            while len(batch) < 100_000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = stop or None in batch
            for item in batch:
                if isinstance(item, tuple):
                    if len(pending) < MAX_PENDING:
                        pending.append(item[0])
                        stored.append(item[1])
                    else:  # only counted: its request is never told it was stored
                        self._unlogged += 1
                elif isinstance(item, threading.Event):
                    waiting.append(item)
            if pending:
                try:
                    self._write(pending)
                except Exception as exc:  # fail closed: keep the entries, refuse service, try again
                    self._failure = exc
                    if stop:
                        return
                    continue
                pending, self._failure = [], None
                for done in stored:
                    done.set()
                stored.clear()
                if self._unlogged:  # requests refused during a long outage, beyond what memory kept
                    pending, self._unlogged = (
                        [{"operation": "log_outage", "outcome": "unlogged", "rows": self._unlogged}],
                        0,
                    )
                    continue
            for done in stored:  # everything handed over before them is written
                done.set()
            stored.clear()
            if (waiting or self._sign_error) and self._unsigned:
                try:
                    self._sign_head()
                except Exception as exc:  # as for entries: refuse service until it works
                    self._sign_error = exc
                    if stop:
                        return
                    continue
            for event in waiting:
                event.set()
            waiting.clear()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """Chain and store `batch` whole or not at all, update the head, sign when due."""
        raise NotImplementedError

    def _sign_head(self) -> None:
        """A checkpoint of the head as it is now (at a flush, so the last entries are signed too)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close what the store holds open."""

    def _due(self) -> bool:
        return time.time() - self._signed_at >= checkpoints.SIGN_EVERY

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._writer.join(timeout=10)
        self._release()


def chain(batch: list[dict[str, Any]], count: int, previous: str) -> tuple[list[bytes], int, str]:
    """`batch` numbered from after `count` and linked from `previous`: each entry's JSON with its
    seq, prev_hash and hash (no newline), and the new count and last hash."""
    bodies = []
    for entry in batch:
        count += 1
        try:
            body = canonical({**entry, "seq": count, "prev_hash": previous})
        except TypeError:  # orjson's encode error: text that is not Unicode, a type JSON lacks
            body = canonical(escaped({**entry, "seq": count, "prev_hash": previous}))
        previous = hashlib.sha256(body).hexdigest()
        bodies.append(body[:-1] + b',"hash":"' + previous.encode() + b'"}')
    return bodies, count, previous


class ExchangeLog(LogWriter):
    """The exchange log as a file (the embedded profile): JSON lines appended under flock, which
    the writer takes before re-reading the head, so two servers on one host can share one log."""

    def __init__(self, directory: Path, signer: Ed25519PrivateKey | None = None) -> None:
        """`signer` signs checkpoints of the head (lgsp.sharing.checkpoints); the server passes the hub's."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path, self.head_path = log_paths(directory)
        self._log = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)  # read: its last line
        self._head = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o640)
        self._signer = signer
        self._checkpoints = (
            os.open(checkpoints.checkpoints_path(directory), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            if signer is not None
            else None
        )
        super().__init__()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """Chain and append `batch`, update the head, and sign a checkpoint when one is due. The
        batch is written whole or not at all (a failed write is cut back off), so a retry never
        appends it twice; a checkpoint that cannot be written fails closed without re-writing it."""
        fcntl.flock(self._log, fcntl.LOCK_EX)
        try:
            count, previous, end = self._settled_head()
            bodies, count, previous = chain(batch, count, previous)
            data = b"\n".join(bodies) + b"\n"
            start = append_whole(self._log, data)  # as if never written, if it fails: the batch is tried again
            if start != end:  # the file ended elsewhere than the chain was built on: never keep a fork
                with contextlib.suppress(OSError):
                    os.ftruncate(self._log, start)
                raise OSError(f"the log ended at byte {start:,} when written, not at {end:,} as read; tried again")
            head = orjson.dumps({"count": count, "hash": previous, "size": end + len(data)})
            head = head.ljust(HEAD_BYTES - 1) + b"\n"
            try:
                if os.pwrite(self._head, head, 0) != len(head):
                    raise OSError("the head was written short")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._log, end)
                raise
            self._unsigned = True
            if self._due():
                try:
                    self._checkpoint(count, previous)
                except Exception as exc:  # the entries stand; refuse service until a checkpoint is written
                    self._sign_error = exc
        finally:
            fcntl.flock(self._log, fcntl.LOCK_UN)

    def _settled_head(self) -> tuple[int, str, int]:
        """(count, last hash, file size) of the log. The head file says, when it matches the log's
        size (one small read per batch). A log shorter than its head records was cut (or is not the
        file the head describes): the chain goes on from the head, never from the start again, so
        `audit verify` names the missing entries and no checkpoint signs a second chain. A longer
        one: the process died between writing lines and head, and the log's last whole line says
        (a line cut short by the crash is removed)."""
        end = os.fstat(self._log).st_size
        raw = os.pread(self._head, HEAD_BYTES, 0).strip()
        head: dict[str, Any] = orjson.loads(raw) if raw else {"count": 0, "hash": GENESIS, "size": 0}
        if head.get("size") == end:
            return int(head["count"]), str(head["hash"]), end
        if isinstance(head.get("size"), int) and end < head["size"]:
            if end and os.pread(self._log, 1, end - 1) != b"\n":  # cut mid-line: that line stays apart
                append_whole(self._log, b"\n")
                end += 1
            return int(head["count"]), str(head["hash"]), end
        if end == 0:
            return 0, GENESIS, 0
        tail, start = b"", end
        while start > 0 and tail.count(b"\n") < 2:  # read back until a whole last line is in hand
            step = min(start, 8192)
            start -= step
            tail = os.pread(self._log, step, start) + tail
        if not tail.endswith(b"\n"):  # a partial last line: cut it off
            cut = tail.rfind(b"\n") + 1
            end = start + cut
            os.ftruncate(self._log, end)
            tail = tail[:cut]
            if not tail:
                return 0, GENESIS, end
        last = orjson.loads(tail[:-1].rsplit(b"\n", 1)[-1])
        return int(last["seq"]), str(last["hash"]), end

    def _checkpoint(self, count: int, last_hash: str) -> None:
        """Sign the head (count, last hash) into the checkpoint file; the caller holds the lock."""
        if self._signer is None or self._checkpoints is None:
            self._unsigned = False  # nothing to sign with
            return
        now = time.time()
        checkpoints.append(self._checkpoints, checkpoints.sign(self._signer, count, last_hash, stamp(now)))
        self._signed_at, self._unsigned, self._sign_error = now, False, None

    def _sign_head(self) -> None:
        """A checkpoint of the head as it is now (at a flush, so the last entries are signed too)."""
        fcntl.flock(self._log, fcntl.LOCK_EX)
        try:
            count, last_hash, _ = self._settled_head()
            self._checkpoint(count, last_hash)
        finally:
            fcntl.flock(self._log, fcntl.LOCK_UN)

    def _release(self) -> None:
        os.close(self._log)
        os.close(self._head)
        if self._checkpoints is not None:
            os.close(self._checkpoints)


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
