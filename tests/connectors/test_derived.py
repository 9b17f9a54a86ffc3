"""Derived datasets: SQL over the hub's published datasets, recomputed from committed inputs only,
checked by `lgsp check` (inputs, cycles, personal data), with the input runs they read recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from lgsp.checks import check_contracts
from lgsp.connectors.derived import DerivedConfig, scan
from lgsp.connectors.errors import ConnectorError
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.warehouse.store import Warehouse
from tests.conftest import warehouse_rows as query

AGGREGATE = (
    "SELECT commune_code, level, count(*) AS schools, sum(pupils) AS pupils, sum(teachers) AS teachers "
    "FROM schools WHERE commune_code IS NOT NULL GROUP BY commune_code, level"
)


def test_published_inputs_give_the_aggregate_and_the_run_names_them(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    schools = pipeline.run("schools")
    assert schools.status == "published", schools.error
    run = pipeline.run("schools_by_commune")
    assert run.status == "published", run.error
    expected = query(hub, f"SELECT commune_code, level, schools, pupils, teachers FROM ({AGGREGATE}) ORDER BY 1, 2")
    got = query(hub, "SELECT commune_code, level, schools, pupils, teachers FROM main.schools_by_commune ORDER BY 1, 2")
    assert got == expected and len(got) > 5
    with Warehouse(hub).reader() as con:
        assert Warehouse.lineage(con, "schools_by_commune", run.run_id) == {"schools": schools.run_id}


def test_a_failed_input_run_changes_nothing_the_derived_dataset_reads(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    schools = pipeline.run("schools")
    first = pipeline.run("schools_by_commune")
    before = query(hub, "SELECT * FROM main.schools_by_commune ORDER BY ALL")
    with sqlite3.connect(hub.sandbox_dir / "education.sqlite") as db:  # the source breaks mid-way
        db.execute("ALTER TABLE schools RENAME TO schools_gone")
    failed = pipeline.run("schools")
    assert failed.status == "failed"
    again = pipeline.run("schools_by_commune")
    assert again.status in ("published", "unchanged"), again.error
    assert query(hub, "SELECT * FROM main.schools_by_commune ORDER BY ALL") == before
    with Warehouse(hub).reader() as con:  # still computed from the last published run, not the failed one
        assert Warehouse.lineage(con, "schools_by_commune", again.run_id) == {"schools": schools.run_id}
    assert first.run_id != again.run_id


def test_an_unpublished_input_fails_the_run_and_publishes_nothing(hub: Settings) -> None:
    run = Pipeline(hub).run("schools_by_commune")
    assert run.status == "failed" and "schools" in (run.error or "")
    assert "chưa công bố / not published yet" in (run.error or "")


def test_the_sql_may_read_only_its_inputs() -> None:
    config = DerivedConfig(dataset="d", inputs=["schools"], sql="SELECT * FROM schools, meta.runs", columns=["a"])
    with pytest.raises(ConnectorError, match="runs"):
        scan(config, None)


def contract(directory: Path, base: str, **changes: object) -> Path:
    """A copy of contract `base` (from the hub's folder) with top-level fields changed."""
    data = yaml.safe_load((directory / f"{base}.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    path = directory / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def derived_source(*inputs: str, sql: str = AGGREGATE) -> dict[str, object]:
    return {"kind": "derived", "inputs": list(inputs), "sql": sql}


def test_check_accepts_the_shipped_derived_contract(contracts_dir: Path) -> None:
    assert check_contracts(sorted(contracts_dir.glob("*.yaml"))) == []


def test_check_refuses_an_unknown_input(contracts_dir: Path) -> None:
    path = contract(contracts_dir, "schools_by_commune", source=derived_source("schools", "nowhere"))
    problems = check_contracts(sorted(contracts_dir.glob("*.yaml")))
    assert problems == [f"{path}: source.inputs[1]: 'nowhere' is not the id of any contract"]


def test_check_refuses_a_cycle(contracts_dir: Path) -> None:
    contract(contracts_dir, "schools_by_commune", id="a_totals", source=derived_source("b_totals"))
    contract(contracts_dir, "schools_by_commune", id="b_totals", source=derived_source("a_totals"))
    problems = check_contracts(sorted(contracts_dir.glob("*.yaml")))
    assert any(
        "a_totals.yaml: source.inputs: computed from itself (a_totals → b_totals → a_totals)" in p for p in problems
    )
    assert any("b_totals.yaml: source.inputs: computed from itself" in p for p in problems)


def test_check_refuses_a_table_not_among_the_inputs(contracts_dir: Path) -> None:
    path = contract(
        contracts_dir, "schools_by_commune", source=derived_source("schools", sql="SELECT * FROM driving_licences")
    )
    problems = check_contracts(sorted(contracts_dir.glob("*.yaml")))
    assert problems == [f"{path}: source.sql: reads driving_licences, not among source.inputs"]


@pytest.mark.parametrize(("classification", "refused"), [("open", True), ("shared", True), ("restricted", False)])
def test_personal_data_flows_only_into_a_dataset_as_strict(
    contracts_dir: Path, classification: str, refused: bool
) -> None:
    """driving_licences is restricted and holds citizens' ids: an aggregate of it (whose own columns
    claim no personal data) must be restricted too."""
    sql = "SELECT commune_code, level, count(*) AS schools FROM driving_licences GROUP BY ALL"
    path = contract(
        contracts_dir,
        "schools_by_commune",
        id="licences_by_commune",
        classification=classification,
        source=derived_source("driving_licences", sql=sql),
    )
    problems = check_contracts(sorted(contracts_dir.glob("*.yaml")))
    if refused:
        assert len(problems) == 1 and problems[0].startswith(f"{path}: classification: 'driving_licences' holds")
        assert "must be restricted or stricter" in problems[0]
    else:
        assert problems == []


def test_a_derived_contract_only_reads(contracts_dir: Path) -> None:
    contract(
        contracts_dir, "schools_by_commune", id="bad_one", source=derived_source("schools", sql="DELETE FROM schools")
    )
    problems = check_contracts([contracts_dir / "bad_one.yaml"])
    assert problems and "must be a SELECT" in problems[0]


def test_lineage_in_the_release_the_catalogue_and_the_portal(hub: Settings) -> None:
    """The derived release names the input release it was computed from; DCAT says
    prov:wasDerivedFrom; the portal's page links it; the bytes are the same when made again."""
    import json

    from fastapi.testclient import TestClient
    from rdflib import Graph, URIRef
    from rdflib.namespace import PROV

    from lgsp.app import create_app
    from lgsp.publishing.versions import latest_release, releases_dir

    pipeline = Pipeline(hub)
    schools = pipeline.run("schools")
    derived = pipeline.run("schools_by_commune")
    assert isinstance(schools.release, int) and isinstance(derived.release, int), (schools, derived)
    folder = releases_dir(hub.home, "schools_by_commune") / f"v{derived.release}"
    record = json.loads((folder / "release.json").read_text(encoding="utf-8"))
    assert record["derived_from"] == [{"dataset": "schools", "run_id": schools.run_id, "version": schools.release}]
    plain = json.loads((releases_dir(hub.home, "schools") / f"v{schools.release}" / "release.json").read_text())
    assert "derived_from" not in plain  # other datasets' release files are as they were
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".csv", ".parquet", ".json")}

    graph = Graph().parse(hub.home / "releases" / "catalog.ttl")
    derived_uri, schools_uri = (URIRef(f"{hub.base_url}/dataset/{d}") for d in ("schools_by_commune", "schools"))
    assert (derived_uri, PROV.wasDerivedFrom, schools_uri) in graph
    assert not list(graph.objects(schools_uri, PROV.wasDerivedFrom))

    with TestClient(create_app(hub)) as client:
        page = client.get("/dataset/schools_by_commune?lang=vi").text
        assert "Tính từ / Computed from" in page
        assert f'<a href="/dataset/schools?lang=vi">schools</a> (v{schools.release})' in page
        assert "derived-from" not in client.get("/dataset/schools").text

    again = pipeline.run("schools_by_commune")  # same inputs: same bytes, no new release
    assert again.release == derived.release
    assert latest_release(hub.home, "schools_by_commune").version == derived.release  # type: ignore[union-attr]
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in files} == files
