"""Connectors by kind: a plain registry, so a new kind is one function and one config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from connectors.errors import ConnectorError

Extract = Callable[[Any, dict[str, Any] | None], pa.RecordBatchReader]

_REGISTRY: dict[str, Extract] = {}


def register(kind: str) -> Callable[[Extract], Extract]:
    def wrap(func: Extract) -> Extract:
        _REGISTRY[kind] = func
        return func

    return wrap


def get(kind: str) -> Extract:
    if kind not in _REGISTRY:
        raise ConnectorError(f"no connector of kind '{kind}' (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[kind]
