"""Paging through an API (page, offset, cursor or Link header) and pulling only what changed."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any
from urllib.parse import urljoin, urlsplit

from lgsp.connectors.rest.client import Client
from lgsp.connectors.rest.drift import path_tree
from lgsp.schemas.contract import PagingStyle


def _dig(body: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _reach_back(cursor: str, seconds: int) -> str:
    """The cursor `seconds` earlier (the contract's lookback): a source that makes a record visible
    late, with an updated_at at or before the last one published, still has it pulled."""
    if not seconds:
        return cursor
    moved = dt.datetime.fromisoformat(cursor) - dt.timedelta(seconds=seconds)
    return moved.isoformat(sep=" ")


def _iso(cursor: str) -> str:
    """The warehouse's cursor text (UTC, '2026-01-02 03:04:05') as ISO 8601 for an API."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?", cursor):
        return cursor.replace(" ", "T") + "Z"
    return cursor


def _same_origin(client: Client, first: str, following: str) -> str:
    """A `Link: rel="next"` URL, refused when it leaves the API's origin (it would get our secrets)."""
    a, b = urlsplit(first), urlsplit(following)
    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
        raise client._error(f"the next-page link leads to another server ({b.scheme}://{b.netloc}); refused")
    return following


@dataclass(frozen=True)
class Page:
    """One answer of the API as it came (the bytes DuckDB will read) and how many records it holds."""

    number: int
    content: bytes
    records: int
    unknown: dict[str, int]  # undeclared field path -> records of the page that have it
    missing: dict[str, int]  # declared field path -> records of the page that lack it


def fields_of(
    records: list[dict[str, Any]], node: dict[str, Any], prefix: str = ""
) -> tuple[dict[str, int], dict[str, int]]:
    """Schema drift of one page: undeclared fields, and declared fields records lack (counted).

    Checked on the objects already parsed (for the next cursor), by counting the records' key
    sets (nearly all records of a page share one), so the cost stays far below the parsing's;
    a null parent object is not a drift of its fields."""
    unknown: dict[str, int] = {}
    missing: dict[str, int] = {}
    shapes = set(map(tuple, records))
    drifted = any(node.keys() != set(keys) for keys in shapes)
    for keys, count in Counter(map(tuple, records)).items() if drifted else ():
        for key in keys:
            if key not in node:
                unknown[prefix + key] = unknown.get(prefix + key, 0) + count
        if len(keys) != len(node) or any(key not in node for key in keys):
            for key in node.keys() - set(keys):
                missing[prefix + key] = missing.get(prefix + key, 0) + count
    for key, children in node.items():
        if children:
            inner = [v for v in map(dict.get, records, repeat(key)) if type(v) is dict]
            if inner:
                more_unknown, more_missing = fields_of(inner, children, prefix + key + ".")
                unknown.update(more_unknown)
                missing.update(more_missing)
    return unknown, missing


def pages(client: Client, state: dict[str, Any] | None) -> Iterator[Page]:
    """Every page, in order, whatever the paging style."""
    source = client.source
    tree = path_tree([path for _, path in client.config.columns])
    paging = source.paging
    url = client.config.base_url + source.path
    params: dict[str, Any] | None = dict(source.params)
    assert params is not None
    if source.updated_since and state and state.get("cursor"):
        params[source.updated_since] = _iso(_reach_back(str(state["cursor"]), source.lookback))
    size = paging.page_size
    style = paging.style
    if style is PagingStyle.page:
        params[paging.page_param], params[paging.size_param] = paging.first_page, size
    elif style is PagingStyle.offset:
        params[paging.offset_param], params[paging.limit_param] = 0, size
    elif style in (PagingStyle.cursor, PagingStyle.link):
        params[paging.limit_param] = size
    next_url: str | None = url
    number = 0
    while next_url:
        body, response = client.get(next_url, params)
        records = body if not source.records else _dig(body, source.records)
        if not isinstance(records, list):
            raise client._error(f"the response has no record list at '{source.records or '(body)'}'")
        if records and not all(type(r) is dict for r in records):
            raise client._error(f"page {number + 1}: the records at '{source.records or '(body)'}' are not all objects")
        number += 1
        if records:
            yield Page(number, response.content, len(records), *fields_of(records, tree))
        if style is PagingStyle.none:
            return
        if style is PagingStyle.link:
            link = response.links.get("next", {}).get("url")
            next_url, params = (_same_origin(client, url, urljoin(response.url, link)) if link else None), None
        elif style is PagingStyle.cursor:
            token = _dig(body, paging.next_cursor)
            if not token:
                return
            params = {**(params or {}), paging.cursor_param: token}
        elif not records:  # a server may serve fewer than asked: only an empty page is the end
            return
        elif style is PagingStyle.page:
            assert params is not None
            params = {**params, paging.page_param: params[paging.page_param] + 1}
        else:
            assert params is not None
            params = {**params, paging.offset_param: params[paging.offset_param] + len(records)}
