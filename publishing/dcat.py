"""The DCAT-AP 3 catalogue of open datasets and their latest releases, as JSON-LD and Turtle.

Pure mapping from contracts and releases to an RDF graph (ckanext-dcat's habit: mapping kept
apart from serving), regenerated on every release.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, PROV, RDF, SKOS, XSD

from lgsp.publishing.versions import Release, latest_release, list_releases
from lgsp.schemas.contract import Classification, Contract

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
DCAT_VERSION = URIRef(str(DCAT) + "version")  # DCAT 3 term missing from rdflib's closed namespace
SPDX = Namespace("http://spdx.org/rdf/terms#")
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "http://www.iana.org/assignments/media-types/"

FREQUENCY = {
    "continuous": "CONT",
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "semiannual": "ANNUAL_2",
    "annual": "ANNUAL",
    "irregular": "IRREG",
}
FILE_TYPE = {"csv": "CSV", "parquet": "PARQUET", "json": "JSON"}
THEME_LABELS = {  # EU data themes, Vietnamese and English
    "AGRI": ("Nông nghiệp, thủy sản, lâm nghiệp và thực phẩm", "Agriculture, fisheries, forestry and food"),
    "ECON": ("Kinh tế và tài chính", "Economy and finance"),
    "EDUC": ("Giáo dục, văn hóa và thể thao", "Education, culture and sport"),
    "ENER": ("Năng lượng", "Energy"),
    "ENVI": ("Môi trường", "Environment"),
    "GOVE": ("Chính phủ và khu vực công", "Government and public sector"),
    "HEAL": ("Y tế", "Health"),
    "INTR": ("Vấn đề quốc tế", "International issues"),
    "JUST": ("Tư pháp, hệ thống pháp luật và an toàn công cộng", "Justice, legal system and public safety"),
    "REGI": ("Vùng và đô thị", "Regions and cities"),
    "SOCI": ("Dân số và xã hội", "Population and society"),
    "TECH": ("Khoa học và công nghệ", "Science and technology"),
    "TRAN": ("Giao thông vận tải", "Transport"),
}


def _text(graph: Graph, subject: URIRef | BNode, predicate: URIRef, vi: str, en: str) -> None:
    graph.add((subject, predicate, Literal(vi, lang="vi")))
    graph.add((subject, predicate, Literal(en, lang="en")))


def _date(value: dt.datetime | dt.date) -> Literal:
    if isinstance(value, dt.datetime):
        return Literal(value.replace(microsecond=0).isoformat(), datatype=XSD.dateTime)
    return Literal(value.isoformat(), datatype=XSD.date)


def _typed(g: Graph, iri: str, kind: URIRef) -> URIRef:
    """A controlled-vocabulary IRI, typed so that DCAT-AP's SHACL shapes can check it."""
    node = URIRef(iri)
    g.add((node, RDF.type, kind))
    return node


def dataset_uri(base_url: str, dataset_id: str) -> URIRef:
    return URIRef(f"{base_url}/dataset/{dataset_id}")


def download_url(base_url: str, release: Release, file: str) -> str:
    return f"{base_url}/releases/{release.dataset}/v{release.version}/{file}"


