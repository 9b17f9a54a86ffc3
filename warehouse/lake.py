"""The warehouse on DuckLake: its catalog in PostgreSQL, its data files in S3-compatible storage.

A connection is an in-memory DuckDB with the lake attached and `USE`d, so `main.<dataset>`,
`quarantine.<dataset>` and `meta.*` resolve inside it and a publish stays one DuckLake transaction.
Writers of different datasets work at once (from any host); runs of one dataset, and writers that
name no dataset, are serialised by PostgreSQL advisory locks on the catalog's server.

What DuckLake 1.0 (the ducklake extension of DuckDB 1.5.5) does with the warehouse's statements,
tried against real PostgreSQL and SeaweedFS:
- refused: PRIMARY KEY/UNIQUE (hence INSERT OR REPLACE and ON CONFLICT), sequences, indexes,
  user-defined types (ENUM), UNION columns, ALTER COLUMN TYPE other than widening;
- fine: CREATE TABLE AS, ALTER TABLE RENAME / ADD COLUMN [IF NOT EXISTS] / DROP COLUMN, rowid,
  CREATE TEMP TABLE (it lands in the in-memory database), DELETE … USING, INSERT … BY NAME, UPDATE,
  MERGE INTO, LIST/STRUCT/MAP columns, duckdb_tables(), DESCRIBE, one transaction creating,
  dropping, renaming and writing several tables, ATTACH of a run's file READ_ONLY before or inside
  a transaction that writes the lake, snapshots(), current_snapshot(), AT (VERSION => n);
- CHECKPOINT runs, but on a lake it is maintenance (compaction, expiry), not a log flush;
- conflicts, found at COMMIT: inserting into a table another transaction deleted from (or updated)
  since this one began, deleting from a file another deleted from, creating the same schema twice.
  Inserts into one table from two transactions, and different tables created, dropped or renamed,
  do not conflict.
So keys and sequences are left out of the lake's tables (ids come from PostgreSQL sequences), an
upsert is a DELETE and an INSERT, a publish only appends to the shared `meta` tables, and a
transaction that conflicts is tried again (`retry_conflicts`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import duckdb
import psycopg2
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from lgsp.core import duck
from lgsp.core.settings import Settings
from lgsp.warehouse.errors import WarehouseBusy, WarehouseError

log = logging.getLogger(__name__)

ALIAS = "lake"  # the lake's name in a connection: `lake.main.<dataset>`, `lake.snapshots()`
EXTENSIONS = ("httpfs", "aws", "postgres", "ducklake")
LOCK_SPACE = 0x6C67  # the first key of the hub's advisory locks ("lg"); the second is the dataset's
WHOLE = 0  # the second key of the whole warehouse's lock
CONFLICT_ATTEMPTS = 5
T = TypeVar("T")


def catalog_dsn(settings: Settings) -> str:
    """The catalog's connection as libpq takes it (an SQLAlchemy URL loses its `+driver`)."""
    assert settings.lake_catalog is not None
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", settings.lake_catalog.get_secret_value().strip())


def log_wait(waited: float, vi: str, en: str) -> None:
    """Note a wait for a writer lock (named `vi`, `en`): INFO from a second, with its seconds in
    the record's `waited` (how long other writers held this one up)."""
    if waited >= 0.01:
        log.log(
            logging.INFO if waited >= 1 else logging.DEBUG,
            "chờ %s %.2f s / waited %.2f s for %s",
            vi,
            waited,
            waited,
            en,
            extra={"waited": waited},
        )


def dataset_lock(dataset_id: str) -> int:
    """The second key of a dataset's advisory lock (never WHOLE)."""
    return (zlib.crc32(dataset_id.encode()) & 0x7FFFFFFF) or 1


def retry_conflicts(
    work: Callable[[], T], dataset: str | None = None, attempts: int = CONFLICT_ATTEMPTS, step: str = "write"
) -> T:
    """`work` (one transaction, the `step` its retries are logged as), tried again when its DuckLake
    commit loses to another writer's. Raises WarehouseError (transient) after `attempts` conflicts;
    any other error as it comes."""

    def note(state: RetryCallState) -> None:
        failed = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s (%s): xung đột khi ghi hồ dữ liệu, thử lại (%d) / lake commit conflicted, trying again (%d): %s",
            dataset or "warehouse",
            step,
            state.attempt_number,
            state.attempt_number,
            hide(str(failed).splitlines()[-1]) if failed else "",
        )

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception(duck.is_conflict),
            before_sleep=note,
            reraise=True,
        ):
            with attempt:
                return work()
    except duckdb.TransactionException as exc:
        if not duck.is_conflict(exc):
            raise
        raise WarehouseError(
            f"ghi hồ dữ liệu xung đột {attempts} lần với các lần ghi khác; chưa có gì thay đổi, hãy chạy lại / "
            f"the lake commit conflicted with other writers {attempts} times; nothing changed, run it again "
            f"({hide(str(exc).splitlines()[-1])})",
            dataset=dataset,
            transient=True,
        ) from exc
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


