"""Derived connector: a dataset computed by SQL over the hub's own published datasets.

The contract's SELECT runs as a scan inside the warehouse writer, straight into the stage: it
reads the inputs' published tables (`main.<input>`) as the last committed transaction left them.
Publishing a dataset is one transaction under the same writer lock, so a derived run sees each
input either before or after a publish, never half of one. What it read (each input's latest
published run) is noted while the lock is held, for the release's lineage.

A contract with `source.incremental` recomputes only the groups its followed input's changes
touched (lgsp.warehouse.changes keeps them): the input is restricted to those groups by a common
table expression of its name, and the publish replaces exactly those groups. It recomputes in full,
saying why, whenever that would not give the same rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register
from lgsp.core import duck
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, DerivedSource
from lgsp.warehouse import changes
from lgsp.warehouse.store import Warehouse


class DerivedConfig(BaseModel):
    """What the derived connector needs: the SQL, its inputs and the contract's columns."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    inputs: list[str]
    sql: str
    columns: list[str]
    batch_rows: int = 250_000
    primary_key: list[str] = []
    follows: str | None = None  # source.incremental.input
    keys: dict[str, str] = {}  # source.incremental.keys: derived key column → expression over the input
    fingerprint: str = ""  # of the contract's parts that decide the rows (a change means a full recompute)


def tables_named(sql: str) -> set[str]:
    """The tables a SELECT reads (common table expressions left out), without their schema.

    Raises ConnectorError when DuckDB cannot parse it.
    """
    import duckdb

    try:
        return {str(t) for t in duckdb.get_table_names(sql)}
    except duckdb.Error as exc:
        raise ConnectorError(f"sql: {str(exc).splitlines()[0]}") from None


def names_with_schema(sql: str, table: str) -> bool:
    """Whether the SQL names `table` with a schema or database (main.env_readings), which the
    incremental run's restriction of the bare name would not reach."""
    return re.search(rf"\.\s*\"?{re.escape(table)}\b", sql, re.IGNORECASE) is not None


TRUNCATIONS = ("year", "quarter", "month", "week", "day", "hour", "minute")


def truncation(con: Any, expression: str) -> tuple[str, str] | None:
    """(column, unit) when a key expression is `date_trunc('<unit>', column)`, possibly cast to a
    date (then at least a day): its group `v` holds the rows with column in [v, v + 1 unit)."""
    import duckdb

    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [f"SELECT {expression}"]).fetchone()[0])
        node = tree["statements"][0]["node"]["select_list"][0]
    except (duckdb.Error, KeyError, IndexError, TypeError):
        return None
    dated = node.get("class") == "CAST" and node.get("cast_type", {}).get("id") == "DATE"
    node = node["child"] if dated else node
    children = node.get("children") or []
    if node.get("function_name") != "date_trunc" or len(children) != 2 or node.get("schema"):
        return None
    unit, column = children
    names = column.get("column_names") or []
    if unit.get("class") != "CONSTANT" or column.get("class") != "COLUMN_REF" or len(names) != 1:
        return None
    text = str(unit["value"].get("value", "")).lower()
    if text not in TRUNCATIONS or (dated and TRUNCATIONS.index(text) > TRUNCATIONS.index("day")):
        return None
    return str(names[0]), text


