"""What a department's page shows of each of its datasets: the last run, the last release, how
fresh the data is against the contract's declared frequency, its quality, and what waits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from lgsp.core.settings import Settings
from lgsp.publishing.compliance import check
from lgsp.publishing.versions import latest_release
from lgsp.schemas.contract import Classification, Contract, FileSource
from lgsp.submissions.corrections import open_rows
from lgsp.warehouse.review import held_runs
from lgsp.warehouse.runs import RunRecord
from lgsp.warehouse.store import RUN_COLUMNS, Warehouse, _record


@dataclass
class DatasetStatus:
    contract: Contract
    last_run: RunRecord | None = None
    last_published: RunRecord | None = None
    release: Any = None
    fresh: Any = None
    open_quarantine: int = 0
    held: list[RunRecord] = field(default_factory=list)

    @property
    def takes_files(self) -> bool:
        return isinstance(self.contract.source, FileSource)

    @property
    def quality(self) -> float | None:
        """The share of the last published run's rows that passed every check."""
        run = self.last_published
        if run is None or not run.rows_extracted:
            return None
        return (run.rows_published or 0) / run.rows_extracted

    def as_json(self) -> dict[str, Any]:
        run, published = self.last_run, self.last_published
        return {
            "id": self.contract.id,
            "title": {"vi": self.contract.title.vi, "en": self.contract.title.en},
            "classification": self.contract.classification.value,
            "update_frequency": self.contract.update_frequency.value,
            "takes_files": self.takes_files,
            "last_run": run.model_dump(mode="json", exclude={"seconds"}) if run else None,
            "last_published_at": published.ended_at.isoformat() if published and published.ended_at else None,
            "release": self.release.version if self.release else None,
            "fresh": bool(self.fresh and self.fresh.frequency_ok),
            "quality": self.quality,
            "open_quarantine": self.open_quarantine,
            "held": [r.run_id for r in self.held],
        }


def _last_run(con: duckdb.DuckDBPyConnection, dataset_id: str) -> RunRecord | None:
    """The dataset's last run of its source (a retraction or correction is not one)."""
    row = con.execute(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM meta.runs WHERE dataset_id = ? "
        "AND mode IS DISTINCT FROM 'edit' ORDER BY started_at DESC LIMIT 1",
        [dataset_id],
    ).fetchone()
    return None if row is None else _record(row)


def statuses(con: duckdb.DuckDBPyConnection, settings: Settings, contracts: list[Contract]) -> list[DatasetStatus]:
    out = []
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for contract in contracts:
        status = DatasetStatus(contract)
        status.last_run = _last_run(con, contract.id)
        status.last_published = Warehouse.latest_published(con, contract.id)
        if contract.classification is Classification.open:
            status.release = latest_release(settings.home, contract.id)
        last = status.last_published.ended_at if status.last_published else None
        status.fresh = check(contract, last, now)
        if not status.takes_files:  # a source sends its dirt again every run: the last run's is what is open
            status.open_quarantine = (status.last_run.rows_quarantined or 0) if status.last_run else 0
        else:  # a department's rows stay open until it corrects them
            status.open_quarantine = len(open_rows(con, contract.id))
        status.held = held_runs(con, contract.id)
        out.append(status)
    return out
