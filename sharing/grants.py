"""Grants, deny by default: the owning department lets one consumer read one dataset, optionally
only some columns and only rows matching a structured filter (column = value or column in values),
for a purpose and until an expiry. Personal-data columns are readable only when a grant names them.

`Grants.decision` is the one place that says what a caller may read.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, PersonalData
from lgsp.schemas.loader import contract_files, problems_in
from lgsp.sharing import registry
from lgsp.sharing.consumers import get_consumer
from lgsp.sharing.errors import RegistryError


@dataclass(frozen=True)
class Grant:
    id: int
    consumer: str
    dataset: str
    columns: tuple[str, ...] | None  # None: every column without personal data
    row_filter: dict[str, tuple[str, ...]]
    purpose: str
    expires_at: dt.datetime | None
    granted_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    def active(self, moment: dt.datetime | None = None) -> bool:
        moment = moment or registry.now()
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)

    @classmethod
    def from_row(cls, row: Any) -> Grant:
        columns = json.loads(row["columns"]) if row["columns"] else None
        return cls(
            id=row["id"],
            consumer=row["consumer"],
            dataset=row["dataset"],
            columns=tuple(columns) if columns is not None else None,
            row_filter={k: tuple(v) for k, v in json.loads(row["row_filter"]).items()},
            purpose=row["purpose"],
            expires_at=registry.parse(row["expires_at"]),
            granted_by=row["granted_by"],
            created_at=registry.parse(row["created_at"]),  # type: ignore[arg-type]
            revoked_at=registry.parse(row["revoked_at"]),
        )


@dataclass(frozen=True)
class Decision:
    """What one caller may read of one dataset: these columns (in contract order), of the rows
    matching `row_filter`."""

    grant: Grant
    columns: tuple[str, ...]
    row_filter: dict[str, tuple[str, ...]] = field(default_factory=dict)


def readable_columns(contract: Contract, columns: tuple[str, ...] | None) -> tuple[str, ...]:
    if columns is None:
        return tuple(c.name for c in contract.columns if c.personal_data is PersonalData.none)
    chosen = set(columns)
    return tuple(c.name for c in contract.columns if c.name in chosen)


def check_grant(
    contract: Contract, columns: list[str] | None, row_filter: dict[str, list[str]]
) -> tuple[tuple[str, ...] | None, dict[str, tuple[str, ...]]]:
    """Validate a grant's columns and filter against the contract; raises RegistryError naming the
    field. The primary key must be readable: pages and record look-ups are keyed on it."""
    known = {c.name: c for c in contract.columns}
    if columns is not None:
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise RegistryError(f"columns: {', '.join(unknown)} not in {contract.id}", field="columns")
        if not columns:
            raise RegistryError("columns: name at least the primary key", field="columns")
    readable = readable_columns(contract, tuple(columns) if columns is not None else None)
    missing_key = [k for k in contract.primary_key if k not in readable]
    if missing_key:
        why = " (it is personal data: name it explicitly)" if columns is None else ""
        raise RegistryError(f"columns: the primary key {', '.join(missing_key)} must be granted{why}", field="columns")
    clean: dict[str, tuple[str, ...]] = {}
    for name, values in row_filter.items():
        if name not in known:
            raise RegistryError(f"row filter: column {name!r} not in {contract.id}", field="row_filter")
        if not values:
            raise RegistryError(f"row filter: no value for {name}", field="row_filter")
        clean[name] = tuple(str(v) for v in values)
    return (tuple(columns) if columns is not None else None), clean


def load_contract(settings: Settings, dataset: str) -> Contract:
    for path in contract_files(settings.contracts_dir):
        if path.stem == dataset:
            contract, problems = problems_in(path)
            if contract is None:
                raise RegistryError(f"contract {dataset} is invalid: {problems[0]}", field="dataset")
            return contract
    raise RegistryError(f"no dataset {dataset!r}", field="dataset")


def add_grant(
    settings: Settings,
    consumer: str,
    dataset: str,
    *,
    purpose: str,
    granted_by: str,
    columns: list[str] | None = None,
    row_filter: dict[str, list[str]] | None = None,
    expires_at: dt.datetime | None = None,
) -> Grant:
    """Grant a consumer access to a dataset; replaces its earlier grant on that dataset (one grant
    per consumer and dataset, so what it may read is never a puzzle of overlapping grants)."""
    contract = load_contract(settings, dataset)
    if not purpose.strip():
        raise RegistryError("purpose: say why the consumer needs the data", field="purpose")
    if expires_at is not None and expires_at <= registry.now():
        raise RegistryError("expires: the expiry is in the past", field="expires")
    cols, rows = check_grant(contract, columns, row_filter or {})
    with registry.transaction(settings) as con:
        return insert_grant(con, consumer, dataset, cols, rows, purpose, granted_by, expires_at)


def insert_grant(
    con: Any,
    consumer: str,
    dataset: str,
    columns: tuple[str, ...] | None,
    row_filter: dict[str, tuple[str, ...]],
    purpose: str,
    granted_by: str,
    expires_at: dt.datetime | None,
) -> Grant:
    """The grant, checked (`check_grant`), written inside the caller's registry transaction in
    place of the consumer's earlier grant on the dataset."""
    moment = registry.stamp(registry.now())
    get_consumer(con, consumer)
    registry.run(
        con,
        "UPDATE grants SET revoked_at = :at WHERE consumer = :consumer AND dataset = :dataset AND revoked_at IS NULL",
        at=moment, consumer=consumer, dataset=dataset,
    )  # fmt: skip
    row = registry.one(
        con,
        "INSERT INTO grants (consumer, dataset, columns, row_filter, purpose, expires_at, granted_by, created_at) "
        "VALUES (:consumer, :dataset, :columns, :row_filter, :purpose, :expires_at, :granted_by, :at) RETURNING *",
        consumer=consumer,
        dataset=dataset,
        columns=json.dumps(list(columns)) if columns is not None else None,
        row_filter=json.dumps({k: list(v) for k, v in row_filter.items()}, ensure_ascii=False),
        purpose=purpose.strip(),
        expires_at=registry.stamp(expires_at),
        granted_by=granted_by,
        at=moment,
    )
    return Grant.from_row(row)