@dataclass
class Scan:
    """The derived SELECT, run in the warehouse's own connection; `lineage` is filled on `attach`:
    input id → the run whose rows its published table held (None: never published)."""

    config: DerivedConfig
    base_sql: str
    lineage: dict[str, str | None] = field(default_factory=dict)
    full: bool = False  # a full recompute was asked for
    since: int = 0  # the followed input's last change entry the previous computation had read
    recompute: changes.Recompute | None = None
    # It reads the warehouse's published tables, so it stages under the writer lock (lgsp.pipeline.runs).
    reads_warehouse: ClassVar[bool] = True

    def query(self, source_types: dict[str, str]) -> tuple[str, list[Any]]:
        return self.base_sql, []

    def attach(self, con: Any) -> None:
        """Check that every input is published, and note which run each input's rows come from."""
        missing = [i for i in self.config.inputs if not duck.table_exists(con, "main", i)]
        if missing:
            raise ConnectorError(f"chưa công bố / not published yet: {', '.join(missing)}", dataset=self.config.dataset)
        for name in self.config.inputs:
            run = Warehouse.latest_published(con, name)
            self.lineage[name] = run.run_id if run else None
        read = {name: changes.latest(con, name) for name in self.config.inputs}
        why = self._why_full(con, read)
        groups = None if why else self._restrict(con, read)
        if groups is None:
            why = why or (
                "không tính được nhóm của các dòng đã đổi / the keys cannot be computed from the changed rows "
                f"kept (the columns of {self.config.follows} changed)"
            )
            self.recompute = changes.Recompute("full", None, why, read, self.config.follows, self._tracked)
        else:
            self.recompute = changes.Recompute("incremental", groups, None, read, self.config.follows, self._tracked)

    @property
    def _tracked(self) -> str | None:
        return self.config.fingerprint if self.config.follows else None

    def _why_full(self, con: Any, read: dict[str, int]) -> str | None:
        """Why the run must recompute everything, or None when the groups it touched will do."""
        config = self.config
        if not config.follows:
            return "source.incremental không khai báo / source.incremental not declared"
        if names_with_schema(config.sql, config.follows):
            return f"SQL ghi {config.follows} kèm schema / the SQL names {config.follows} with a schema"
        if self.full:
            return "được yêu cầu tính lại toàn bộ / a full recompute was asked for"
        before = changes.reads(con, config.dataset)
        if not duck.table_exists(con, "main", config.dataset) or config.dataset not in before:
            return "lần tính đầu tiên / first computation that follows its input's changes"
        if any(r.fingerprint != config.fingerprint for r in before.values()) or set(before) != {
            *config.inputs,
            config.dataset,
        }:
            return "hợp đồng đã đổi từ lần tính trước / the contract changed since the last computation"
        if changes.since(con, config.dataset, before[config.dataset].seq):
            return (
                "bảng đã bị sửa sau lần tính trước / the table was changed since its last computation "
                "(a row edit or a reviewed run)"
            )
        for name in config.inputs:
            entries = changes.since(con, name, before[name].seq)
            if name != config.follows and entries:
                return f"đầu vào {name} đã đổi / input {name} changed, and only {config.follows}'s changes are followed"
            whole = [note for _, kind, note in entries if kind == changes.ALL]
            if whole:
                return f"đầu vào {name}: thay đổi không được giữ / input {name}: {whole[-1]}"
        self.since = before[config.follows].seq
        return None

    def _restrict(self, con: Any, read: dict[str, int]) -> int | None:
        """Keep the groups the followed input's changes touched (old and new versions of its rows)
        and restrict the input to them; returns how many, or None when the keys cannot be
        computed from the rows kept (the input contract changed): a full recompute then."""
        import duckdb

        config, name = self.config, str(self.config.follows)
        keys = sorted(config.keys)
        groups = changes.groups_table(config.dataset)
        exprs = ", ".join(f"{config.keys[k]} AS {duck.quote(k)}" for k in keys)
        try:
            if duck.table_exists(con, "changes", name):
                con.execute(
                    f"CREATE OR REPLACE TABLE {groups} AS SELECT DISTINCT {exprs} FROM {changes.table(name)} "
                    "WHERE _seq > ? AND _seq <= ?",
                    [self.since, read[name]],
                )
            else:  # nothing changed since: no group
                con.execute(f"CREATE OR REPLACE TABLE {groups} AS SELECT {exprs} FROM main.{duck.quote(name)} LIMIT 0")
        except duckdb.Error:
            return None
        count = int(con.execute(f"SELECT count(*) FROM {groups}").fetchone()[0])
        renamed = ", ".join(f"{duck.quote(k)} AS _lgsp_k{i}" for i, k in enumerate(keys))
        on = " AND ".join(f"({config.keys[k]}) IS NOT DISTINCT FROM g._lgsp_k{i}" for i, k in enumerate(keys))
        restricted = (
            f"SELECT i.* FROM main.{duck.quote(name)} AS i SEMI JOIN (SELECT {renamed} FROM {groups}) AS g ON {on}"
            f"{self._ranges(con, name, groups)}"
        )
        self.base_sql = f"WITH {duck.quote(name)} AS ({restricted}) {self.base_sql}"
        return count

    def detach(self, con: Any) -> None:
        """Nothing was attached: the inputs are the warehouse's own tables."""

    def error(self, exc: Exception) -> ConnectorError:
        return ConnectorError(f"sql: {str(exc).splitlines()[0]}", dataset=self.config.dataset)

    def _ranges(self, con: Any, name: str, groups: str) -> str:
        """A WHERE clause bounding the input's date and time columns that keys truncate (to the
        first and last group recomputed), so DuckDB skips the row groups outside (zone maps)
        instead of computing every row's key: the same rows, found without reading them all."""
        types = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE main.{duck.quote(name)}").fetchall()}
        bounds = []
        for key, expression in sorted(self.config.keys.items()):
            found = truncation(con, expression)
            if found is None or types.get(found[0]) not in ("DATE", "TIMESTAMP"):
                continue
            column, unit = found
            low, high, nulls = con.execute(
                f"SELECT CAST(min({duck.quote(key)}) AS TIMESTAMP), "
                f"CAST(max({duck.quote(key)}) AS TIMESTAMP) + INTERVAL 1 {unit}, "
                f"count(*) FILTER (WHERE {duck.quote(key)} IS NULL) FROM {groups}"
            ).fetchone()
            if low is None:  # no dated group: the semi join finds what there is
                continue
            c = f"i.{duck.quote(column)}"
            bound = f"{c} >= {duck.literal(str(low))}::TIMESTAMP AND {c} < {duck.literal(str(high))}::TIMESTAMP"
            bounds.append(f"({bound} OR {c} IS NULL)" if nulls else bound)
        return f" WHERE {' AND '.join(bounds)}" if bounds else ""

    @property
    def notes(self) -> dict[str, Any]:
        """What the run records of its inputs (the release's lineage) and how it recomputed."""
        notes: dict[str, Any] = {"derived_from": dict(self.lineage)}
        if self.recompute is not None:
            notes["recompute"] = dataclasses.asdict(self.recompute)
        return notes