def catalogue_graph(
    contracts: list[Contract],
    releases: dict[str, list[Release]],
    base_url: str,
    province: str,
    members: set[str] | None = None,
) -> Graph:
    """DCAT-AP graph: the catalogue, each released open dataset and its latest distributions
    (only those in `members`, for a page; the catalogue's dates stay the whole catalogue's)."""
    g = Graph()
    for prefix, ns in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("vcard", VCARD),
        ("spdx", SPDX),
        ("skos", SKOS),
    ):
        g.bind(prefix, ns)
    catalogue = URIRef(f"{base_url}/catalog")
    g.add((catalogue, RDF.type, DCAT.Catalog))
    _text(
        g, catalogue, DCTERMS.title, f"Danh mục dữ liệu mở tỉnh {province}", f"{province} province open-data catalogue"
    )
    _text(
        g,
        catalogue,
        DCTERMS.description,
        f"Dữ liệu mở do các sở, ngành tỉnh {province} công bố theo Nghị định 47/2020/NĐ-CP.",
        f"Open data published by the departments of {province} province under Decree 47/2020/ND-CP.",
    )
    authority = URIRef(f"{base_url}/publisher/province")
    g.add((authority, RDF.type, FOAF.Agent))
    _text(g, authority, FOAF.name, f"Ủy ban nhân dân tỉnh {province}", f"People's Committee of {province} province")
    g.add((catalogue, DCTERMS.publisher, authority))
    g.add((catalogue, FOAF.homepage, URIRef(f"{base_url}/")))
    g.add((URIRef(f"{base_url}/"), RDF.type, FOAF.Document))
    place = URIRef(f"{base_url}/place/province")
    g.add((place, RDF.type, DCTERMS.Location))
    g.add((place, SKOS.prefLabel, Literal(f"Tỉnh {province}", lang="vi")))
    modified: list[dt.datetime] = []
    for contract in sorted(contracts, key=lambda c: c.id):
        history = releases.get(contract.id) or []
        if contract.classification is not Classification.open or not history:
            continue
        latest = history[-1]
        modified.append(latest.created_at)
        if members is not None and contract.id not in members:
            continue
        dataset = dataset_uri(base_url, contract.id)
        g.add((catalogue, DCAT.dataset, dataset))
        _dataset(g, contract, history, dataset, place, base_url)
    if modified:
        g.add((catalogue, DCTERMS.modified, _date(max(modified))))
    return g


