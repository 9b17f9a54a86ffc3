"""The warehouse's run history: which run the published table holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lgsp.core.settings import Settings
from lgsp.warehouse.runs import RunRecord, RunStatus
from lgsp.warehouse.store import Warehouse
from tests.conftest import CONTRACTS


def test_latest_published_is_the_last_run_to_publish_not_the_last_run(tmp_path: Path) -> None:
    warehouse = Warehouse(Settings(home=tmp_path, contracts_dir=CONTRACTS))
    start = dt.datetime(2026, 1, 1)
    statuses = [
        RunStatus.PUBLISHED, RunStatus.PARTIAL, RunStatus.UNCHANGED, RunStatus.HELD, RunStatus.REJECTED,
        RunStatus.FAILED,
    ]  # fmt: skip
    with warehouse.writer() as con:
        assert Warehouse.latest_published(con, "schools") is None
        for hour, status in enumerate(statuses):
            when = start + dt.timedelta(hours=hour)
            run = RunRecord(run_id=f"r{hour}", dataset_id="schools", status=status, started_at=when, ended_at=when)
            Warehouse.record_run(con, run)
        Warehouse.record_run(
            con,
            RunRecord(
                run_id="other",
                dataset_id="enterprises",
                status=RunStatus.PUBLISHED,
                ended_at=start + dt.timedelta(days=1),
            ),
        )
        latest = Warehouse.latest_published(con, "schools")
        assert latest is not None and (latest.run_id, latest.status) == ("r1", RunStatus.PARTIAL)
        # A held run confirmed later publishes (its end stays when it was held): it is the latest now.
        con.execute("UPDATE meta.runs SET status = 'published' WHERE run_id = 'r3'")
        assert Warehouse.latest_published(con, "schools").run_id == "r3"  # type: ignore[union-attr]