class _Catalog:
    """A session on the catalog's PostgreSQL: the advisory locks a writer holds (released when it
    ends, or when its process dies and the server drops it) and the sequences ids come from.

    TCP keepalives and no idle timeouts: a session that a firewall or the server dropped while a
    long publish ran would silently release its locks."""

    def __init__(self, dsn: str) -> None:
        try:
            self.pg = psycopg2.connect(
                dsn, keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3
            )
        except psycopg2.Error as exc:
            raise WarehouseError(
                f"không kết nối được danh mục hồ dữ liệu / cannot reach the lake's catalog ({hide(_first_line(exc), dsn)})",
                field="LGSP_LAKE_CATALOG",
                transient=True,
            ) from None
        self.pg.autocommit = True
        with self.pg.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = 0")
            if self.pg.server_version >= 140000:
                cur.execute("SET idle_session_timeout = 0")

    def lock(self, key: int, *, shared: bool, deadline: float) -> None:
        """Take an advisory lock, waiting until `deadline` (time.monotonic()); WarehouseBusy after.
        A blocking wait, not polling: PostgreSQL queues the waiters, so a writer of the whole
        warehouse waiting for the publishes under way is not overtaken by the ones that follow."""
        take = "pg_advisory_lock_shared" if shared else "pg_advisory_lock"
        wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
        with self.pg.cursor() as cur:
            cur.execute(f"SET lock_timeout = {wait_ms}")
            try:
                cur.execute(f"SELECT {take}(%s, %s)", [LOCK_SPACE, key])
            except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled):  # (a statement_timeout)
                raise WarehouseBusy("another process is writing this part of the lake", transient=True) from None
            finally:
                if not self.pg.closed:
                    cur.execute("SET lock_timeout = 0")

    def next_id(self, sequence: str) -> int:
        """The next number of `sequence` (meta.change_ids → PostgreSQL's lgsp_meta_change_ids)."""
        name = "lgsp_" + re.sub(r"\W", "_", sequence)
        with self.pg.cursor() as cur:
            try:
                cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {name}")
            except psycopg2.errors.UniqueViolation:  # another writer created it at the same moment
                pass
            cur.execute("SELECT nextval(%s)", [name])
            row = cur.fetchone()
            assert row is not None
            return int(row[0])

    def latest_snapshot(self) -> int | None:
        """The id of the lake's newest snapshot, read from the catalog's own table (cheap: no DuckDB)."""
        with self.pg.cursor() as cur:
            try:
                cur.execute("SELECT max(snapshot_id) FROM ducklake_snapshot")
            except psycopg2.errors.UndefinedTable:  # a lake never attached yet
                return None
            row = cur.fetchone()
            return None if row is None or row[0] is None else int(row[0])

    def close(self) -> None:
        self.pg.close()


_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_USERINFO = re.compile(r"(\w+://[^:/@\s]+):[^@\s]+@")