def _dataset(
    g: Graph, contract: Contract, history: list[Release], dataset: URIRef, place: URIRef, base_url: str
) -> None:
    latest = history[-1]
    g.add((dataset, RDF.type, DCAT.Dataset))
    g.add((dataset, DCTERMS.identifier, Literal(contract.id)))
    _text(g, dataset, DCTERMS.title, contract.title.vi, contract.title.en)
    _text(g, dataset, DCTERMS.description, contract.description.vi, contract.description.en)
    for lang in ("vi", "en"):
        for keyword in getattr(contract.keywords, lang):
            g.add((dataset, DCAT.keyword, Literal(keyword, lang=lang)))
    for theme in contract.theme:
        concept = _typed(g, EU_THEME + theme.value, SKOS.Concept)
        _text(g, concept, SKOS.prefLabel, *THEME_LABELS[theme.value])
        g.add((dataset, DCAT.theme, concept))
    frequency = _typed(g, EU_FREQUENCY + FREQUENCY[contract.update_frequency.value], DCTERMS.Frequency)
    g.add((dataset, DCTERMS.accrualPeriodicity, frequency))
    g.add((dataset, DCTERMS.issued, _date(history[0].created_at)))
    g.add((dataset, DCTERMS.modified, _date(latest.created_at)))
    g.add((dataset, DCAT_VERSION, Literal(str(latest.version))))
    g.add((dataset, DCAT.landingPage, _typed(g, str(dataset), FOAF.Document)))
    g.add((dataset, DCTERMS.spatial, place))
    publisher = URIRef(f"{base_url}/publisher/{contract.publisher.code}")
    g.add((publisher, RDF.type, FOAF.Agent))
    _text(g, publisher, FOAF.name, contract.publisher.name.vi, contract.publisher.name.en)
    for former in contract.publisher.former_names:  # e.g. a department merged into this one in 2025
        _text(g, publisher, SKOS.altLabel, former.vi, former.en)
    g.add((dataset, DCTERMS.publisher, publisher))
    contact = URIRef(f"{base_url}/publisher/{contract.publisher.code}#contact")
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, RDF.type, VCARD.Kind))
    g.add((contact, VCARD.fn, Literal(contract.publisher.name.vi, lang="vi")))
    if contract.publisher.email:
        g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{contract.publisher.email}")))
    g.add((dataset, DCAT.contactPoint, contact))
    if latest.temporal_start and latest.temporal_end:
        period = URIRef(f"{dataset}#temporal")
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        g.add((period, DCAT.startDate, _date(latest.temporal_start)))
        g.add((period, DCAT.endDate, _date(latest.temporal_end)))
        g.add((dataset, DCTERMS.temporal, period))
    for source in latest.derived_from or []:
        if source.version is not None:  # a released (open) input: a dataset of this catalogue
            g.bind("prov", PROV)
            g.add((dataset, PROV.wasDerivedFrom, dataset_uri(base_url, source.dataset)))
    licence = URIRef(contract.licence.url)
    g.add((licence, RDF.type, DCTERMS.LicenseDocument))
    for d in latest.distributions:
        distribution = URIRef(f"{dataset}/v{latest.version}/{d.format}")
        g.add((dataset, DCAT.distribution, distribution))
        g.add((distribution, RDF.type, DCAT.Distribution))
        _text(
            g,
            distribution,
            DCTERMS.title,
            f"{contract.title.vi} (phiên bản {latest.version}, {d.format.upper()})",
            f"{contract.title.en} (version {latest.version}, {d.format.upper()})",
        )
        g.add((distribution, DCAT.accessURL, URIRef(str(dataset))))
        g.add((distribution, DCAT.downloadURL, URIRef(download_url(base_url, latest, d.file))))
        plain, _, packed = d.format.partition(".")  # "csv.gz": the CSV, gzip-compressed (DCAT 3 compressFormat)
        media_type = next((p.media_type for p in latest.distributions if p.format == plain), d.media_type)
        g.add((distribution, DCAT.mediaType, _typed(g, IANA + media_type, DCTERMS.MediaType)))
        if packed:
            g.add((distribution, DCAT.compressFormat, _typed(g, IANA + d.media_type, DCTERMS.MediaType)))
        g.add((distribution, DCTERMS.format, _typed(g, EU_FILE_TYPE + FILE_TYPE[plain], DCTERMS.MediaTypeOrExtent)))
        g.add((distribution, DCAT.byteSize, Literal(d.bytes, datatype=XSD.nonNegativeInteger)))
        g.add((distribution, DCTERMS.license, licence))
        g.add((distribution, DCTERMS.issued, _date(latest.created_at)))
        checksum = URIRef(f"{distribution}#sha256")
        g.add((checksum, RDF.type, SPDX.Checksum))
        g.add((checksum, SPDX.algorithm, _typed(g, str(SPDX.checksumAlgorithm_sha256), SPDX.ChecksumAlgorithm)))
        g.add((checksum, SPDX.checksumValue, Literal(d.sha256, datatype=XSD.hexBinary)))
        g.add((distribution, SPDX.checksum, checksum))


def write_catalogue(home: Path, contracts: list[Contract], base_url: str, province: str) -> Path:
    """Regenerate releases/catalog.ttl and releases/catalog.jsonld; returns the folder."""
    releases = {c.id: list_releases(home, c.id) for c in contracts if latest_release(home, c.id)}
    graph = catalogue_graph(contracts, releases, base_url, province)
    folder = home / "releases"
    folder.mkdir(parents=True, exist_ok=True)
    for name, fmt in (("catalog.ttl", "turtle"), ("catalog.jsonld", "json-ld")):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(serialise(graph, fmt), encoding="utf-8")
        tmp.replace(folder / name)
    return folder


def _canonical(value: Any) -> Any:
    """JSON-LD with every list in a fixed order, so the same graph gives the same bytes."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True))
    return value


def serialise(graph: Graph, fmt: str) -> str:
    """Turtle or JSON-LD text of the catalogue, byte-stable for the same graph."""
    text = graph.serialize(format=fmt)
    if fmt == "json-ld":
        text = json.dumps(_canonical(json.loads(text)), ensure_ascii=False, indent=1, sort_keys=True)
    return text
