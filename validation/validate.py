"""Validate a staged run with Great Expectations 1.x; failing rows are recorded, never dropped.

GX has no DuckDB datasource, so the staged rows are read back as Arrow batches, typed by the
contract, and validated as pandas frames indexed by the staged row id. A run that fits
`memory_budget` is one frame; a larger one goes batch by batch (memory stays flat), while
uniqueness and aggregate expectations see the whole run, but only the columns they need. A thread
reads the frames one ahead of GX, starting while GX itself is still being imported. Rows that
fail a `quarantine` check are written to the run's `failures` table with the check and the
reason; publishing leaves them out.
"""

from __future__ import annotations

import datetime as dt
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lgsp.core.duck import quote
from lgsp.schemas.contract import Contract, Severity
from lgsp.validation.admin_units import standardise
from lgsp.validation.declared import SAMPLE, name_other_rows, type_checks
from lgsp.validation.errors import ExpectationError
from lgsp.validation.expectations import PRIMARY_KEY, UNIQUENESS, Check, build_checks, columns_used, to_gx
from lgsp.validation.gx import load as load_gx
from lgsp.validation.report import Report
from lgsp.validation.tally import Tally, count, duplicate_keys, record
from lgsp.warehouse.staging import Staging

_AHEAD = 2  # frames alive at once: one checked by GX, one read ahead
_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": SAMPLE,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}


class _Gx:
    """An ephemeral GX context with one pandas dataframe asset; quiet and offline."""

    def __init__(self) -> None:
        gx = load_gx()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints every frame under 1 GB by hashing all of it (about 2 s per 10 million
        # rows), only to label the batch; our batches are labelled by the run id instead.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.gx = gx
        self.version = gx.__version__
        config = DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        asset = context.data_sources.add_pandas("lgsp").add_dataframe_asset("staged")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("run")

    def suite(self, name: str, checks: Iterable[Check]) -> Any:
        suite = self.gx.ExpectationSuite(name=name)
        for check in checks:
            expectation = to_gx(check.expectation)
            expectation.meta = {"lgsp_key": check.key}
            suite.add_expectation(expectation)
        return suite

    def validate(self, frame: Any, suite: Any) -> Any:
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, result_format=_RESULT_FORMAT)


def _pandas(data: pa.RecordBatch | pa.Table) -> Any:
    """A pandas frame indexed by the stage's row id, built without needless copies."""
    import pandas as pd

    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    index = table.column("__row").to_numpy()
    table = table.drop(["__row"])
    # split_blocks: no consolidation copy (0.7 s per 10 million rows otherwise).
    frame = table.to_pandas(split_blocks=True)
    nullable = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}
    for spec in table.schema:
        column = table.column(spec.name)
        if pa.types.is_integer(spec.type) and column.null_count:
            # Integers with nulls stay integers (pandas would turn them into floats).
            frame[spec.name] = column.to_pandas(types_mapper=nullable.get)
    frame.index = index
    return frame


def _narrow(data: pa.Table) -> pa.Table:
    """Integer keys that fit in 32 bits, as 32-bit integers: pandas finds duplicates among them
    2.5 times faster (a smaller hash table), and a uniqueness check does not see the type."""
    for i, spec in enumerate(data.schema):
        if spec.name == "__row" or not pa.types.is_int64(spec.type) or not data.num_rows:
            continue
        low, high = pc.min_max(data.column(i)).values()
        if low.is_valid and -(2**31) <= low.as_py() and high.as_py() < 2**31:
            data = data.set_column(i, spec.name, data.column(i).cast(pa.int32()))
    return data


def _prepare(contract: Contract) -> tuple[_Gx, list[Check]]:
    gx = _Gx()
    return gx, build_checks(contract)


