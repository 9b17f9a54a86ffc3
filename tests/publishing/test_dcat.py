"""The DCAT-AP catalogue: a golden-file round trip, the official SHACL shapes, and only open data."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.dcat import SPDX, catalogue_graph
from lgsp.publishing.versions import Distribution, Release, latest_release
from lgsp.schemas.loader import load_contracts
from tests.conftest import CONTRACTS
from tests.paths import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "publishing" / "golden" / "catalog.ttl"
SHAPES = REPO_ROOT / "tests" / "publishing" / "standards" / "dcat-ap-3.0.0-SHACL.ttl"


def _release(dataset: str, version: int, day: int) -> Release:
    return Release(
        dataset=dataset,
        version=version,
        run_id=f"run-{version}",
        created_at=dt.datetime(2026, 11, day, 8, 0, 0),
        rows=100 * version,
        columns=["id"],
        distributions=[
            Distribution(format=f, media_type=m, file=f"{dataset}.{f}", bytes=1000 + i, sha256=f"{i:064x}")
            for i, (f, m) in enumerate([("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet")])
        ],
        temporal_start=dt.date(2025, 1, 1),
        temporal_end=dt.date(2025, 12, 31),
    )


def _golden_graph() -> Graph:
    contracts = list(load_contracts(CONTRACTS).values())
    releases = {
        "schools": [_release("schools", 1, 1), _release("schools", 2, 2)],
        "driving_licences": [_release("driving_licences", 1, 1)],  # restricted: must not appear
    }
    return catalogue_graph(contracts, releases, "https://data.example.gov.vn", "Quảng Trị")


def test_catalogue_matches_the_golden_file() -> None:
    graph = _golden_graph()
    if os.environ.get("LGSP_UPDATE_GOLDEN"):
        GOLDEN.write_text(graph.serialize(format="turtle"), encoding="utf-8")
    golden = Graph().parse(GOLDEN, format="turtle")
    assert isomorphic(graph, golden), "set LGSP_UPDATE_GOLDEN=1 to accept a deliberate change"
    assert "driving_licences" not in GOLDEN.read_text(encoding="utf-8")


def test_a_merged_departments_former_names_are_alternative_labels() -> None:
    contracts = list(load_contracts(CONTRACTS).values())
    graph = catalogue_graph(
        contracts, {"ict_indicators": [_release("ict_indicators", 1, 1)]}, "https://d.example", "QT"
    )
    publisher = URIRef("https://d.example/publisher/SKHCN")
    assert graph.value(URIRef("https://d.example/dataset/ict_indicators"), DCTERMS.publisher) == publisher
    assert set(graph.objects(publisher, FOAF.name)) == {
        Literal("Sở Khoa học và Công nghệ", lang="vi"),
        Literal("Department of Science and Technology", lang="en"),
    }
    assert set(graph.objects(publisher, SKOS.altLabel)) == {
        Literal("Sở Thông tin và Truyền thông", lang="vi"),
        Literal("Department of Information and Communications", lang="en"),
    }


def test_json_ld_and_turtle_say_the_same_thing() -> None:
    graph = _golden_graph()
    again = Graph().parse(data=graph.serialize(format="json-ld"), format="json-ld")
    assert isomorphic(graph, again)


@pytest.mark.skipif(not SHAPES.exists(), reason=f"DCAT-AP SHACL shapes not found at {SHAPES}")
def test_the_catalogue_conforms_to_the_dcat_ap_3_shapes(hub: Settings) -> None:
    from pyshacl import validate

    pipeline = Pipeline(hub)
    for dataset_id in ("schools", "price_observations", "driving_licences"):
        pipeline.run(dataset_id)
    data = Graph().parse(hub.home / "releases" / "catalog.jsonld", format="json-ld")
    conforms, _, text = validate(data, shacl_graph=str(SHAPES), inference="rdfs")
    assert conforms, text[:3000]
    datasets = set(data.subjects(RDF.type, DCAT.Dataset))
    assert datasets == {URIRef(f"{hub.base_url}/dataset/{d}") for d in ("schools", "price_observations")}
    turtle = Graph().parse(hub.home / "releases" / "catalog.ttl", format="turtle")
    assert isomorphic(data, turtle)
    release = latest_release(hub.home, "schools")
    assert release is not None
    csv = release.distribution("csv")
    node = URIRef(f"{hub.base_url}/dataset/schools/v{release.version}/csv")
    assert int(data.value(node, DCAT.byteSize)) == csv.bytes
    checksum = data.value(node, SPDX.checksum)
    assert str(data.value(checksum, SPDX.checksumValue)) == csv.sha256
    assert str(data.value(node, DCAT.downloadURL)).endswith(f"/releases/schools/v{release.version}/schools.csv")
