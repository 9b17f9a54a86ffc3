"""The generated DAGs: they load without errors, parse light, and run for real with dag.test()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lgsp.airflow_env import WAREHOUSE_POOL
from lgsp.core.settings import Settings
from lgsp.schemas.loader import contract_files, load_contracts
from tests.conftest import CONTRACTS
from tests.paths import REPO_ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO_ROOT / "dags"))


def test_dag_folder_loads_without_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    expected = {f"lgsp_{p.stem}" for p in contract_files(CONTRACTS)}
    assert expected <= set(dagbag.dag_ids)
    assert "lgsp_maintenance" not in dagbag.dag_ids  # only a DuckLake warehouse has upkeep to schedule


def test_open_datasets_have_a_release_dag_scheduled_on_their_asset(dagbag) -> None:
    contracts = load_contracts(CONTRACTS)
    for dataset_id, contract in contracts.items():
        dag = dagbag.dags.get(f"lgsp_release_{dataset_id}")
        if contract.classification.value != "open":
            assert dag is None
            continue
        assert dag is not None and [t.task_id for t in dag.tasks] == ["release"]
        assert f"lgsp://warehouse/main/{dataset_id}" in str(dag.timetable.asset_condition)


def test_every_dag_is_tagged_retried_and_declares_its_asset(dagbag) -> None:
    for dag_id in (f"lgsp_{p.stem}" for p in contract_files(CONTRACTS)):
        dag = dagbag.dags[dag_id]
        assert "lgsp" in dag.tags
        assert [t.task_id for t in dag.topological_sort()] == ["extract", "validate", "publish"]
        for t in dag.tasks:
            assert t.retries == 3 and t.retry_exponential_backoff
        publish = dag.get_task("publish")
        assert publish.pool == WAREHOUSE_POOL
        assert [a.uri for a in publish.outlets] == [f"lgsp://warehouse/main/{dag_id.removeprefix('lgsp_')}"]


def test_dag_file_parses_without_heavy_imports() -> None:
    code = (
        "import runpy, sys, json; runpy.run_path('dags/lgsp_datasets.py');"
        "print(json.dumps({m: m in sys.modules for m in ('great_expectations', 'duckdb', 'pandas', 'sqlalchemy')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not loaded["great_expectations"] and not loaded["duckdb"], loaded


def test_an_invalid_contract_becomes_a_failing_dag_not_an_import_error(tmp_path: Path) -> None:
    from lgsp.dag_factory import build_dags

    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: {vi: x}\n", encoding="utf-8")
    dags = build_dags(tmp_path)
    assert list(dags) == ["lgsp_broken"]
    dag = dags["lgsp_broken"]
    assert "invalid-contract" in dag.tags and "required field is missing" in dag.doc_md


@pytest.fixture(scope="module")
def airflow_db() -> None:
    from lgsp.airflow_env import prepare

    prepare(Settings.from_env())


@pytest.mark.airflow
def test_generated_dag_runs_with_dag_test(hub: Settings, airflow_db: None) -> None:
    from lgsp.demo import run_dags

    [record] = run_dags(hub, ["schools"])
    assert record.status == "published", record
    assert record.run_id.startswith("manual__")
    assert record.rows_extracted == record.rows_published + record.rows_quarantined > 0


@pytest.mark.airflow
def test_a_rejected_file_fails_the_publish_task_after_releasing_what_was_published(
    hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: None
) -> None:
    """Issue 13: a failure never looks like success in Airflow either. A run that published one
    file and rejected another is `partial`: its publish task fails (red in Airflow), and what it
    did publish is released first, since a failed task announces no Asset event."""
    import yaml

    from lgsp.dag_factory import build_dags
    from lgsp.publishing.versions import latest_release
    from lgsp.warehouse.store import Warehouse
    from tests.connectors.test_files import PRICES, ROWS, csv_bytes

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(inbox))
    (contracts_dir / "market_prices.yaml").write_text(yaml.safe_dump(PRICES, allow_unicode=True), encoding="utf-8")
    (inbox / "a_tot.csv").write_bytes(csv_bytes(ROWS, "utf-8"))
    (inbox / "b_chi_tieu_de.csv").write_bytes(csv_bytes(ROWS[:1], "utf-8"))
    settings = Settings.from_env()
    dag_run = build_dags(settings.contracts_dir)["lgsp_market_prices"].test()
    assert str(dag_run.state) == "failed"
    record = Warehouse(settings).run("market_prices", dag_run.run_id)
    assert record is not None and record.status == "partial" and record.rows_published == 4
    released = latest_release(settings.home, "market_prices")
    assert released is not None and released.rows == 4 and released.run_id == dag_run.run_id


def test_a_derived_dataset_is_scheduled_on_any_of_its_inputs_assets(dagbag, tmp_path: Path) -> None:
    from airflow.sdk.definitions.asset import AssetAny

    from lgsp.dag_factory import build_dags

    shipped = dagbag.dags["lgsp_schools_by_commune"]
    assert "lgsp://warehouse/main/schools" in str(shipped.timetable.asset_condition)
    # Two inputs: either one publishing recomputes it (AssetAny), not only both together.
    data = json.loads(json.dumps(load_contracts(CONTRACTS)["schools_by_commune"].model_dump(mode="json")))
    data["id"] = "two_inputs"
    data["source"]["inputs"] = ["schools", "env_readings"]
    for name in ("schools", "env_readings"):
        (tmp_path / f"{name}.yaml").write_text((CONTRACTS / f"{name}.yaml").read_text(encoding="utf-8"))
    (tmp_path / "two_inputs.yaml").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    condition = build_dags(tmp_path)["lgsp_two_inputs"].timetable.asset_condition
    assert isinstance(condition, AssetAny)
    assert sorted(a.uri for a in condition.objects) == [
        "lgsp://warehouse/main/env_readings",
        "lgsp://warehouse/main/schools",
    ]


@pytest.mark.airflow
def test_a_derived_dag_recomputes_from_its_published_input(hub: Settings, airflow_db: None) -> None:
    from lgsp.demo import run_dags
    from lgsp.warehouse.store import Warehouse

    schools, derived = run_dags(hub, ["schools", "schools_by_commune"])
    assert [schools.dataset_id, derived.dataset_id] == ["schools", "schools_by_commune"]
    assert derived.status == "published", derived
    assert isinstance(derived.release, int)
    with Warehouse(hub).reader() as con:
        assert Warehouse.lineage(con, "schools_by_commune", derived.run_id) == {"schools": schools.run_id}


def test_a_report_is_rebuilt_when_a_dataset_it_reads_publishes(dagbag) -> None:
    from airflow.sdk.definitions.asset import AssetAny

    dag = dagbag.dags["lgsp_report_online_public_services"]
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAny)
    assert sorted(a.uri for a in condition.objects) == [
        "lgsp://warehouse/main/ict_indicators",
        "lgsp://warehouse/main/online_public_services",
    ]
    assert {"lgsp_report_ict_infrastructure", "lgsp_report_digital_transformation"} <= set(dagbag.dags)


@pytest.mark.airflow
def test_the_report_dag_builds_a_version(hub: Settings, airflow_db: None) -> None:
    from lgsp.dag_factory import build_report_dags
    from lgsp.demo import run_dags
    from lgsp.reports.versions import latest

    run_dags(hub, ["ict_indicators", "online_public_services"])
    dag = build_report_dags(hub.report_templates_dir, hub.indicators_dir, hub.contracts_dir)[
        "lgsp_report_online_public_services"
    ]
    assert dag.test().state == "success"
    made = latest(hub.home, "online_public_services")
    assert made is not None and (made.version, made.disputed, made.cells) == (1, 1, 5)
    assert dag.test().state == "success"  # the same numbers: no new version
    again = latest(hub.home, "online_public_services")
    assert again is not None and again.version == 1


def _asset_events(uri: str) -> int:
    """How many times Airflow recorded that the Asset changed (each one schedules its consumers once)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = select(func.count()).select_from(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return int(session.scalar(query.where(AssetModel.uri == uri)) or 0)


@pytest.mark.airflow
def test_one_asset_event_per_publish_and_none_when_nothing_changed(hub: Settings, airflow_db: None) -> None:
    """A derived dataset or report recomputes once per input publish: the input's publish task
    announces its Asset once when it publishes, and not at all for an unchanged or rejected run."""
    from lgsp.dag_factory import build_dags
    from lgsp.warehouse.store import Warehouse

    uri = "lgsp://warehouse/main/online_public_services"
    before = _asset_events(uri)
    dag = build_dags(hub.contracts_dir)["lgsp_online_public_services"]
    first = dag.test()
    assert first.state == "success"
    assert _asset_events(uri) == before + 1
    second = dag.test()  # the inbox is empty now: nothing new
    assert second.state == "success"
    assert {ti.task_id: ti.state for ti in second.get_task_instances()}["publish"] == "skipped"
    assert _asset_events(uri) == before + 1
    run = Warehouse(hub).run("online_public_services", second.run_id)
    assert run is not None and run.status == "unchanged"
    inbox = hub.sandbox_dir / "inbox" / "vpubnd"
    (inbox / "dvc_broken.csv").write_text("Tỉnh,Năm\nQuảng Trị,2024\n", encoding="utf-8")  # no services column
    third = dag.test()
    assert third.state == "failed"
    assert _asset_events(uri) == before + 1


def test_a_report_of_computed_indicators_waits_on_what_their_formulas_read(tmp_path: Path) -> None:
    import yaml

    from lgsp.core.settings import INDICATORS_DIR, REPORTS_DIR
    from lgsp.dag_factory import build_report_dags

    data = yaml.safe_load((REPORTS_DIR / "digital_transformation.yaml").read_text(encoding="utf-8"))
    data = {**data, "code": "share_only", "rows": [{"number": "1", "indicator": "TY_LE_DVCTT_TOAN_TRINH"}]}
    (tmp_path / "share_only.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    dag = build_report_dags(tmp_path, INDICATORS_DIR, CONTRACTS)["lgsp_report_share_only"]
    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == [
        "lgsp://warehouse/main/ict_indicators",
        "lgsp://warehouse/main/online_public_services",
    ]
