"""Connectors by kind: a plain registry, so a new kind is one module with one config and one function.

A connector turns a contract (and its resolved connection) into its own config, streams the
source as Arrow batches, and may report what it noticed while reading (`notes`: schema drift,
values that needed a decision, files taken in). Some kinds also let DuckDB scan the source
directly (`scan`), and some must finish their side after the run publishes (`commit`: a file
drop archives the files it took in).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from lgsp.connectors.errors import ConnectorError
from lgsp.warehouse.runs import RunRecord

Configure = Callable[[Any, Any], Any]  # (contract, settings) -> config
Extract = Callable[[Any, dict[str, Any] | None, dict[str, Any]], pa.RecordBatchReader]  # (config, state, notes)
Scan = Callable[[Any, dict[str, Any] | None], Any]
# (config, state, notes, sink, folder): hands the rows to `sink` as SELECTs, chunk by chunk
Load = Callable[[Any, dict[str, Any] | None, dict[str, Any], Callable[[str], int], Any], None]
Commit = Callable[[Any, dict[str, Any], RunRecord], None]  # (config, notes, run record) once the run finished
# (config, contract, the run file's connection (the warehouse's, with the run file attached, for a source that
# reads the warehouse), deletes table, last tombstone cursor) -> notes: writes the
# keys the source deleted (incremental.deletes: key_diff, tombstones) into the table; with no table
# (a full load), notes only where the tombstones stand
Deletions = Callable[[Any, Any, Any, str | None, str | None], dict[str, Any]]


@dataclass(frozen=True)
class Connector:
    kind: str
    configure: Configure
    extract: Extract
    scan: Scan | None = None
    commit: Commit | None = None
    full_each_run: bool = True  # False: each run brings only new rows, merged by key (file drops)
    load: Load | None = None  # stages its rows itself, chunk by chunk, as DuckDB SELECTs (e.g. over JSON)


_REGISTRY: dict[str, Connector] = {}
# The module of each kind (the contract's source kinds); importing it registers the kind.
MODULES = {
    "sql": "lgsp.connectors.sql",
    "rest": "lgsp.connectors.rest",
    "files": "lgsp.connectors.files",
    "derived": "lgsp.connectors.derived",
}


def register(
    kind: str,
    *,
    configure: Configure,
    scan: Scan | None = None,
    commit: Commit | None = None,
    full_each_run: bool = True,
    load: Load | None = None,
) -> Callable[[Extract], Extract]:
    def wrap(func: Extract) -> Extract:
        _REGISTRY[kind] = Connector(kind, configure, func, scan, commit, full_each_run, load)
        return func

    return wrap


_DELETIONS: dict[str, Deletions] = {}
# The module that reads a kind's deletions, when the kind can (incremental.deletes).
DELETION_MODULES = {"sql": "lgsp.connectors.sql_deletes"}


def register_deletions(kind: str) -> Callable[[Deletions], Deletions]:
    def wrap(func: Deletions) -> Deletions:
        _DELETIONS[kind] = func
        return func

    return wrap


def deletions(kind: str) -> Deletions:
    """What reads the keys a source of this kind deleted (key_diff, tombstones)."""
    if kind not in _DELETIONS and kind in DELETION_MODULES:
        importlib.import_module(DELETION_MODULES[kind])
    if kind not in _DELETIONS:
        raise ConnectorError(f"a {kind} source cannot say which rows it deleted (incremental.deletes)")
    return _DELETIONS[kind]


def get(kind: str) -> Connector:
    if kind not in _REGISTRY and kind in MODULES:
        importlib.import_module(MODULES[kind])
    if kind not in _REGISTRY:
        raise ConnectorError(f"no connector of kind '{kind}' (known: {', '.join(sorted(MODULES))})")
    return _REGISTRY[kind]
