"""The simplest client that pages a collection of the national-API simulator: the yardstick for the connector.

A connector that is much slower than this loop spends its time on something other than HTTP and JSON.
"""

from __future__ import annotations

import time

import orjson
import requests


def plain_paging_loop(base_url: str, token: str, path: str, page_size: int) -> tuple[int, float]:
    """Follow next_cursor through `path` with one keep-alive session; returns (records read, seconds taken)."""
    records, cursor = 0, None
    started = time.perf_counter()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if cursor is not None:
                params["cursor"] = cursor
            response = session.get(base_url + path, params=params, timeout=60)
            response.raise_for_status()
            body = orjson.loads(response.content)
            records += len(body["data"])
            cursor = body["next_cursor"]
            if cursor is None:
                return records, time.perf_counter() - started
