"""The commands a data engineer types: demo, datasets, run."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.schemas.loader import load_contracts
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
        assert extracted == published + quarantined, dataset_id
        assert extracted > 0 or dataset_id == "download_stats", dataset_id  # the demo downloads nothing

    listed = runner.invoke(app, ["datasets"])
    assert listed.exit_code == 0
    rows = [line for line in listed.output.splitlines() if any(d[0] in line for d in latest)]
    assert len(rows) == len(ALL) and all("published" in line for line in rows)
    assert "restricted" in listed.output
    _the_demo_agencies_get_the_three_answers(hub)
    _every_dataset_page_shows_its_runs_quality(hub)


def _every_dataset_page_shows_its_runs_quality(hub: Settings) -> None:
    """After the demo (Airflow's publishing DAGs), each open dataset's release names the run it
    published and the page's badge gives that run's counts and links its report."""
    from fastapi.testclient import TestClient

    from lgsp.app import create_app
    from lgsp.publishing.versions import latest_release
    from lgsp.validation.report import report_stem
    from lgsp.warehouse.store import Warehouse
    from tests.portal.test_quality_badge import badge

    runs = Warehouse(hub).latest_runs()
    opened = [d for d, c in load_contracts(CONTRACTS).items() if c.classification.value == "open"]
    with TestClient(create_app(hub)) as client:
        for dataset_id in opened:
            release, run = latest_release(hub.home, dataset_id), runs[dataset_id]
            assert release is not None and release.run_id == run.run_id, dataset_id
            text, link = badge(client, dataset_id)
            published = f"{run.rows_published:,}".replace(",", ".")  # Vietnamese: 14.149
            assert text.startswith(f"{published} dòng được công bố · "), (dataset_id, text)
            assert link == f"/reports/{dataset_id}/{report_stem(run.run_id)}.html"
            assert client.get(link).status_code == 200


def _the_demo_agencies_get_the_three_answers(hub: Settings) -> None:
    """The sharing acceptance after the demo: one commune and the granted columns, not permitted
    for the agency without a grant, no data for a query matching nothing; the log verifies."""
    import json

    from fastapi.testclient import TestClient

    from lgsp.app import create_app
    from lgsp.demo.sharing import GRANTED_COLUMNS, ONE_STOP_SHOP, WARD_OFFICE

    credentials = json.loads((hub.sharing_dir / "demo-credentials.json").read_text(encoding="utf-8"))
    commune = credentials["grant"]["commune_code"]
    rows = "/api/share/v1/datasets/driving_licences/rows"
    con = duckdb.connect(str(hub.warehouse_path), read_only=True)
    expected = {r[0] for r in con.execute(
        "SELECT licence_no FROM main.driving_licences WHERE commune_code = ?", [commune]).fetchall()}  # fmt: skip
    con.close()
    with TestClient(create_app(hub)) as client:
        mine = {"X-API-Key": credentials["api_keys"][ONE_STOP_SHOP]}
        got = client.get(rows, params={"limit": 1000}, headers=mine).json()
        assert got["fields"] == GRANTED_COLUMNS and {r["licence_no"] for r in got["rows"]} == expected
        assert all(list(r) == GRANTED_COLUMNS and r["commune_code"] == commune for r in got["rows"])
        other = client.get(rows, headers={"X-API-Key": credentials["api_keys"][WARD_OFFICE]})
        assert other.status_code == 403 and other.json()["result"] == "not_permitted"
        nothing = client.get(rows, params={"filters": '{"licence_class": "no such class"}'}, headers=mine)
        assert nothing.status_code == 204 and nothing.headers["lgsp-result"] == "no_data"
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_datasets_before_any_run_and_run_of_an_unknown_dataset(hub: Settings) -> None:
    listed = runner.invoke(app, ["datasets"])
    # a hub starts with the national units catalogue; everything else has never run
    assert listed.exit_code == 0 and listed.output.count("never") == len(ALL) - 1
    result = runner.invoke(app, ["run", "no_such_dataset"])
    assert result.exit_code == 1
    assert "no contract for dataset 'no_such_dataset'" in result.output


@pytest.mark.parametrize("command", ["run", "release"])
def test_text_in_brackets_is_shown_as_typed_never_read_as_markup(hub: Settings, command: str) -> None:
    """A name or another tool's output with brackets (`[/opt/airflow]`, structlog's `[error]`) is
    printed as it is: rich must not swallow it or fail on it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "lgsp.cli", command, "no[/such]"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "no contract for dataset 'no[/such]'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "MarkupError" not in done.stderr
