"""What every use of the pipeline shares: the hub's settings and warehouse, a dataset's contract
and stage, one run of a dataset at a time, and its open-data release."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Iterator
from typing import Any

from filelock import FileLock, Timeout

from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.publishing.versions import Release, RunQuality
from lgsp.schemas.contract import Contract
from lgsp.schemas.loader import find_contract
from lgsp.warehouse.edits import RowEdit
from lgsp.warehouse.runs import RunRecord
from lgsp.warehouse.staging import Staging
from lgsp.warehouse.store import Warehouse

log = logging.getLogger(__name__)
RUN_WAIT = 3600.0  # seconds a run waits for another run of the same dataset to finish
EDIT_WAIT = 120.0  # seconds a retraction or correction (someone waiting at a page) waits for a run of its dataset


def new_run_id(kind: str = "cli") -> str:
    """A run id for a run outside Airflow (`edit` for a retraction or correction): its start time,
    and a random part, since two runs can start within the clock's resolution (two `lgsp run` at
    once did, and one took the other's record)."""
    return f"{kind}__{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S.%f}Z_{secrets.token_hex(3)}"


class PipelineBase:
    """Runs datasets described by contracts against one hub installation."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.warehouse = Warehouse(self.settings)

    def contract(self, dataset_id: str) -> Contract:
        return find_contract(self.settings.contracts_dir, dataset_id)

    def staging(self, dataset_id: str, run_id: str) -> Staging:
        return Staging(self.settings, dataset_id, run_id)

    def _release(self, con: Any, contract: Contract, run: RunRecord) -> int | str:
        """The open-data release of a freshly published run (its version), or why it failed:
        the data is published either way, and the release can be made again with `lgsp release`."""
        try:
            return self._refresh(con, contract, run.run_id, run).version
        except Exception as exc:
            return f"release failed: {self.warehouse.hide(str(exc))}"

    def release(self, dataset_id: str, upload: bool = True) -> Release:
        """Release an open dataset's published table and regenerate the catalogue (a no-op for
        unchanged data); returns the release. The release is the latest published run's, whoever
        asks (`lgsp release`, Airflow's publishing DAG), so it links that run's report. With
        `upload`, then `upload()`: its StoreError or StoreConflict is raised after the release is
        made and announced (`lgsp release` passes False and uploads itself, to say which failed)."""
        contract = self.contract(dataset_id)
        with self.warehouse.writer(dataset=dataset_id) as con:
            run = Warehouse.latest_published(con, dataset_id)
            if run is None:  # a table no recorded run published (restored from a backup): no report to name
                made = self._refresh(con, contract, f"release__{new_run_id()}", None)
            else:
                made = self._refresh(con, contract, run.run_id, run)
        if upload:
            self.upload(dataset_id)
        return made

    def upload(self, dataset_id: str) -> int:
        """Put every release of the dataset the release store lacks there ($LGSP_RELEASE_STORE;
        lgsp.publishing.stored): called after the writer lock, since a multi-GB upload must not
        hold up other runs. Returns the files uploaded; raises StoreError or StoreConflict."""
        from lgsp.publishing.stored import upload

        return upload(self.settings, dataset_id)

    def upload_quietly(self, dataset_id: str, done: RunRecord | RowEdit) -> None:
        """`upload()` after a run or an edit that made a release: a failure leaves the release and
        its version as they are (made here, announced) and says, apart, that the store is behind."""
        if not isinstance(done.release, int):
            return
        try:
            self.upload(dataset_id)
        except Exception as exc:
            why = self.warehouse.hide(str(exc))
            log.warning("%s: release v%s not in the release store yet: %s", dataset_id, done.release, why)
            done.release_store = (
                f"Bản phát hành v{done.release} đã làm ở đây nhưng chưa lên kho bản phát hành (lần phát hành sau sẽ "
                f"tải lên): {why} / Release v{done.release} is made here but not in the release store yet (the next "
                f"release uploads it): {why}"
            )

    def _refresh(self, con: Any, contract: Contract, run_id: str, run: RunRecord | None) -> Release:
        """The release (lgsp.publishing.refresh) and, when it is a new one, its webhook event queued
        (unchanged data makes no release, so no event)."""
        from lgsp.publishing.refresh import refresh
        from lgsp.publishing.versions import latest_release
        from lgsp.sharing.webhooks import announce_quietly, announce_release

        before = latest_release(self.settings.home, contract.id)
        if run is None:
            made = refresh(con, self.settings, contract, run_id)
        else:
            made = refresh(con, self.settings, contract, run_id, self.quality(run), self._inputs(con, contract, run))
        if before is None or made.version != before.version:
            announce_quietly(announce_release, self.settings, contract, made)
        return made

    def contents(self, con: Any, contract: Contract, run: RunRecord) -> tuple[int, str] | None:
        """For a dataset that is not open and has webhook subscribers, what its table holds after
        `run` published: (rows, an order-free hash of the contract's columns), so that a run that
        changed nothing announces nothing. None when no one would be told."""
        from lgsp.core.duck import quote
        from lgsp.sharing.webhooks import subscribed

        if not run.published or contract.classification.value == "open":
            return None
        try:
            if not subscribed(self.settings):
                return None
            columns = ", ".join(quote(c.name) for c in contract.columns)
            row = con.execute(f"SELECT count(*), bit_xor(hash({columns})) FROM main.{quote(contract.id)}").fetchone()
        except Exception as exc:  # the rows are published: a webhook problem must not say otherwise
            log.warning("%s: webhook event not queued: %s", contract.id, self.warehouse.hide(str(exc)))
            return None
        return (int(row[0]), str(row[1])) if row else None

    def announce_publication(self, contract: Contract, run: RunRecord, contents: tuple[int, str] | None) -> None:
        """A dataset that is not open has no release: consumers holding a grant on it hear of each
        run that changed its rows (the rows themselves stay behind the sharing API)."""
        from lgsp.sharing.webhooks import announce_publication, announce_quietly

        if contents is not None:
            announce_quietly(announce_publication, self.settings, contract, run.run_id, contents, run.ended_at)

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