def list_grants(
    settings: Settings, *, consumer: str | None = None, dataset: str | None = None, include_inactive: bool = False
) -> list[Grant]:
    con = registry.connect(settings)
    try:
        rows = registry.rows(con, "SELECT * FROM grants ORDER BY dataset, consumer, id")
    finally:
        con.close()
    grants = [Grant.from_row(r) for r in rows]
    return [
        g
        for g in grants
        if (consumer is None or g.consumer == consumer)
        and (dataset is None or g.dataset == dataset)
        and (include_inactive or g.active())
    ]


def revoke_grant(settings: Settings, grant_id: int) -> Grant:
    with registry.transaction(settings) as con:
        if registry.one(con, "SELECT 1 FROM grants WHERE id = :id", id=grant_id) is None:
            raise RegistryError(f"no grant {grant_id}", field="grant")
        registry.run(
            con, "UPDATE grants SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL",
            at=registry.stamp(registry.now()), id=grant_id,
        )  # fmt: skip
        row = registry.one(con, "SELECT * FROM grants WHERE id = :id", id=grant_id)
    return Grant.from_row(row)


class Grants:
    """Contracts and active grants for the API, cached until a contract file or the registry changes."""

    def __init__(self, settings: Settings, query: Any) -> None:
        self.settings = settings
        self._query = query  # the Authenticator's reader, so one change marker governs both caches
        self._lock = threading.RLock()
        self._grants: dict[str, dict[str, Grant]] | None = None
        self._epoch = 0  # moved by forget(): a read that began before it is not cached
        self._contracts: dict[str, Contract] = {}
        self._contract_stamp: tuple[Any, ...] = ()
        self._contracts_checked = 0.0

    def forget(self) -> None:
        """The registry changed: the next decision reads the grants again. A read already under
        way when this is called must not put its (older) grants back in the cache."""
        with self._lock:  # never between a read's epoch check and its store
            self._epoch += 1
            self._grants = None

    def contracts(self) -> dict[str, Contract]:
        """Every valid contract by id, re-read when a file changes (looked at once a second)."""
        now = time.monotonic()
        if self._contract_stamp and now - self._contracts_checked < 1.0:
            return self._contracts
        self._contracts_checked = now
        paths: list[Path] = contract_files(self.settings.contracts_dir)
        stamp = tuple((p.name, p.stat().st_mtime_ns) for p in paths)
        if stamp != self._contract_stamp:
            found = {}
            for path in paths:
                contract, _ = problems_in(path)
                if contract is not None:
                    found[contract.id] = contract
            self._contracts, self._contract_stamp = found, stamp
        return self._contracts

    def _active(self) -> dict[str, dict[str, Grant]]:
        grants = self._grants
        if grants is None:
            with self._lock:
                epoch = self._epoch
                rows = self._query("SELECT * FROM grants WHERE revoked_at IS NULL")
                grants = {}
                for row in rows:
                    grant = Grant.from_row(row)
                    grants.setdefault(grant.consumer, {})[grant.dataset] = grant
                if self._epoch == epoch:  # nothing changed while reading: keep them
                    self._grants = grants
        return grants

    def decision(self, consumer: str, contract: Contract) -> Decision | None:
        """What `consumer` may read of the dataset, or None: no grant, or it expired."""
        return _decide(self._active().get(consumer, {}).get(contract.id), contract)

    def readable(self, consumer: str) -> list[tuple[Contract, Decision]]:
        """Every dataset `consumer` may read, decided from one reading of the grants (never half
        before and half after a change)."""
        contracts = self.contracts()
        mine = self._active().get(consumer, {})
        out = []
        for dataset_id in sorted(mine):
            contract = contracts.get(dataset_id)
            decision = _decide(mine[dataset_id], contract) if contract else None
            if contract is not None and decision is not None:
                out.append((contract, decision))
        return out


def _decide(grant: Grant | None, contract: Contract) -> Decision | None:
    """What a grant lets its consumer read of a dataset as its contract is now, or None."""
    if grant is None or not grant.active():
        return None
    known = {c.name for c in contract.columns}
    # A contract edited after the grant: a dropped column simply disappears from it.
    columns = tuple(c for c in readable_columns(contract, grant.columns) if c in known)
    if any(k not in columns for k in contract.primary_key):
        return None
    row_filter = {k: v for k, v in grant.row_filter.items() if k in known}
    if len(row_filter) != len(grant.row_filter):
        return None  # a filter on a column that no longer exists: fail closed
    return Decision(grant, columns, row_filter)
