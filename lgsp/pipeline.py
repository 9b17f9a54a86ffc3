"""A dataset run in three steps (extract, validate, publish) that pass only the run id between them.

The Airflow tasks and the CLI call these same functions, so a DAG holds no business logic.
"""

from __future__ import annotations

import datetime as dt
import traceback
from typing import Any

from lgsp.connectors import registry
from lgsp.core import duck
from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract
from lgsp.schemas.loader import find_contract
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import Warehouse, utcnow


def new_run_id() -> str:
    return f"cli__{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S.%f}Z"


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

    def extract(self, dataset_id: str, run_id: str) -> dict[str, Any]:
        """Pull the source into the run's staging; returns the run manifest."""
        started = utcnow()
        contract = self.contract(dataset_id)
        staging = self.staging(dataset_id, run_id)
        connector = registry.get(contract.source.kind)
        config = connector.configure(contract, self.settings)
        notes: dict[str, Any] = {}
        # The expectations are checked by the validate step (and `lgsp check`): importing Great
        # Expectations here would take CPU from the pull.
        with self.warehouse.writer() as con:
            staging.reset(con)
            cursor_from = Warehouse.cursor(con, dataset_id) if contract.incremental else None
            merge = not connector.full_each_run and duck.table_exists(con, "main", dataset_id)
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
        return staging.write_manifest(
            dataset_id=dataset_id,
            run_id=run_id,
            started_at=started.isoformat(),
            mode="incremental" if cursor_from or merge else "full",
            cursor_from=cursor_from,
            rows_extracted=rows,
            source_notes=notes,
        )

    def validate(self, dataset_id: str, run_id: str) -> dict[str, Any]:
        """Validate the staged rows with Great Expectations; stores the report beside the run."""
        from lgsp.validation.validate import validate

        contract = self.contract(dataset_id)
        staging = self.staging(dataset_id, run_id)
        with self.warehouse.writer() as con:
            report = validate(
                contract,
                con,
                staging,
                self.settings.validation_memory,
                province=self.settings.province,
                source_notes=staging.read_manifest().get("source_notes"),
            )
        html = report.save(self.settings.reports_dir / dataset_id)
        return staging.write_manifest(
            report=str(html),
            rejected_by=[c.label for c in report.rejected_by],
            rows_warned=report.rows_warned,
            rows_failing=report.rows_quarantined,
        )

    def publish(self, dataset_id: str, run_id: str, release: bool = True) -> dict[str, Any]:
        """Publish the validated run atomically; returns the meta.runs record. With `release`, an
        open dataset's release and the catalogue follow at once (Airflow leaves them to the
        publishing DAG that its Asset triggers)."""
        from lgsp.warehouse.publish import publish

        contract = self.contract(dataset_id)
        staging = self.staging(dataset_id, run_id)
        manifest = staging.read_manifest()
        with self.warehouse.writer() as con:
            finished = Warehouse.run_record(con, dataset_id, run_id)
            if finished and finished["status"] in ("published", "rejected"):
                # A retried task whose transaction had committed (the source's side failed after
                # it, e.g. archiving a file drop): only that side is left to do.
                run = finished
            else:
                if "report" not in manifest:
                    raise LgspError(f"run {run_id} has not been validated", dataset=dataset_id)
                run = self._run_record(manifest)
                publish(
                    con,
                    contract,
                    staging,
                    run,
                    rejected_by=manifest["rejected_by"],
                    incremental=manifest["mode"] == "incremental",
                )
                if release and run["status"] == "published" and contract.classification.value == "open":
                    run["release"] = self._release(con, contract, run_id)
        connector = registry.get(contract.source.kind)
        if connector.commit and run["status"] in ("published", "rejected"):
            connector.commit(connector.configure(contract, self.settings), manifest.get("source_notes") or {}, run)
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

    def release(self, dataset_id: str) -> dict[str, Any]:
        """Release an open dataset's published table and regenerate the catalogue (a no-op for
        unchanged data); returns the release as a dict."""
        from lgsp.publishing.refresh import refresh

        contract = self.contract(dataset_id)
        with self.warehouse.writer() as con:
            return refresh(con, self.settings, contract, f"release__{new_run_id()}").model_dump(mode="json")

    def fail(self, dataset_id: str, run_id: str, error: BaseException) -> dict[str, Any]:
        """Record a run that could not finish. Nothing was published and the cursor did not move.

        A run that already finished (published or rejected) keeps its record: clearing a finished
        task in Airflow must not turn published data into a "failed" run.
        """
        staging = self.staging(dataset_id, run_id)
        finished = self.warehouse.run(dataset_id, run_id)
        if finished and finished["status"] in ("published", "rejected"):
            return finished
        manifest = staging.read_manifest() or {"dataset_id": dataset_id, "run_id": run_id}
        run = self._run_record(manifest)
        message = (
            str(error)
            if isinstance(error, LgspError)
            else "".join(traceback.format_exception_only(type(error), error)).strip()
        )
        run.update(status="failed", ended_at=utcnow(), rows_published=0, rows_quarantined=0, error=message)
        run["started_at"] = run["started_at"] or run["ended_at"]
        with self.warehouse.writer() as con:
            staging.drop(con)  # staged rows may be personal data: they never outlive the run
            Warehouse.record_run(con, run)
        staging.remove_files()
        return run

    def run(self, dataset_id: str, run_id: str | None = None, release: bool = True) -> dict[str, Any]:
        """Extract, validate and publish in this process (and release, for an open dataset);
        returns the meta.runs record (never raises for a failed run: the record says why)."""
        run_id = run_id or new_run_id()
        try:
            self.extract(dataset_id, run_id)
            self.validate(dataset_id, run_id)
            return self.publish(dataset_id, run_id, release=release)
        except Exception as exc:
            return self.fail(dataset_id, run_id, exc)

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _run_record(manifest: dict[str, Any]) -> dict[str, Any]:
        started = manifest.get("started_at")
        return {
            "run_id": manifest["run_id"],
            "dataset_id": manifest["dataset_id"],
            "mode": manifest.get("mode"),
            "started_at": dt.datetime.fromisoformat(started) if started else None,
            "rows_extracted": manifest.get("rows_extracted", 0),
            "rows_warned": manifest.get("rows_warned", 0),
            "cursor_from": manifest.get("cursor_from"),
            "report": manifest.get("report"),
        }
