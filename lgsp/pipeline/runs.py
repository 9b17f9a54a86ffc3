"""A dataset run in three steps (extract, validate, publish) that pass only the run id between them.

The Airflow tasks and the CLI call these same functions, so a DAG holds no business logic. What
a step tells the next is the run manifest (lgsp.warehouse.runs), kept beside the staged rows: it
carries the contract as extract loaded it, once per run.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from lgsp.connectors import registry
from lgsp.core import duck
from lgsp.core.duck import quote
from lgsp.core.errors import LgspError
from lgsp.pipeline.base import RUN_WAIT, new_run_id
from lgsp.pipeline.stewardship import Stewardship
from lgsp.schemas.contract import Classification, Contract, DeleteMode
from lgsp.submissions import ledger
from lgsp.submissions.ledger import SubmissionStatus
from lgsp.warehouse import changes
from lgsp.warehouse.deletions import Deletions
from lgsp.warehouse.lake import retry_conflicts
from lgsp.warehouse.publish import Settle
from lgsp.warehouse.runs import RunManifest, RunRecord, RunStatus, Step, Validated
from lgsp.warehouse.staging import RUN_DB, Staging
from lgsp.warehouse.store import Warehouse, utcnow

log = logging.getLogger(__name__)


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


class Pipeline(Stewardship):
    """Runs datasets described by contracts against one hub installation: the three steps and a
    whole run; holds, reviews and row edits come from `Stewardship`."""

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
        staging.reset()
        # What the warehouse knows of the dataset is read under a short lock; the pull itself works
        # in the run's own file, so a long one holds up no other dataset (lgsp.warehouse.staging).
        with self.warehouse.writer(dataset=dataset_id) as con:
            cursor_from = Warehouse.cursor(con, dataset_id) if contract.incremental else None
            published = duck.table_exists(con, "main", dataset_id)
            deletes_from = Warehouse.deletes_cursor(con, dataset_id)
            self._copy_catalogues(con, contract, staging)
        merge = contract.merges(connector.full_each_run) and published
        state = {"cursor": cursor_from} if cursor_from else ({"full": True} if full else None)
        plan = connector.scan(config, state) if connector.scan else None
        # The expectations are checked by the validate step (and `lgsp check`): importing Great
        # Expectations here would take CPU from the pull.
        if plan is not None and getattr(plan, "reads_warehouse", False):
            # A derived dataset reads published tables: it needs the lock while it computes. On a
            # lake, the whole warehouse's: no input publishes while it reads, so its rows and the
            # input runs its lineage names come from one snapshot.
            with (
                self.warehouse.writer(dataset=None if self.settings.lake else dataset_id) as con,
                staging.attached(con),
            ):
                self._read_deletions(con, contract, config, staging if merge else None, notes, deletes_from)
                rows = staging.load_scan(con, contract, plan, merge)
                notes.update(getattr(plan, "notes", {}))  # the input runs it read
                if "derived_from" in notes:
                    Warehouse.record_lineage(con, dataset_id, run_id, notes["derived_from"])
        else:
            with staging.connect() as con:
                # The keys the source deleted, read before its rows (the rows win).
                self._read_deletions(con, contract, config, staging if merge else None, notes, deletes_from)
                if plan is not None:  # DuckDB reads the source itself, straight into the stage
                    rows = staging.load_scan(con, contract, plan, merge)
                    notes.update(getattr(plan, "notes", {}))
                elif connector.load is not None:  # typed chunk by chunk, at the connector's pace
                    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]  # type: ignore[index]
                    con.execute("SET threads = 1")  # the sink runs in the connector's thread
                    connector.load(config, state, notes, staging.chunk_sink(con, contract), staging.dir)
                    con.execute(f"SET threads = {int(threads)}")
                    rows = staging.finish(con)
                else:  # a stream: spooled as it comes, then typed in one copy
                    rows = staging.spool(con, connector.extract(config, state, notes), contract, merge)
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

    @staticmethod
    def _read_deletions(
        con: Any, contract: Any, config: Any, staging: Staging | None, notes: dict[str, Any], cursor_from: str | None
    ) -> None:
        """For a contract with `incremental.deletes`: a merging run (`staging`) puts the keys its source
        deleted in the run's deletes table (a soft-delete marker comes with the rows, in staging); a
        full load of tombstones notes only where they stand, so that later runs skip the older ones."""
        deletes = contract.incremental.deletes if contract.incremental else None
        if deletes is None or (staging is None and deletes.mode is not DeleteMode.tombstones):
            return
        if deletes.mode is DeleteMode.soft_delete:
            notes["deletes"] = {"mode": deletes.mode.value, "column": deletes.column}
            return
        read = registry.deletions(contract.source.kind)
        table = staging.deletes_table if staging else None
        notes["deletes"] = read(config, contract, con, table, cursor_from)

    def validate(self, dataset_id: str, run_id: str) -> RunManifest:
        """Validate the staged rows with Great Expectations; stores the report beside the run."""
        from lgsp.validation.validate import validate

        staging = self.staging(dataset_id, run_id)
        manifest = self._manifest(staging)
        with staging.connect() as con:
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

    def publish(self, dataset_id: str, run_id: str, release: bool = True, upload: bool = True) -> RunRecord:
        """Publish the validated run atomically; returns the meta.runs record. With `release`, an
        open dataset's release and the catalogue follow at once (Airflow leaves them to the
        publishing DAG that its Asset triggers), and with `upload` its upload to the release store
        once the writer lock is released (`run` does that after the run lock too)."""
        from lgsp.warehouse.publish import publish

        staging = self.staging(dataset_id, run_id)
        manifest = staging.read_manifest()
        contract = manifest.contract if manifest else self.contract(dataset_id)
        contents = None
        with self.warehouse.writer(dataset=dataset_id) as con:
            finished = Warehouse.run_record(con, dataset_id, run_id)
            if finished and finished.finished:
                # A retried task whose transaction had committed (the source's side failed after
                # it, e.g. archiving a file drop): only that side is left to do.
                run = finished
            else:
                if manifest is None or manifest.validated is None:
                    raise LgspError(f"run {run_id} has not been validated", dataset=dataset_id)
                if not staging.exists():
                    raise LgspError(f"run {run_id}: its staged rows are gone ({staging.path})", dataset=dataset_id)
                run = RunRecord.start(manifest, dataset_id, run_id)
                with staging.attached(con, read_only=True):
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
                        deletions=Deletions.from_notes(manifest.source_notes, staging),
                    )
                if release and run.published and contract.classification is Classification.open:
                    run.release = self._release(con, contract, run)
                contents = self.contents(con, contract, run)  # a retried task announced it the first time
        self.announce_publication(contract, run, contents)
        connector = registry.get(contract.source.kind)
        if connector.commit and run.finished:
            notes = manifest.source_notes if manifest else {}
            connector.commit(connector.configure(contract, self.settings), notes, run)
        staging.remove_files()
        staging.remove_leftovers()
        if upload:
            self.upload_quietly(dataset_id, run)
        return run

    def fail(self, dataset_id: str, run_id: str, error: BaseException) -> RunRecord:
        """Record a run that could not finish. Nothing was published and the cursor did not move.

        A run that already finished (published or rejected) keeps its record: clearing a finished
        task in Airflow must not turn published data into a "failed" run.
        """
        staging = self.staging(dataset_id, run_id)
        manifest = staging.read_manifest()
        # Staged rows may be personal data: they never outlive the run, whatever happens below (a
        # finished run whose source side failed after it committed; a warehouse too busy to record).
        staging.remove_files()
        finished = self.warehouse.run(dataset_id, run_id)
        if finished and finished.finished:
            return finished
        run = RunRecord.start(manifest, dataset_id, run_id)
        message = (
            str(error)
            if isinstance(error, LgspError)
            else "".join(traceback.format_exception_only(type(error), error)).strip()
        )
        run.status, run.ended_at, run.rows_published, run.rows_quarantined = RunStatus.FAILED, utcnow(), 0, 0
        run.error = message
        run.started_at = run.started_at or run.ended_at
        with self.warehouse.writer(dataset=dataset_id) as con:

            def record() -> None:
                with duck.transaction(con):  # the record's DELETE and INSERT as one
                    staging.drop(con)  # what the run left in the warehouse (a derived run's groups)
                    Warehouse.record_run(con, run)

            retry_conflicts(record, dataset_id, step="record")
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
                done = self.publish(dataset_id, run_id, release=release, upload=False)
        except Exception as exc:
            return self.fail(dataset_id, run_id, exc)
        self.upload_quietly(dataset_id, done)  # after the run lock: an edit waiting for it need not wait for this
        return done

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _copy_catalogues(con: Any, contract: Contract, staging: Staging) -> None:
        """Validation runs in the run's file: the published catalogues it maps administrative units
        with (columns' `admin_unit`) are copied in beside the stage, as the run starts."""
        names = sorted({c.admin_unit.catalogue for c in contract.columns if c.admin_unit is not None})
        if not names:
            return
        with staging.attached(con):
            for name in names:  # one that is not published is refused by validation, by name
                if duck.table_exists(con, "main", name):
                    con.execute(
                        f"CREATE OR REPLACE TABLE {RUN_DB}.main.{quote(name)} AS SELECT * FROM main.{quote(name)}"
                    )

    @staticmethod
    def _manifest(staging: Staging) -> RunManifest:
        manifest = staging.read_manifest()
        if manifest is None:
            raise LgspError(f"run {staging.run_id} has not been extracted", dataset=staging.dataset)
        return manifest
