"""JSON pages to the contract's columns: flattened by DuckDB, chunk by chunk, into the run's rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.rest.config import RestConfig
from lgsp.connectors.rest.drift import Drift, path_tree
from lgsp.connectors.rest.paging import Page
from lgsp.core import duck
from lgsp.schemas.contract import SchemaDrift
from lgsp.warehouse.projection import EXTRA


class Spooler:
    """Turns saved pages into the run's rows, chunk by chunk, in DuckDB.

    DuckDB parses the JSON (in C++, without Python's lock), so a chunk is flattened while the
    next pages download. Every declared leaf is read as text (numbers as written, objects as
    JSON); the stage types it. Schema drift was counted on each page as it arrived (`fields_of`);
    under `evolve` the undeclared fields are read too, as JSON, into `_lgsp_extra`.
    """

    def __init__(self, config: RestConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.tree = path_tree([path for _, path in config.columns])
        self.policy = config.source.schema_drift
        self.drift = Drift()
        self.records = 0

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.config.columns] + ([EXTRA] if self.policy is SchemaDrift.evolve else [])

    def empty(self) -> str:
        """The columns with no rows: what an endpoint with no records gives."""
        return "SELECT " + ", ".join(f"CAST(NULL AS VARCHAR) AS {duck.quote(c)}" for c in self.columns) + " WHERE false"

    def _read(self, files: list[Path], kind: str) -> str:
        listed = "[" + ", ".join(duck.literal(str(f)) for f in files) + "]"
        largest = max(f.stat().st_size for f in files)  # DuckDB sizes its buffers by this bound
        options = f"format = 'unstructured', records = 'false', maximum_object_size = {largest + 1024}"
        options += f", columns = {{'json': {duck.literal(kind)}}}"
        return f"read_json({listed}, {options})"

    def _readable(self, path: str, unknown: list[str]) -> bool:
        """Whether DuckDB can read an undeclared field by name: its parent must be a declared
        object (a key with a dot in it would read as a path), and no sibling may differ from it
        only in case (DuckDB's struct fields ignore case). Others are still counted as drift."""
        *parents, name = path.split(".")
        node = self.tree
        for part in parents:
            if part not in node or not node[part]:
                return False
            node = node[part]
        prefix = ".".join(parents) + "." if parents else ""
        siblings = set(node) | {u[len(prefix) :] for u in unknown if u.startswith(prefix) and u != path}
        return not any(s.lower() == name.lower() for s in siblings)

    def _declared(self, node: dict[str, Any], unknown: set[str], prefix: str) -> str:
        """DuckDB type reading the declared paths as text, and undeclared ones (evolve) as JSON."""
        items = []
        for name, children in node.items():
            items.append(
                f"{duck.quote(name)} "
                + (self._declared(children, unknown, prefix + name + ".") if children else "VARCHAR")
            )
        for path in sorted(unknown):
            if path.startswith(prefix) and "." not in path[len(prefix) :]:
                items.append(f"{duck.quote(path[len(prefix) :])} JSON")
        return f"STRUCT({', '.join(items)})"

    def load(self, chunk: list[tuple[Path, Page]]) -> None:
        """Flatten one chunk of saved pages into the run's rows."""
        files = [path for path, _ in chunk]
        first_page = chunk[0][1].number
        for _, page in chunk:
            for path, count in page.unknown.items():
                self.drift.note(self.drift.unknown, path, count, page.number)
            for path, count in page.missing.items():
                self.drift.note(self.drift.missing, path, count, page.number)
        unknown = sorted({path for _, page in chunk for path in page.unknown})
        # an undeclared field inside an undeclared object is carried with its parent
        unknown = [u for u in unknown if not any(u.startswith(o + ".") for o in unknown)]
        unknown = [u for u in unknown if self._readable(u, unknown)]
        kind = self._declared(self.tree, set(unknown) if self.policy is SchemaDrift.evolve else set(), "")
        body = kind + "[]"
        for part in reversed(self.config.source.records.split(".") if self.config.source.records else []):
            body = f"STRUCT({duck.quote(part)} {body})"
        records_at = "json" + "".join(f".{duck.quote(p)}" for p in self.config.source.records.split(".") if p)
        source = f"(SELECT unnest({records_at}) AS r FROM {self._read(files, body)})"
        missing = {path for _, page in chunk for path in page.missing}
        if self.policy is SchemaDrift.freeze and (unknown or missing):
            notes = self.drift.as_notes()
            found = [f"undeclared field '{p}' (page {v['first_page']})" for p, v in notes["unknown_fields"].items()]
            found += [f"missing field '{p}' (page {v['first_page']})" for p, v in notes["missing_fields"].items()]
            raise ConnectorError(
                "the source's fields differ from the contract and its schema_drift policy is freeze: "
                + "; ".join(found)
                + ". Declare the fields (or set schema_drift: evolve or discard)."
            )
        items = [
            f"r.{'.'.join(duck.quote(p) for p in path.split('.'))} AS {duck.quote(name)}"
            for name, path in self.config.columns
        ]
        if self.policy is SchemaDrift.evolve:
            extra = "CAST(NULL AS VARCHAR)"
            if unknown:
                # only the fields a record has: {"extra": [1, 2]}, not {"extra": …, "other": null}
                entries = ", ".join(
                    f"{{'k': {duck.literal(path)}, 'v': r.{'.'.join(duck.quote(p) for p in path.split('.'))}}}"
                    for path in unknown
                )
                kept = f"list_filter([{entries}], e -> e.v IS NOT NULL)"
                extra = f"CASE WHEN len({kept}) > 0 THEN CAST(to_json(map_from_entries({kept})) AS VARCHAR) END"
            items.append(f"{extra} AS {duck.quote(EXTRA)}")
        try:
            self.records += self.sink(f"SELECT {', '.join(items)} FROM {source}")
        except duckdb.Error as exc:
            raise ConnectorError(
                f"pages {first_page}…: could not read the records: {str(exc).splitlines()[0]}"
            ) from None
        for f in files:
            f.unlink()


# Records per chunk: at least one DuckDB row group (122,880 rows), so each insert is written
# straight to the warehouse file instead of going through its write-ahead log first.
CHUNK_RECORDS = 125_000
Sink = Callable[[str], int]  # runs a SELECT of text columns into the run's rows; returns rows added