def _row_bytes(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    """Bytes one row takes in pandas, estimated from a sample (strings vary by dataset)."""
    sample = con.execute(f"{sql} LIMIT 10000").to_arrow_table()
    return max(sample.nbytes / max(sample.num_rows, 1), 1.0) * 1.5  # pandas keeps some extra per value


class _Plan:
    """What to read for GX, decided from the contract alone so reading can start before GX loads.

    A run that fits the memory budget is one frame that every check sees ("all"). A larger run is
    read in batches for the row-level checks ("rows"), whole for the contract's own uniqueness
    expectations, in key order ("unique"), and whole again for any other whole-run check ("run"),
    each with only the columns its checks need. The primary key's uniqueness is not read into GX
    at all in a large run: DuckDB finds the duplicate keys (_duplicate_keys), so memory does not
    grow with the rows. `_AHEAD` frames may be alive at once (one checked, one read ahead), so a
    batch takes that share of the budget.
    """

    def __init__(
        self,
        contract: Contract,
        con: duckdb.DuckDBPyConnection,
        stage: str,
        rows: int,
        memory_budget: int,
        ready: Future[tuple[_Gx, list[Check]]],
    ) -> None:
        self.contract, self.stage, self.ready = contract, stage, ready
        self.every_column = columns_used(contract)
        per_row = _row_bytes(con, self.select(self.every_column))
        self.whole = rows * per_row <= memory_budget
        most = max(int(memory_budget // (_AHEAD * per_row)), 10_000)
        self.batch_rows = -(-rows // -(-rows // most)) if rows else most  # even batches, no small last one

    def select(self, columns: Iterable[str]) -> str:
        names = set(columns)
        wanted = [quote(c.name) for c in self.contract.columns if c.name in names]
        return f"SELECT {', '.join(['rowid AS __row', *wanted])} FROM {self.stage}"

    def __iter__(self) -> Iterator[tuple[str, str, int | None]]:
        """(kind, query, rows per batch or None for all at once)."""
        if self.whole:  # empty runs too: a row-count check must see them
            yield "all", self.select(self.every_column), None
            return
        unique = columns_used(self.contract, UNIQUENESS, implied_too=False)
        if unique:
            # Keys in order make pandas' duplicate search twice as fast; DuckDB sorts while GX loads.
            order = ", ".join(quote(k) for k in self.contract.primary_key)
            yield "unique", f"{self.select(unique)} ORDER BY {order}", None
        yield "rows", self.select(self.every_column), self.batch_rows
        _, checks = self.ready.result()
        run = [c for c in checks if _kind(c) == "run"]
        if run:
            yield "run", self.select(col for c in run for col in c.columns), None


def _kind(check: Check) -> str:
    """Which frames of a large run a check sees (see _Plan)."""
    if check.expectation.type in UNIQUENESS:
        return "unique"
    return "run" if check.run_scope else "rows"


class _ReadAhead:
    """Reads the plan's frames in a thread of its own, ahead of GX, so DuckDB's reading overlaps
    GX's import and checking; at most `_AHEAD` frames are alive at once."""

    _END = object()

    def __init__(self, con: duckdb.DuckDBPyConnection, plan: _Plan) -> None:
        self.cursor = con.cursor()  # a connection of its own to the same database, for this thread
        self.plan = plan
        self.slots = threading.Semaphore(_AHEAD)
        self.queue: queue.Queue[Any] = queue.Queue()
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            for kind, sql, batch_rows in self.plan:
                result = self.cursor.execute(sql)
                batches = result.to_arrow_reader(batch_rows) if batch_rows else [result.to_arrow_table()]
                for batch in batches:
                    if batch_rows and not batch.num_rows:
                        continue
                    while not self.slots.acquire(timeout=0.1):
                        if self.stopped.is_set():
                            return
                    if self.stopped.is_set():
                        return
                    self.queue.put((kind, _pandas(_narrow(batch) if kind == "unique" else batch)))
        except BaseException as exc:  # handed to the consumer, raised there
            self.queue.put(exc)
        finally:
            self.queue.put(self._END)
            self.cursor.close()

    def frames(self) -> Iterator[tuple[str, Any]]:
        while (item := self.queue.get()) is not self._END:
            if isinstance(item, BaseException):
                raise item
            yield item
            self.slots.release()

    def stop(self) -> None:
        self.stopped.set()


def validate(
    contract: Contract,
    con: duckdb.DuckDBPyConnection,
    staging: Staging,
    memory_budget: int = 512 * 2**20,
    *,
    province: str = "Quảng Trị",
    source_notes: dict[str, Any] | None = None,
) -> Report:
    """Validate the staged rows of a run (through `con`, the run file's connection); records quarantine
    findings in the run's failures table and returns the report.

    Raises ExpectationError when the contract's expectations are themselves invalid.
    """
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stage, failures_table = staging.stage, staging.failures_table
    with ThreadPoolExecutor(max_workers=2) as pool:
        # Importing GX takes seconds of one core: it runs while DuckDB checks the declared types,
        # standardises administrative units and reads the first rows for GX. Meanwhile DuckDB
        # works on one thread, so the import keeps a core to itself; it has them all again as
        # soon as GX is in (through a connection of the callback's own). In a process that has
        # imported GX already (lgsp run of several datasets, a warm worker) nothing is throttled:
        # changing DuckDB's threads costs tens of milliseconds, more than a small run's checks.
        threads = count(con, "SELECT current_setting('threads')")
        cold = "great_expectations" not in sys.modules
        if cold:
            con.execute("SET threads = 1")
        setter = con.cursor()
        importing = time.perf_counter()
        ready = pool.submit(_prepare, contract)
        if cold:
            ready.add_done_callback(lambda _: setter.execute(f"SET threads = {threads}"))
        reader = None
        try:
            rows = count(con, f"SELECT count(*) FROM {stage}")
            con.execute(f"DELETE FROM {failures_table}")
            results = type_checks(con, contract, staging, rows)
            results += standardise(con, contract, stage, failures_table, province, rows)
            # pandas keeps text in large_string arrays: DuckDB exports it so, sparing a copy of every value.
            con.execute("SET arrow_large_buffer_size = true")
            reader = _ReadAhead(con, _Plan(contract, con, stage, rows, memory_budget, ready))
            pool.submit(reader.run)
            gx, checks = ready.result()
            imported = time.perf_counter() - importing if cold else 0.0
            personal = set(contract.personal_columns)
            tallies = {c.key: Tally(c, personal=bool(personal & set(c.columns))) for c in checks}
            failures: list[pa.Table] = []
            warned: set[int] = set()
            suites: dict[str, list[Check]] = {"all": checks}
            plan_whole = reader.plan.whole
            for check in checks:
                if check.key == PRIMARY_KEY and not plan_whole:
                    duplicate_keys(con, contract, stage, tallies[check.key], failures, warned)
                    continue
                suites.setdefault(_kind(check), []).append(check)
            built = {kind: gx.suite(f"{contract.id}.{kind}", chosen) for kind, chosen in suites.items()}
            for kind, frame in reader.frames():
                if kind in built:
                    record(tallies, gx.validate(frame, built[kind]), failures, warned)
        finally:
            if reader is not None:
                reader.stop()
            if cold:
                con.execute(f"SET threads = {threads}")
    setter.close()
    con.execute("RESET arrow_large_buffer_size")
    if failures:
        con.register("found", pa.concat_tables(failures))
        con.execute(f"INSERT INTO {failures_table} SELECT * FROM found")
        con.unregister("found")
    results += [tallies[c.key].result("run" if c.run_scope else "row") for c in checks]
    broken = [r for r in results if r.error and r.severity != Severity.warn.value]
    if broken:
        # A check that cannot be evaluated cannot protect anything: fail rather than let rows by.
        raise ExpectationError(
            "Great Expectations could not evaluate "
            + "; ".join(f"{r.label}: {r.error}" for r in broken)
            + " (fix the contract's expectation or the column's declared type)",
            dataset=contract.id,
            field=broken[0].origin,
        )
    name_other_rows(con, contract, staging)
    quarantined = count(con, f"SELECT count(DISTINCT row) FROM {failures_table}")
    rows_warned = 0
    if warned:  # a warned row that is also quarantined is not published, so it is not "warned"
        con.register("warned", pa.table({"row": pa.array(sorted(warned), pa.int64())}))
        rows_warned = count(con, f"SELECT count(*) FROM warned WHERE row NOT IN (SELECT row FROM {failures_table})")
        con.unregister("warned")
    return Report(
        dataset=contract.id,
        run_id=staging.run_id,
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        rows=rows,
        checks=results,
        rows_quarantined=quarantined,
        rows_warned=rows_warned,
        great_expectations_version=gx.version,
        great_expectations_import_seconds=round(imported, 3),
        source_notes=source_notes or {},
    )
