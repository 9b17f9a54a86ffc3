"""The exchange log in PostgreSQL (the cluster profile): one hash chain, however many `lgsp serve`
replicas write it.

Each replica's writer appends a batch in one transaction that first locks the one-row head
(SELECT … FOR UPDATE): the replicas' batches take turns, each numbered and linked from the head
the one before committed, and `seq` is the primary key, so no two entries share a number. A
checkpoint signed in that transaction is committed with the entries it signs, or not at all.
Readers (`lgsp audit`, the statistics, the exports) read one snapshot of entries, head and
checkpoints while the replicas go on writing. The tables are lgsp.sharing.tables (migration 0004).

The `log_*` functions here are what every reader calls: they read the table in the cluster
profile and the file (lgsp.sharing.exchange_log) otherwise.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from lgsp.core.settings import Settings
from lgsp.sharing import checkpoints, registry, tables
from lgsp.sharing.exchange_log import ExchangeLog, LogWriter, chain, entries, log_paths, read_head, stamp

_log, _head, _checkpoints = tables.exchange_log, tables.exchange_log_head, tables.exchange_log_checkpoints


def in_database(settings: Settings) -> bool:
    """Whether the hub keeps its exchange log in the state database (the cluster profile)."""
    return settings.profile == "cluster" and settings.state_url is not None


def open_log(settings: Settings, signer: Ed25519PrivateKey | None = None) -> LogWriter:
    """The exchange log the server appends to: the table in the cluster profile, else the file."""
    if in_database(settings):
        return DatabaseLog(settings, signer)
    return ExchangeLog(settings.sharing_dir, signer)


class DatabaseLog(LogWriter):
    """The exchange log as rows of the state database, one chain for every replica."""

    def __init__(self, settings: Settings, signer: Ed25519PrivateKey | None = None) -> None:
        self._engine = registry.engine(settings)  # migrated on first use, as the registry is
        self._signer = signer
        super().__init__()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """Chain `batch` from the locked head, insert it, move the head and sign when due: one
        transaction, so a failure leaves nothing behind and the batch is tried again whole."""
        signed = None
        with _refused(), self._engine.begin() as con:
            count, previous = _locked_head(con)
            bodies, last, previous = chain(batch, count, previous)
            con.execute(insert(_log), [{"seq": count + i, "entry": b.decode()} for i, b in enumerate(bodies, 1)])
            con.execute(update(_head).where(_head.c.id == 1).values(count=last, hash=previous))
            if self._signer is not None and self._due():
                signed = self._checkpoint(con, last, previous)
        self._unsigned = self._signer is not None
        if signed is not None:
            self._signed_at, self._unsigned, self._sign_error = signed, False, None

    def _sign_head(self) -> None:
        """A checkpoint of the head as committed now (its lock keeps it in order with the appends)."""
        if self._signer is None:
            self._unsigned = False
            return
        with _refused(), self._engine.begin() as con:
            signed = self._checkpoint(con, *_locked_head(con))
        self._signed_at, self._unsigned, self._sign_error = signed, False, None

    def _checkpoint(self, con: Connection, count: int, last_hash: str) -> float:
        assert self._signer is not None
        now = time.time()
        con.execute(insert(_checkpoints).values(checkpoints.sign(self._signer, count, last_hash, stamp(now))))
        return now


class LogDatabaseError(OSError):
    """The state database did not take the log's write. Its message reaches API callers in the
    503, so it names the SQLSTATE only: never the statement, its entries or the server's address."""


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        code = getattr(exc.orig, "pgcode", None)
        if code is None or exc.connection_invalidated:
            raise LogDatabaseError("the state database cannot be reached") from exc
        raise LogDatabaseError(f"the state database refused the write (SQLSTATE {code})") from exc
    except SQLAlchemyError as exc:  # a pool timeout, a statement it could not build: no details either
        raise LogDatabaseError(f"the state database cannot be used ({type(exc).__name__})") from exc


LOCK_TIMEOUT = "10s"  # a replica stuck holding the head fails the others' writes (closed), never hangs them


def _locked_head(con: Connection) -> tuple[int, str]:
    """The head's (count, last hash), its row locked until the transaction ends: the replicas'
    writers queue here, so each batch goes on from the one committed before it."""
    if con.dialect.name == "postgresql":
        con.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    row = con.execute(select(_head.c.count, _head.c.hash).where(_head.c.id == 1).with_for_update()).one()
    return int(row[0]), str(row[1])


@contextlib.contextmanager
def snapshot(settings: Settings) -> Iterator[Connection]:
    """One consistent view of entries, head and checkpoints while the replicas write on
    (PostgreSQL: a read-only REPEATABLE READ transaction)."""
    con = registry.engine(settings).connect()
    try:
        if con.dialect.name == "postgresql":
            con = con.execution_options(isolation_level="REPEATABLE READ")
        with con.begin():
            if con.dialect.name == "postgresql":
                con.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield con
    finally:
        con.close()


def head(con: Connection) -> tuple[int, str]:
    row = con.execute(select(_head.c.count, _head.c.hash).where(_head.c.id == 1)).one()
    return int(row[0]), str(row[1])


def numbered(con: Connection) -> Iterator[tuple[int, str]]:
    """(row number in seq order, the entry's JSON as stored), streamed."""
    rows = con.execution_options(yield_per=5_000).execute(select(_log.c.entry).order_by(_log.c.seq))
    for number, row in enumerate(rows, start=1):
        yield number, row.entry


def kept_checkpoints(con: Connection) -> list[dict[str, Any]]:
    found = con.execute(select(_checkpoints).order_by(_checkpoints.c.id)).mappings()
    return [{k: v for k, v in row.items() if k != "id"} for row in found]


def log_entries(settings: Settings) -> Iterator[dict[str, Any]]:
    """Every entry of the hub's exchange log, in order."""
    if not in_database(settings):
        yield from entries(settings.sharing_dir)
        return
    for text in log_texts(settings):
        yield orjson.loads(text)


def log_texts(settings: Settings) -> Generator[str, None, None]:
    """Every entry of the table as the JSON text stored (for the statistics, which parse it)."""
    with snapshot(settings) as con:
        for _, text in numbered(con):
            yield text


def log_head(settings: Settings) -> tuple[int, str]:
    """The (count, last hash) the hub's exchange log records."""
    if not in_database(settings):
        return read_head(log_paths(settings.sharing_dir)[1])
    with snapshot(settings) as con:
        return head(con)


def log_checkpoints(settings: Settings) -> list[dict[str, Any]]:
    """The signed checkpoints of the hub's exchange log, oldest first."""
    if not in_database(settings):
        return checkpoints.read(checkpoints.checkpoints_path(settings.sharing_dir))
    with snapshot(settings) as con:
        return kept_checkpoints(con)
