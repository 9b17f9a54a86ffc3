"""Stewardship of published data: runs held for review, and retracting or correcting published rows.

Each is one transaction with its run record, under the dataset's run lock, then a release of an
open dataset; the same calls serve the command line and the department pages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import duckdb

from lgsp.connectors import registry
from lgsp.core import duck
from lgsp.pipeline.base import EDIT_WAIT, PipelineBase, new_run_id
from lgsp.schemas.contract import Classification, Contract
from lgsp.submissions import ledger
from lgsp.warehouse import edits
from lgsp.warehouse.edits import RowEdit
from lgsp.warehouse.lake import retry_conflicts
from lgsp.warehouse.runs import RunRecord, RunStatus
from lgsp.warehouse.store import Warehouse, utcnow


class Stewardship(PipelineBase):
    """Decisions on published data, beside the runs that publish it."""

    def held(self, dataset_id: str | None = None) -> list[RunRecord]:
        """Runs held for review (they would have removed too many published rows)."""
        from lgsp.warehouse.review import held_runs

        with self.warehouse.reader() as con:
            return held_runs(con, dataset_id)

    def review(self, dataset_id: str, run_id: str, *, publish: bool, by: str) -> RunRecord:
        """Publish (and release) or discard a held run, with its submissions, in one transaction."""
        from lgsp.warehouse.review import discard_held, publish_held

        contract = self.contract(dataset_id)
        with self.running(dataset_id), self.warehouse.writer(dataset=dataset_id) as con:

            def decide() -> RunRecord:
                # It deletes and updates shared meta rows: on a lake a publish of another dataset
                # committing meanwhile conflicts with it, and it is tried again.
                with duck.transaction(con):
                    if publish:
                        decided = publish_held(con, contract, run_id, by)
                    else:
                        decided = discard_held(con, dataset_id, run_id, by)
                    ledger.confirm(con, dataset_id, run_id, published=publish, by=by)
                return decided

            run = retry_conflicts(decide, dataset_id, step="review")
            if run.published and contract.classification is Classification.open:
                run.release = self._release(con, contract, run)
            contents = self.contents(con, contract, run)
        self.announce_publication(contract, run, contents)
        connector = registry.get(contract.source.kind)
        if connector.commit:
            connector.commit(connector.configure(contract, self.settings), {}, run)
        self.upload_quietly(dataset_id, run)
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
        with self.running(dataset_id, EDIT_WAIT), self.warehouse.writer(dataset=dataset_id) as con:
            started = utcnow()
            edit, run = retry_conflicts(
                lambda: self._edit_once(con, contract, run_id, do, changes, started), dataset_id, step="edit"
            )
            if not duck.is_lake(con):  # on a lake CHECKPOINT is maintenance, scheduled apart
                with contextlib.suppress(duckdb.Error):  # as after a publish: nothing left to replay
                    con.execute("CHECKPOINT")
            if changes and contract.classification is Classification.open:
                # The release names the last validated run (its quality badge); the edit is in the history.
                edit.release = self._release(con, contract, Warehouse.latest_published(con, dataset_id) or run)
        self.upload_quietly(dataset_id, edit)  # after both locks
        return edit

    @staticmethod
    def _edit_once(
        con: Any,
        contract: Contract,
        run_id: str,
        do: Callable[[Any, Contract, str], RowEdit],
        changes: bool,
        started: Any,
    ) -> tuple[RowEdit, RunRecord]:
        """The edit and its run record in one transaction (tried again on a lake conflict)."""
        dataset_id = contract.id
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
        return edit, run
