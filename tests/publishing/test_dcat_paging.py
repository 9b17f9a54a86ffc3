"""The paged DCAT catalogue, walked over a real `lgsp serve` as ckanext-dcat's DCAT RDF harvester
walks it: parse a page with rdflib, take its datasets, follow the `hydra:PagedCollection`'s
`hydra:next` (else the older `hydra:nextPage`) until there is none, and stop if a page repeats the
first. Every open dataset is found exactly once; the pages still conform to DCAT-AP 3."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import httpx
import pytest
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import DCAT, RDF

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.counts import ensure_store
from tests.conftest import serve
from tests.publishing.test_dcat import SHAPES

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
OPEN = ["download_stats", "ict_indicators", "price_observations", "schools"]
FORMATS = {"ttl": "turtle", "jsonld": "json-ld"}


@pytest.fixture
def catalogue(hub: Settings) -> Iterator[tuple[str, Settings]]:
    ensure_store(hub.home)
    pipeline = Pipeline(hub)
    for dataset_id in [*OPEN, "driving_licences"]:  # the last is restricted: never in the catalogue
        assert pipeline.run(dataset_id).status == "published"
    for url, _app in serve(hub):
        yield url, hub


def _next_page(graph: Graph) -> str | None:
    """ckanext-dcat's RDFParser.next_page."""
    for node in graph.subjects(RDF.type, HYDRA.PagedCollection):
        for o in graph.objects(node, HYDRA.next):
            return str(o)
        for o in graph.objects(node, HYDRA.nextPage):
            return str(o)
    return None


def test_a_harvester_walking_the_pages_finds_every_open_dataset_once(catalogue: tuple[str, Settings]) -> None:
    url, hub = catalogue
    assert "base_url" not in hub.model_fields_set  # no public address configured: links name the one asked
    expected = sorted(f"{url}/dataset/{d}" for d in OPEN)
    listed = httpx.get(f"{url}/api/3/action/package_list").json()["result"]
    assert sorted(listed) == OPEN
    for extension, rdf_format in FORMATS.items():
        for per_page in (1, 2, 3, 4, 100):
            start = f"{url}/catalog.{extension}?page=1" + ("" if per_page == 100 else f"&per_page={per_page}")
            found, pages = _harvest(start, rdf_format, url, url)
            assert sorted(found) == expected and len(found) == len(set(found)), (extension, per_page)
            assert pages == math.ceil(len(OPEN) / per_page)


def _harvest(start: str, rdf_format: str, public: str, local: str) -> tuple[list[str], int]:
    """The datasets a DCATRDFHarvester's gather stage finds from `start`, and the pages it read.
    The links name the public address (`public`: $LGSP_BASE_URL, else the one asked); this harvester
    reads them at `local`."""
    found: list[str] = []
    url: str | None = start
    first_hash = None
    pages = 0
    while url:
        r = httpx.get(url.replace(public, local), timeout=30)
        assert r.status_code == 200, (url, r.text[:300])
        digest = hashlib.md5(r.content).digest()
        if first_hash is not None and digest == first_hash:
            break  # the harvester's guard against a server ignoring the page parameter
        first_hash = first_hash or digest
        graph = Graph().parse(data=r.content, format=rdf_format)
        found += [str(s) for s in graph.subjects(RDF.type, DCAT.Dataset)]
        pages += 1
        assert pages <= 100, "the pages never end"
        url = _next_page(graph)
    return found, pages


def test_each_page_says_where_it_is(catalogue: tuple[str, Settings]) -> None:
    url, _ = catalogue
    graph = Graph().parse(data=httpx.get(f"{url}/catalog.ttl?page=2&per_page=1").content, format="turtle")
    base = f"{url}/catalog.ttl"
    here = URIRef(f"{base}?page=2&per_page=1")
    assert (here, RDF.type, HYDRA.PartialCollectionView) in graph and (here, RDF.type, HYDRA.PagedCollection) in graph
    assert (URIRef(f"{url}/catalog"), HYDRA.view, here) in graph
    assert int(graph.value(here, HYDRA.totalItems)) == len(OPEN)
    assert int(graph.value(here, HYDRA.itemsPerPage)) == 1
    for name, page in (("first", 1), ("previous", 1), ("next", 3), ("last", 4)):
        assert graph.value(here, HYDRA[name]) == URIRef(f"{base}?page={page}&per_page=1"), name
        assert str(graph.value(here, HYDRA[f"{name}Page"])) == f"{base}?page={page}&per_page=1"
    assert list(graph.subjects(RDF.type, DCAT.Dataset)) == [URIRef(f"{url}/dataset/{OPEN[1]}")]
    last = Graph().parse(data=httpx.get(f"{url}/catalog.jsonld?page=4&per_page=1").content, format="json-ld")
    node = URIRef(f"{url}/catalog.jsonld?page=4&per_page=1")
    assert last.value(node, HYDRA.next) is None and last.value(node, HYDRA.nextPage) is None
    assert last.value(node, HYDRA.previous) == URIRef(f"{url}/catalog.jsonld?page=3&per_page=1")
    # without ?page, the whole catalogue as before, with no paging
    whole = Graph().parse(data=httpx.get(f"{url}/catalog.ttl").content, format="turtle")
    assert len(set(whole.subjects(RDF.type, DCAT.Dataset))) == len(OPEN)
    assert not list(whole.subjects(RDF.type, HYDRA.PagedCollection))


def test_a_page_conforms_to_the_dcat_ap_3_shapes(catalogue: tuple[str, Settings]) -> None:
    from pyshacl import validate

    url, _ = catalogue
    page = Graph().parse(data=httpx.get(f"{url}/catalog.jsonld?page=1&per_page=2").content, format="json-ld")
    conforms, _, text = validate(page, shacl_graph=str(SHAPES), inference="rdfs")
    assert conforms, text[:3000]


def test_pages_out_of_range_and_bad_sizes_are_refused(catalogue: tuple[str, Settings]) -> None:
    url, _ = catalogue
    for query, status in (
        ("page=0", 404),
        ("page=-1", 404),
        ("page=2", 404),  # four datasets fit on the first page of 100
        ("page=5&per_page=1", 404),
        ("page=1&per_page=0", 409),
        ("page=1&per_page=1001", 409),
        ("page=abc", 409),
        ("page=1&per_page=ten", 409),
    ):
        for extension in FORMATS:
            r = httpx.get(f"{url}/catalog.{extension}?{query}")
            assert r.status_code == status, (query, r.text[:200])
            assert r.json()["success"] is False
