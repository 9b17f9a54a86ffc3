"""A dataset run in three steps (extract, validate, publish) that pass only the run id between them.

The Airflow tasks and the CLI call these same functions, so a DAG holds no business logic. What
a step tells the next is the run manifest (lgsp.warehouse.runs), kept beside the staged rows: it
carries the contract as extract loaded it, once per run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from lgsp.connectors import registry
from lgsp.core import duck
from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.publishing.versions import Release, RunQuality
from lgsp.schemas.contract import Classification, Contract
from lgsp.schemas.loader import find_contract
from lgsp.submissions import ledger
from lgsp.submissions.ledger import SubmissionStatus
from lgsp.warehouse import changes, edits
from lgsp.warehouse.edits import RowEdit
from lgsp.warehouse.publish import Settle
from lgsp.warehouse.runs import RunManifest, RunRecord, RunStatus, Step, Validated
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import Warehouse, utcnow

log = logging.getLogger(__name__)
RUN_WAIT = 3600.0  # seconds a run waits for another run of the same dataset to finish
EDIT_WAIT = 120.0  # seconds a retraction or correction (someone waiting at a page) waits for a run of its dataset


def new_run_id(kind: str = "cli") -> str:
    """A run id for a run outside Airflow (`edit` for a retraction or correction): its start time,
    and a random part, since two runs can start within the clock's resolution (two `lgsp run` at
    once did, and one took the other's record)."""
    return f"{kind}__{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S.%f}Z_{secrets.token_hex(3)}"


