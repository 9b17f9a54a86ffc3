"""Derived connector: a dataset computed by SQL over the hub's own published datasets.

The contract's SELECT runs as a scan inside the warehouse writer, straight into the stage: it
reads the inputs' published tables (`main.<input>`) as the last committed transaction left them.
Publishing a dataset is one transaction under the same writer lock, so a derived run sees each
input either before or after a publish, never half of one. What it read (each input's latest
published run) is noted while the lock is held, for the release's lineage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register
from lgsp.core import duck
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, DerivedSource
from lgsp.warehouse.store import Warehouse


class DerivedConfig(BaseModel):
    """What the derived connector needs: the SQL, its inputs and the contract's columns."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    inputs: list[str]
    sql: str
    columns: list[str]
    batch_rows: int = 250_000


def tables_named(sql: str) -> set[str]:
    """The tables a SELECT reads (common table expressions left out), without their schema.

    Raises ConnectorError when DuckDB cannot parse it.
    """
    import duckdb

    try:
        return {str(t) for t in duckdb.get_table_names(sql)}
    except duckdb.Error as exc:
        raise ConnectorError(f"sql: {str(exc).splitlines()[0]}") from None


@dataclass
class Scan:
    """The derived SELECT, run in the warehouse's own connection; `lineage` is filled on `attach`:
    input id → the run whose rows its published table held (None: never published)."""

    config: DerivedConfig
    base_sql: str
    lineage: dict[str, str | None] = field(default_factory=dict)

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

    def detach(self, con: Any) -> None:
        """Nothing was attached: the inputs are the warehouse's own tables."""

    def error(self, exc: Exception) -> ConnectorError:
        return ConnectorError(f"sql: {str(exc).splitlines()[0]}", dataset=self.config.dataset)

    @property
    def notes(self) -> dict[str, Any]:
        """What the run records of its inputs (the release's lineage)."""
        return {"derived_from": dict(self.lineage)}


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
    return Scan(config=config, base_sql=f"SELECT {columns} FROM ({config.sql}) AS t")


def configure(contract: Contract, settings: Settings) -> DerivedConfig:
    source = contract.source
    assert isinstance(source, DerivedSource)
    return DerivedConfig(
        dataset=contract.id,
        inputs=list(source.inputs),
        sql=source.sql,
        columns=[c.name for c in contract.columns],
        batch_rows=settings.batch_rows,
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
