"""The commands a data engineer types: demo, datasets, run."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.settings import Settings
from schemas.loader import load_contracts
from tests.conftest import CONTRACTS

runner = CliRunner()
ALL = sorted(load_contracts(CONTRACTS))


@pytest.mark.airflow
def test_demo_runs_every_dag_and_every_row_adds_up(hub: Settings) -> None:
    result = runner.invoke(app, ["demo", "--scale", "3000"])
    assert result.exit_code == 0, result.output
    for dataset_id in ALL:
        assert dataset_id in result.output
    con = duckdb.connect(str(hub.warehouse_path), read_only=True)
    latest = con.execute(
        "SELECT dataset_id, status, rows_extracted, rows_published, rows_quarantined FROM meta.runs "
        "QUALIFY row_number() OVER (PARTITION BY dataset_id ORDER BY started_at DESC) = 1"
    ).fetchall()
    con.close()
    assert {row[0] for row in latest} == set(ALL)
    for dataset_id, status, extracted, published, quarantined in latest:
        assert status == "published", dataset_id
        assert extracted == published + quarantined > 0, dataset_id

    listed = runner.invoke(app, ["datasets"])
    assert listed.exit_code == 0
    rows = [line for line in listed.output.splitlines() if any(d[0] in line for d in latest)]
    assert len(rows) == len(ALL) and all("published" in line for line in rows)
    assert "restricted" in listed.output


def test_datasets_before_any_run_and_run_of_an_unknown_dataset(hub: Settings) -> None:
    listed = runner.invoke(app, ["datasets"])
    # a hub starts with the national units catalogue; everything else has never run
    assert listed.exit_code == 0 and listed.output.count("never") == len(ALL) - 1
    result = runner.invoke(app, ["run", "no_such_dataset"])
    assert result.exit_code == 1
    assert "no contract for dataset 'no_such_dataset'" in result.output