def _settle(manifest: RunManifest) -> Settle | None:
    """For a run of submissions, what writes their outcome in the publishing transaction."""
    if "submissions" not in manifest.source_notes:
        return None
    superseded = {int(k): int(v) for k, v in manifest.source_notes.get("superseded", {}).items()}

    def settle(con: Any, stage: str | None, quarantine: str, status: RunStatus) -> bool:
        settled = ledger.settle(
            con,
            dataset_id=manifest.dataset_id,
            run_id=manifest.run_id,
            stage=stage,
            quarantine=quarantine,
            status=status.value,
            superseded=superseded,
        )
        return any(s.status is SubmissionStatus.REJECTED for s in settled)

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

    def extract(self, dataset_id: str, run_id: str, full: bool = False) -> RunManifest:
        """Pull the source into the run's staging; returns the run manifest, which carries the
        contract (loaded here, once per run) to the later steps. `full`: a derived dataset
        recomputes everything even where it could recompute only what changed."""
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
        state = {"cursor": cursor_from} if cursor_from else ({"full": True} if full else None)
        plan = connector.scan(config, state) if connector.scan else None
        if plan is not None:  # DuckDB reads the source itself, straight into the warehouse
            with self.warehouse.writer() as con:
                rows = staging.load_scan(con, contract, plan)
                notes.update(getattr(plan, "notes", {}))  # a derived scan: the input runs it read
                if "derived_from" in notes:
                    Warehouse.record_lineage(con, dataset_id, run_id, notes["derived_from"])
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
        merge = merge or notes.get("recompute", {}).get("mode") == "incremental"  # a derived run's groups
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
                    recompute=changes.Recompute.from_notes(manifest.source_notes),
                )
                if release and run.published and contract.classification is Classification.open:
                    run.release = self._release(con, contract, run)
        connector = registry.get(contract.source.kind)
        if connector.commit and run.finished:
            notes = manifest.source_notes if manifest else {}
            connector.commit(connector.configure(contract, self.settings), notes, run)
        staging.remove_files()
        return run

    def _release(self, con: Any, contract: Contract, run: RunRecord) -> int | str:
        """The open-data release of a freshly published run (its version), or why it failed:
        the data is published either way, and the release can be made again with `lgsp release`."""
        from lgsp.publishing.refresh import refresh

        try:
            return refresh(
                con, self.settings, contract, run.run_id, self.quality(run), self._inputs(con, contract, run)
            ).version
        except Exception as exc:
            return f"release failed: {exc}"

    def release(self, dataset_id: str) -> Release:
        """Release an open dataset's published table and regenerate the catalogue (a no-op for
        unchanged data); returns the release. The release is the latest published run's, whoever
        asks (`lgsp release`, Airflow's publishing DAG), so it links that run's report."""
        from lgsp.publishing.refresh import refresh

        contract = self.contract(dataset_id)
        with self.warehouse.writer() as con:
            run = Warehouse.latest_published(con, dataset_id)
            if run is None:  # a table no recorded run published (restored from a backup): no report to name
                return refresh(con, self.settings, contract, f"release__{new_run_id()}")
            return refresh(
                con, self.settings, contract, run.run_id, self.quality(run), self._inputs(con, contract, run)
            )

    @staticmethod
    def _inputs(con: Any, contract: Contract, run: RunRecord) -> dict[str, str | None] | None:
        """For a derived dataset, the input runs its run read (its release's lineage); else None."""
        if contract.source.kind != "derived":
            return None
        return Warehouse.lineage(con, contract.id, run.run_id)

    def quality(self, run: RunRecord) -> RunQuality:
        """What a published run found, as its release records it: its counts and its report's checks."""
        from lgsp.validation.report import Report, report_stem

        path = self.settings.reports_dir / run.dataset_id / f"{report_stem(run.run_id)}.json"
        checks = passed = None
        if path.exists():
            report = Report.model_validate_json(path.read_text(encoding="utf-8"))
            checks, passed = len(report.checks), sum(c.success for c in report.checks)
        return RunQuality(
            status=str(run.status),
            rows_published=run.rows_published or 0,
            rows_quarantined=run.rows_quarantined or 0,
            rows_warned=run.rows_warned or 0,
            rows_rejected=run.rows_rejected or 0,
            checks=checks,
            checks_passed=passed,
        )

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
            with duck.transaction(con):
                if publish:
                    run = publish_held(con, contract, run_id, by)
                else:
                    run = discard_held(con, dataset_id, run_id, by)
                ledger.confirm(con, dataset_id, run_id, published=publish, by=by)
            if run.published and contract.classification is Classification.open:
                run.release = self._release(con, contract, run)
        connector = registry.get(contract.source.kind)
        if connector.commit:
            connector.commit(connector.configure(contract, self.settings), {}, run)
        return run

    # -- retracting and correcting published rows ----------------------------------------------------

    def retract(self, dataset_id: str, key: dict[str, str], *, by: str, why: str) -> RowEdit:
        """Take the published row with `key` (primary-key column → value) out of the dataset now and
        from every later run until undone; recorded as a run, then released. Raises EditError."""
        return self._edit(dataset_id, lambda con, c, run_id: edits.retract(con, c, key, by=by, why=why, run_id=run_id))

    def correct(
        self, dataset_id: str, key: dict[str, str], values: dict[str, str | None], *, by: str, why: str
    ) -> RowEdit:
        """Replace values (column → new value as text, None for null) of the published row with
        `key`, now and in every later run until undone; recorded as a run, then released. Raises
        EditError."""
        return self._edit(
            dataset_id, lambda con, c, run_id: edits.correct(con, c, key, values, by=by, why=why, run_id=run_id)
        )

    def undo_edit(self, dataset_id: str, edit_id: int, *, by: str) -> RowEdit:
        """End an edit: the row is not restored now, the next run brings it back from the source.
        Recorded as a run (`unchanged`: the published rows are as they were). Raises EditError."""
        return self._edit(
            dataset_id, lambda con, c, run_id: edits.undo(con, edit_id, by=by, dataset_id=c.id), changes=False
        )

    def edit_history(self, dataset_id: str) -> list[RowEdit]:
        """Every retraction and correction of a dataset, undone ones included, oldest first."""
        with self.warehouse.reader() as con:
            return edits.history(con, dataset_id)

    def _edit(self, dataset_id: str, do: Callable[[Any, Contract, str], RowEdit], changes: bool = True) -> RowEdit:
        """One edit in one transaction with its run record (mode `edit`), under the dataset's run
        lock; then, when it changed the rows of an open dataset, its release."""
        contract = self.contract(dataset_id)
        run_id = new_run_id("edit")
        with self.running(dataset_id, EDIT_WAIT), self.warehouse.writer() as con:
            started = utcnow()
            with duck.transaction(con):
                edit = do(con, contract, run_id)
                count = (
                    con.execute(f"SELECT count(*) FROM main.{duck.quote(dataset_id)}").fetchone()
                    if duck.table_exists(con, "main", dataset_id)
                    else None
                )
                run = RunRecord(
                    run_id=run_id,
                    dataset_id=dataset_id,
                    mode="edit",
                    started_at=started,
                    ended_at=utcnow(),
                    status=RunStatus.PUBLISHED if changes else RunStatus.UNCHANGED,
                    rows_extracted=0,
                    rows_published=int(count[0]) if count else 0,  # the table's rows after it
                    rows_quarantined=0,
                    error=edits.describe(edit, contract),
                )
                Warehouse.record_run(con, run)
            with contextlib.suppress(duckdb.Error):  # as after a publish: nothing left to replay
                con.execute("CHECKPOINT")
            if changes and contract.classification is Classification.open:
                # The release names the last validated run (its quality badge); the edit is in the history.
                edit.release = self._release(con, contract, Warehouse.latest_published(con, dataset_id) or run)
        return edit

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
        self._commit_quietly(dataset_id, run)
        return run

    def _commit_quietly(self, dataset_id: str, run: RunRecord) -> None:
        """A failed run's source side, as far as it goes: files it rejected get their receipts."""
        try:
            contract = self.contract(dataset_id)
            connector = registry.get(contract.source.kind)
            if connector.commit:
                connector.commit(connector.configure(contract, self.settings), {}, run)
        except Exception as exc:  # the run has failed already; this must not hide why
            log.warning("%s: receipts of failed run %s not written: %s", dataset_id, run.run_id, exc)

    def run(
        self,
        dataset_id: str,
        run_id: str | None = None,
        release: bool = True,
        wait: float = RUN_WAIT,
        full: bool = False,
    ) -> RunRecord:
        """Extract, validate and publish in this process (and release, for an open dataset);
        returns the meta.runs record (never raises for a failed run: the record says why).
        `wait`: seconds to wait for another run of the dataset (a page waits less than a command);
        `full`: a derived dataset recomputes everything."""
        run_id = run_id or new_run_id()
        try:
            with self.running(dataset_id, wait):
                self.extract(dataset_id, run_id, full)
                self.validate(dataset_id, run_id)
                return self.publish(dataset_id, run_id, release=release)
        except Exception as exc:
            return self.fail(dataset_id, run_id, exc)

    def under_way(self, dataset_id: str) -> bool:
        """Whether a run of the dataset is between its steps (an Airflow run: its tasks are three
        processes, so the lock below cannot see it): a stage with a manifest less than RUN_WAIT old."""
        folder = self.settings.staging_dir / dataset_id
        now = dt.datetime.now(dt.UTC).timestamp()
        manifests = folder.glob("*/manifest.json") if folder.is_dir() else []
        return any(now - m.stat().st_mtime < RUN_WAIT for m in manifests)

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
