"""The DCAT catalogue in pages, with Hydra paging as ckanext-dcat writes it, so that a harvester
(ckanext-dcat's DCAT RDF harvester follows `hydra:next` until there is none) walks every dataset
without fetching the whole catalogue in one document.

Each page is typed `hydra:PartialCollectionView` (Hydra's current term) and `hydra:PagedCollection`
(the one ckanext-dcat's harvester looks for), with first, previous, next and last as IRIs and
again as ckanext-dcat's deprecated `firstPage`… literals, the total and the page size.
"""

from __future__ import annotations

import math

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from lgsp.publishing.dcat import catalogue_graph
from lgsp.publishing.versions import Release
from lgsp.schemas.contract import Classification, Contract

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
PAGE_SIZE = 100  # ckanext-dcat's default (ckanext.dcat.datasets_per_page)
MAX_PAGE_SIZE = 1000


class NoSuchPage(LookupError):
    """A page number before the first page or past the last."""


def released_ids(contracts: list[Contract], releases: dict[str, list[Release]]) -> list[str]:
    """The datasets the catalogue lists, in its order (by id): open ones with a release."""
    return sorted(c.id for c in contracts if c.classification is Classification.open and releases.get(c.id))


def page_url(base_url: str, extension: str, page: int, per_page: int) -> str:
    size = "" if per_page == PAGE_SIZE else f"&per_page={per_page}"
    return f"{base_url}/catalog.{extension}?page={page}{size}"


def catalogue_page(
    contracts: list[Contract],
    releases: dict[str, list[Release]],
    base_url: str,
    province: str,
    extension: str,
    page: int,
    per_page: int = PAGE_SIZE,
) -> Graph:
    """Page `page` (from 1) of the catalogue; raises NoSuchPage, or ValueError for a bad page size. An empty catalogue has one empty page."""
    if not 1 <= per_page <= MAX_PAGE_SIZE:
        raise ValueError(f"per_page phải từ 1 đến {MAX_PAGE_SIZE} / per_page must be 1 to {MAX_PAGE_SIZE}")
    ids = released_ids(contracts, releases)
    last = max(1, math.ceil(len(ids) / per_page))
    if not 1 <= page <= last:
        raise NoSuchPage(f"Không có trang {page}: có {last} trang / no page {page}: there are {last}")
    members = set(ids[(page - 1) * per_page : page * per_page])
    g = catalogue_graph(contracts, releases, base_url, province, members=members)
    g.bind("hydra", HYDRA)
    here = URIRef(page_url(base_url, extension, page, per_page))
    g.add((here, RDF.type, HYDRA.PartialCollectionView))
    g.add((here, RDF.type, HYDRA.PagedCollection))
    g.add((URIRef(f"{base_url}/catalog"), HYDRA.view, here))
    g.add((here, HYDRA.totalItems, Literal(len(ids), datatype=XSD.nonNegativeInteger)))
    g.add((here, HYDRA.itemsPerPage, Literal(per_page, datatype=XSD.nonNegativeInteger)))
    links = {
        "first": 1,
        "last": last,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < last else None,
    }
    for name, number in links.items():
        if number is not None:
            target = page_url(base_url, extension, number, per_page)
            g.add((here, HYDRA[name], URIRef(target)))
            g.add((here, HYDRA[f"{name}Page"], Literal(target)))  # what older ckanext-dcat harvesters read
    return g