def hide(text: str, *secrets: str | None) -> str:
    """`text` without the `secrets` in it, nor any password of a connection string or URL."""
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return _USERINFO.sub(r"\1:***@", _PASSWORD.sub(r"\1***", text))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Lake:
    """Connections to the lake a hub's settings name (LGSP_LAKE_CATALOG, LGSP_LAKE_DATA_PATH, LGSP_S3_*)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dsn = catalog_dsn(settings)
        self.extensions = settings.home / "duckdb_extensions"

    def connect(self, read_only: bool = False, lock_timeout: float | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with the lake attached and in use; the S3 secret lives in its memory only.
        With `lock_timeout` (s), the catalog's statements give up waiting for a table lock after it
        (maintenance, which must not wait for ever behind a reader)."""
        s = self.settings
        con = duck.connect(
            memory_limit=s.duckdb_memory_limit,
            threads=s.duckdb_threads,
            temp_dir=s.home / "tmp",
            extension_dir=self.extensions / "installed",
        )
        try:
            duck.install_extensions(con, EXTENSIONS, self.extensions)
            if s.s3_key_id and s.s3_secret is not None:
                options = {
                    "KEY_ID": s.s3_key_id,
                    "SECRET": s.s3_secret.get_secret_value(),
                    "REGION": s.s3_region,
                    "USE_SSL": "true" if s.s3_use_ssl else "false",
                }
                if s.s3_endpoint:
                    options |= {"ENDPOINT": s.s3_endpoint, "URL_STYLE": "path"}
                given = ", ".join(f"{k} {duck.literal(v)}" for k, v in options.items())
                con.execute(f"CREATE OR REPLACE TEMPORARY SECRET lgsp_lake_s3 (TYPE s3, {given})")
            mode = ", READ_ONLY" if read_only else ""
            dsn = (
                self.dsn
                if lock_timeout is None
                else _with_options(self.dsn, f"-c lock_timeout={int(lock_timeout * 1000)}")
            )
            con.execute(
                f"ATTACH {duck.literal('ducklake:postgres:' + dsn)} AS {ALIAS} "
                f"(DATA_PATH {duck.literal(s.lake_data_path or '')}{mode})"
            )
            con.execute(f"USE {ALIAS}")
        except duckdb.Error as exc:
            con.close()
            raise WarehouseError(
                f"không mở được hồ dữ liệu / the lake cannot be opened ({self.hide(_first_line(exc))})",
                field="LGSP_LAKE_CATALOG",
                transient=True,
            ) from None
        return con

    def hide(self, text: str) -> str:
        """An error's text without the catalog's connection string or the S3 secret in it."""
        secret = self.settings.s3_secret.get_secret_value() if self.settings.s3_secret else None
        return hide(text, self.dsn, secret)

    @contextlib.contextmanager
    def _masked(self) -> Iterator[None]:
        """The one place a lake's errors lose their secrets: DuckDB's postgres extension puts the
        catalog's connection string in an error when it reconnects, and such a text would reach
        run records, logs and pages. Every error leaving a lake connection (and the errors it was
        raised from) is rewritten here."""
        try:
            yield
        except Exception as exc:
            seen: set[int] = set()
            error: BaseException | None = exc
            while error is not None and id(error) not in seen:
                seen.add(id(error))
                error.args = tuple(self.hide(a) if isinstance(a, str) else a for a in error.args)
                if isinstance(getattr(error, "message", None), str):
                    error.message = self.hide(error.message)  # type: ignore[attr-defined]
                error = error.__cause__ or error.__context__
            raise

    @contextlib.contextmanager
    def writer(self, dataset: str | None, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection writing the lake: `dataset`'s lock, then the whole warehouse's shared, or
        without a dataset the whole warehouse's, waited for up to `timeout` s. The dataset's first:
        a run queued behind another run of its dataset holds nothing that maintenance waits for.
        DuckDB's `lgsp_next_id` gives numbers of the catalog's sequences (lgsp.core.duck.next_id)."""
        with self._masked():
            catalog = _Catalog(self.dsn)
            try:
                asked = time.monotonic()
                deadline = asked + timeout
                if dataset is not None:
                    catalog.lock(dataset_lock(dataset), shared=False, deadline=deadline)
                catalog.lock(WHOLE, shared=dataset is not None, deadline=deadline)
                log_wait(
                    time.monotonic() - asked,
                    "khoá ghi hồ dữ liệu",
                    f"the lake's writer lock ({dataset or 'whole warehouse'})",
                )
                con = self.connect(lock_timeout=None if dataset is not None else timeout)
                try:
                    con.create_function(
                        "lgsp_next_id", catalog.next_id, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("BIGINT"),
                        side_effects=True,
                    )  # fmt: skip
                    yield con
                finally:
                    con.close()
            finally:
                catalog.close()

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection reading one snapshot of the lake (a transaction, rolled back: a reader
        changes nothing), without any lock: writers commit new snapshots meanwhile."""
        with self._masked():
            con = self.connect()
            try:
                con.execute("BEGIN TRANSACTION")
                yield con
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                con.close()

    def latest_snapshot(self) -> int | None:
        """The lake's newest snapshot id (None before its first commit): whether anything changed."""
        with self._masked():
            catalog = _Catalog(self.dsn)
            try:
                return catalog.latest_snapshot()
            finally:
                catalog.close()


def _with_options(dsn: str, options: str) -> str:
    """`dsn` (a libpq string or a postgresql:// URL) passing `options` (e.g. -c lock_timeout=…) to
    the server too, after any it already passes (a search_path, say)."""
    given = psycopg2.extensions.parse_dsn(dsn)
    given["options"] = f"{given['options']} {options}" if given.get("options") else options
    return psycopg2.extensions.make_dsn(**given)


def snapshot(con: duckdb.DuckDBPyConnection) -> int | None:
    """The lake snapshot the connection reads (None for the embedded DuckDB file)."""
    if not duck.is_lake(con):
        return None
    row = con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()
    return None if row is None else int(row[0])