def scan(config: DerivedConfig, state: dict[str, Any] | None) -> Scan:
    """The derived SELECT as a scan of the warehouse. Raises ConnectorError when it reads a table
    that is not one of its inputs (a stage, a meta table, another dataset)."""
    strangers = sorted(tables_named(config.sql) - set(config.inputs))
    if strangers:
        raise ConnectorError(
            f"sql: reads {', '.join(strangers)}, which {'is' if len(strangers) == 1 else 'are'} not among its inputs",
            dataset=config.dataset,
        )
    columns = ", ".join(duck.quote(c) for c in config.columns)
    full = bool(state and state.get("full"))
    return Scan(config=config, base_sql=f"SELECT {columns} FROM ({config.sql}) AS t", full=full)


def fingerprint(contract: Contract) -> str:
    """What decides a derived dataset's rows: its source (SQL, inputs, keys), columns, key and
    expectations (they decide what is quarantined)."""
    parts = contract.model_dump(mode="json", include={"source", "columns", "primary_key", "expectations"})
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def configure(contract: Contract, settings: Settings) -> DerivedConfig:
    source = contract.source
    assert isinstance(source, DerivedSource)
    return DerivedConfig(
        dataset=contract.id,
        inputs=list(source.inputs),
        sql=source.sql,
        columns=[c.name for c in contract.columns],
        batch_rows=settings.batch_rows,
        primary_key=list(contract.primary_key),
        follows=source.incremental.input if source.incremental else None,
        keys=dict(source.incremental.keys) if source.incremental else {},
        fingerprint=fingerprint(contract),
    )


@register("derived", configure=configure, scan=scan)
def extract(
    config: DerivedConfig, state: dict[str, Any] | None, notes: dict[str, Any] | None = None
) -> pa.RecordBatchReader:
    """The pipeline always scans a derived dataset inside the warehouse writer; streaming it out
    would read the inputs outside the lock, so it is refused."""
    raise ConnectorError(
        "a derived dataset is computed inside the warehouse (its scan); it cannot be streamed",
        dataset=config.dataset,
    )
