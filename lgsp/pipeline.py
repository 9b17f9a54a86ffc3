"""A dataset run in three steps (extract, validate, publish) that pass only the run id between them.

The Airflow tasks and the CLI call these same functions, so a DAG holds no business logic. What
a step tells the next is the run manifest (lgsp.warehouse.runs), kept beside the staged rows: it
carries the contract as extract loaded it, once per run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from filelock import FileLock, Timeout

from lgsp.connectors import registry
from lgsp.core import duck
from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.publishing.versions import Release
from lgsp.schemas.contract import Classification, Contract
from lgsp.schemas.loader import find_contract
from lgsp.submissions import ledger
from lgsp.warehouse.publish import Settle
from lgsp.warehouse.runs import RunManifest, RunRecord, RunStatus, Step, Validated
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import Warehouse, utcnow

RUN_WAIT = 3600.0  # seconds a run waits for another run of the same dataset to finish


def new_run_id() -> str:
    """A run id for a run outside Airflow: its start time, and a random part, since two runs can
    start within the clock's resolution (two `lgsp run` at once did, and one took the other's record)."""
    return f"cli__{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S.%f}Z_{secrets.token_hex(3)}"


def _settle(manifest: RunManifest) -> Settle | None:
    """For a run of submissions, what writes their outcome in the publishing transaction."""
    if "submissions" not in manifest.source_notes:
        return None
    superseded = {int(k): int(v) for k, v in manifest.source_notes.get("superseded", {}).items()}

    def settle(con: Any, stage: str | None, quarantine: str, held: bool) -> None:
        ledger.settle(
            con,
            dataset_id=manifest.dataset_id,
            run_id=manifest.run_id,
            stage=stage,
            quarantine=quarantine,
            held=held,
            superseded=superseded,
        )

    return settle


class Pipeline:
    """Runs datasets described by contracts against one hub installation."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.warehouse = Warehouse(self.settings)

    def contract(self, dataset_id: str) -> Contract:
        return find_contract(self.settings.contracts_dir, dataset_id)

    def staging(self, dataset_id: str, run_id: str) -> Staging:
        return Staging(self.settings, dataset_id, run_id)

    # -- the three steps --------------------------------------------------------------------------

    def step(self, step: Step) -> Callable[..., RunManifest | RunRecord]:
        """The function that runs `step`: (dataset id, run id, options) -> manifest or run record."""
        steps: dict[Step, Callable[..., RunManifest | RunRecord]] = {
            Step.EXTRACT: self.extract,
            Step.VALIDATE: self.validate,
            Step.PUBLISH: self.publish,
        }
        return steps[step]

    def extract(self, dataset_id: str, run_id: str) -> RunManifest:
        """Pull the source into the run's staging; returns the run manifest, which carries the
        contract (loaded here, once per run) to the later steps."""
        started = utcnow()
        contract = self.contract(dataset_id)
        staging = self.staging(dataset_id, run_id)
        connector = registry.get(contract.source.kind)
        config = connector.configure(contract, self.settings)
        notes: dict[str, Any] = {"run_id": run_id}  # a source that records submissions names them after the run
        # The expectations are checked by the validate step (and `lgsp check`): importing Great
        # Expectations here would take CPU from the pull.
        with self.warehouse.writer() as con:
            staging.reset(con)
            cursor_from = Warehouse.cursor(con, dataset_id) if contract.incremental else None
            published = duck.table_exists(con, "main", dataset_id)
            merge = contract.merges(connector.full_each_run) and published
        state = {"cursor": cursor_from} if cursor_from else None
        plan = connector.scan(config, state) if connector.scan else None
        if plan is not None:  # DuckDB reads the source itself, straight into the warehouse
            with self.warehouse.writer() as con:
                rows = staging.load_scan(con, contract, plan)
        elif connector.load is not None:  # chunks staged as they arrive, each under a short lock
            sink = staging.chunk_sink(self.warehouse, contract)
            connector.load(config, state, notes, sink, staging.dir)
            with self.warehouse.writer() as con:
                rows = staging.finish(con)
        else:  # a stream: spooled without the writer lock, then moved in one copy
            spool = staging.spool(connector.extract(config, state, notes))
            with self.warehouse.writer() as con:
                rows = staging.load_spool(con, contract, spool)
        # Rows of files rejected whole, and rows a newer submission replaced, were sent too.
        rejected = int(notes.get("rows_rejected", 0))
        superseded = sum(int(n) for n in notes.get("superseded", {}).values())
        # Correction sheets send some rows again: merged by key, even into a dataset each file replaces.
        merge = merge or (published and bool(notes.get("corrections_only")))
        manifest = RunManifest(
            dataset_id=dataset_id,
            run_id=run_id,
            contract=contract,
            started_at=started,
            mode="incremental" if cursor_from or merge else "full",
            cursor_from=cursor_from,
            rows_extracted=rows + rejected + superseded,
            rows_rejected=rejected,
            rows_superseded=superseded,
            source_notes=notes,
        )
        return staging.write_manifest(manifest)

    def validate(self, dataset_id: str, run_id: str) -> RunManifest:
        """Validate the staged rows with Great Expectations; stores the report beside the run."""
        from lgsp.validation.validate import validate

        staging = self.staging(dataset_id, run_id)
        manifest = self._manifest(staging)
        with self.warehouse.writer() as con:
            report = validate(
                manifest.contract,
                con,
                staging,
                self.settings.validation_memory,
                province=self.settings.province,
                source_notes=manifest.source_notes,
            )
        html = report.save(self.settings.reports_dir / dataset_id)
        manifest.validated = Validated(
            report=str(html),
            rejected_by=[c.label for c in report.rejected_by],
            rows_warned=report.rows_warned,
            rows_failing=report.rows_quarantined,
        )
        return staging.write_manifest(manifest)

    def publish(self, dataset_id: str, run_id: str, release: bool = True) -> RunRecord:
        """Publish the validated run atomically; returns the meta.runs record. With `release`, an
        open dataset's release and the catalogue follow at once (Airflow leaves them to the
        publishing DAG that its Asset triggers)."""
        from lgsp.warehouse.publish import publish

        staging = self.staging(dataset_id, run_id)
        manifest = staging.read_manifest()
        contract = manifest.contract if manifest else self.contract(dataset_id)
        with self.warehouse.writer() as con:
            finished = Warehouse.run_record(con, dataset_id, run_id)
            if finished and finished.finished:
                # A retried task whose transaction had committed (the source's side failed after
                # it, e.g. archiving a file drop): only that side is left to do.
                run = finished
            else:
                if manifest is None or manifest.validated is None:
                    raise LgspError(f"run {run_id} has not been validated", dataset=dataset_id)
                run = RunRecord.start(manifest, dataset_id, run_id)
                publish(
                    con,
                    contract,
                    staging,
                    run,
                    rejected_by=manifest.validated.rejected_by,
                    incremental=manifest.mode == "incremental",
                    files_rejected=len(manifest.source_notes.get("rejected", [])),
                    settle=_settle(manifest),
                )
                if release and run.published and contract.classification is Classification.open:
                    run.release = self._release(con, contract, run_id)
        connector = registry.get(contract.source.kind)
        if connector.commit and run.finished:
            notes = manifest.source_notes if manifest else {}
            connector.commit(connector.configure(contract, self.settings), notes, run)
        staging.remove_files()
        return run

    def _release(self, con: Any, contract: Contract, run_id: str) -> int | str:
        """The open-data release of a freshly published run (its version), or why it failed:
        the data is published either way, and the release can be made again with `lgsp release`."""
        from lgsp.publishing.refresh import refresh

        try:
            return refresh(con, self.settings, contract, run_id).version
        except Exception as exc:
            return f"release failed: {exc}"

    def release(self, dataset_id: str) -> Release:
        """Release an open dataset's published table and regenerate the catalogue (a no-op for
        unchanged data); returns the release."""
        from lgsp.publishing.refresh import refresh

        contract = self.contract(dataset_id)
        with self.warehouse.writer() as con:
            return refresh(con, self.settings, contract, f"release__{new_run_id()}")

    def held(self, dataset_id: str | None = None) -> list[RunRecord]:
        """Runs held for review (they would have removed too many published rows)."""
        from lgsp.warehouse.review import held_runs

        with self.warehouse.reader() as con:
            return held_runs(con, dataset_id)

    def review(self, dataset_id: str, run_id: str, *, publish: bool, by: str) -> RunRecord:
        """Publish (and release) or discard a held run, with its submissions, in one transaction."""
        from lgsp.warehouse.review import discard_held, publish_held

        contract = self.contract(dataset_id)
        with self.running(dataset_id), self.warehouse.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                if publish:
                    run = publish_held(con, contract, run_id, by)
                else:
                    run = discard_held(con, dataset_id, run_id, by)
                ledger.confirm(con, dataset_id, run_id, published=publish, by=by)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if run.published and contract.classification is Classification.open:
                run.release = self._release(con, contract, run_id)
        connector = registry.get(contract.source.kind)
        if connector.commit:
            connector.commit(connector.configure(contract, self.settings), {}, run)
        return run

    def fail(self, dataset_id: str, run_id: str, error: BaseException) -> RunRecord:
        """Record a run that could not finish. Nothing was published and the cursor did not move.

        A run that already finished (published or rejected) keeps its record: clearing a finished
        task in Airflow must not turn published data into a "failed" run.
        """
        staging = self.staging(dataset_id, run_id)
        finished = self.warehouse.run(dataset_id, run_id)
        if finished and finished.finished:
            return finished
        run = RunRecord.start(staging.read_manifest(), dataset_id, run_id)
        message = (
            str(error)
            if isinstance(error, LgspError)
            else "".join(traceback.format_exception_only(type(error), error)).strip()
        )
        run.status, run.ended_at, run.rows_published, run.rows_quarantined = RunStatus.FAILED, utcnow(), 0, 0
        run.error = message
        run.started_at = run.started_at or run.ended_at
        with self.warehouse.writer() as con:
            staging.drop(con)  # staged rows may be personal data: they never outlive the run
            Warehouse.record_run(con, run)
        staging.remove_files()
        return run

    def run(self, dataset_id: str, run_id: str | None = None, release: bool = True) -> RunRecord:
        """Extract, validate and publish in this process (and release, for an open dataset);
        returns the meta.runs record (never raises for a failed run: the record says why)."""
        run_id = run_id or new_run_id()
        try:
            with self.running(dataset_id):
                self.extract(dataset_id, run_id)
                self.validate(dataset_id, run_id)
                return self.publish(dataset_id, run_id, release=release)
        except Exception as exc:
            return self.fail(dataset_id, run_id, exc)

    @contextlib.contextmanager
    def running(self, dataset_id: str, timeout: float = RUN_WAIT) -> Iterator[None]:
        """One run of a dataset at a time on this hub: a second `lgsp run` of it waits for the first
        (its stage would otherwise be dropped as a dead run's). Airflow runs a DAG once at a time."""
        self.settings.staging_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.settings.staging_dir / f"{dataset_id}.run.lock"))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LgspError(
                f"another run of {dataset_id} is under way; waited {timeout:.0f} s", dataset=dataset_id, transient=True
            ) from None
        try:
            yield
        finally:
            lock.release()

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _manifest(staging: Staging) -> RunManifest:
        manifest = staging.read_manifest()
        if manifest is None:
            raise LgspError(f"run {staging.run_id} has not been extracted", dataset=staging.dataset)
        return manifest
