"""Connectors by kind: a plain registry, so a new kind is one function and one config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from connectors.errors import ConnectorError

Extract = Callable[[Any, dict[str, Any] | None], pa.RecordBatchReader]
Scan = Callable[[Any, dict[str, Any] | None], Any]


@dataclass(frozen=True)
class Connector:
    """`extract` streams Arrow batches; `scan`, when a kind has one, lets DuckDB read the source
    directly into staging (same rows, no Python in between)."""

    kind: str
    extract: Extract
    scan: Scan | None = None


_REGISTRY: dict[str, Connector] = {}


def register(kind: str, scan: Scan | None = None) -> Callable[[Extract], Extract]:
    def wrap(func: Extract) -> Extract:
        _REGISTRY[kind] = Connector(kind, func, scan)
        return func

    return wrap


def get(kind: str) -> Connector:
    if kind not in _REGISTRY:
        raise ConnectorError(f"no connector of kind '{kind}' (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[kind]
