"""Access requests: a consumer asks for a dataset with a purpose; the owning department approves
(which makes the grant) or refuses with a reason, within 2 working days; late ones are flagged."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from lgsp.core.settings import Settings
from lgsp.sharing import registry
from lgsp.sharing.consumers import get_consumer
from lgsp.sharing.errors import RegistryError
from lgsp.sharing.grants import Grant, check_grant, insert_grant, load_contract
from lgsp.sharing.workdays import answer_due, is_overdue, local_date


@dataclass(frozen=True)
class AccessRequest:
    id: int
    consumer: str
    dataset: str
    purpose: str
    columns: tuple[str, ...] | None
    requested_at: dt.datetime
    due_on: dt.date
    status: str  # pending, approved, refused
    answered_at: dt.datetime | None
    answered_by: str | None
    reason: str | None
    grant_id: int | None

    @classmethod
    def from_row(cls, row: Any) -> AccessRequest:
        columns = json.loads(row["columns"]) if row["columns"] else None
        return cls(
            id=row["id"],
            consumer=row["consumer"],
            dataset=row["dataset"],
            purpose=row["purpose"],
            columns=tuple(columns) if columns is not None else None,
            requested_at=registry.parse(row["requested_at"]),  # type: ignore[arg-type]
            due_on=dt.date.fromisoformat(row["due_on"]),
            status=row["status"],
            answered_at=registry.parse(row["answered_at"]),
            answered_by=row["answered_by"],
            reason=row["reason"],
            grant_id=row["grant_id"],
        )

    def overdue(self, moment: dt.datetime | None = None) -> bool:
        """Pending past its due day, or answered after it."""
        if self.status == "pending":
            return is_overdue(self.due_on, moment or registry.now())
        return self.answered_at is not None and local_date(self.answered_at) > self.due_on


def add_request(
    settings: Settings,
    consumer: str,
    dataset: str,
    purpose: str,
    columns: list[str] | None = None,
    requested_at: dt.datetime | None = None,
) -> AccessRequest:
    contract = load_contract(settings, dataset)
    if not purpose.strip():
        raise RegistryError("purpose: say why the data is needed", field="purpose")
    unknown = [c for c in columns or [] if c not in {k.name for k in contract.columns}]
    if unknown:
        raise RegistryError(f"columns: {', '.join(unknown)} not in {dataset}", field="columns")
    moment = requested_at or registry.now()
    due = answer_due(moment, settings.extra_holidays)
    with registry.transaction(settings) as con:
        get_consumer(con, consumer)
        row = registry.one(
            con,
            "INSERT INTO access_requests (consumer, dataset, purpose, columns, requested_at, due_on) "
            "VALUES (:consumer, :dataset, :purpose, :columns, :at, :due) RETURNING *",
            consumer=consumer, dataset=dataset, purpose=purpose.strip(),
            columns=json.dumps(columns) if columns else None, at=registry.stamp(moment), due=due.isoformat(),
        )  # fmt: skip
    return AccessRequest.from_row(row)


def list_requests(
    settings: Settings, *, status: str | None = None, datasets: set[str] | None = None
) -> list[AccessRequest]:
    con = registry.connect(settings)
    try:
        rows = registry.rows(con, "SELECT * FROM access_requests ORDER BY id")
    finally:
        con.close()
    found = [AccessRequest.from_row(r) for r in rows]
    return [r for r in found if (status is None or r.status == status) and (datasets is None or r.dataset in datasets)]


def _pending(con: Any, request_id: int) -> AccessRequest:
    row = registry.one(con, "SELECT * FROM access_requests WHERE id = :id", id=request_id)
    if row is None:
        raise RegistryError(f"no access request {request_id}", field="request")
    request = AccessRequest.from_row(row)
    if request.status != "pending":
        raise RegistryError(f"request {request_id} was already {request.status}", field="request")
    return request


def get_request(settings: Settings, request_id: int) -> AccessRequest:
    con = registry.connect(settings)
    try:
        row = registry.one(con, "SELECT * FROM access_requests WHERE id = :id", id=request_id)
    finally:
        con.close()
    if row is None:
        raise RegistryError(f"no access request {request_id}", field="request")
    return AccessRequest.from_row(row)


def approve(
    settings: Settings,
    request_id: int,
    answered_by: str,
    *,
    columns: list[str] | None = None,
    row_filter: dict[str, list[str]] | None = None,
    expires_at: dt.datetime | None = None,
) -> Grant:
    """Approve a pending request: the grant is made with the request's purpose (and its columns
    unless others are given). One transaction checks the request is still pending, makes the
    grant and answers the request, so two answers at once give one grant or none, never two."""
    request = get_request(settings, request_id)
    contract = load_contract(settings, request.dataset)
    chosen = columns if columns is not None else (list(request.columns) if request.columns else None)
    cols, rows = check_grant(contract, chosen, row_filter or {})
    if expires_at is not None and expires_at <= registry.now():
        raise RegistryError("expires: the expiry is in the past", field="expires")
    with registry.transaction(settings) as con:
        _pending(con, request_id)  # under the registry's write lock (both backends): a second answer sees the first
        grant = insert_grant(
            con, request.consumer, request.dataset, cols, rows, request.purpose, answered_by, expires_at
        )
        registry.run(
            con,
            "UPDATE access_requests SET status = 'approved', answered_at = :at, answered_by = :by, grant_id = :grant "
            "WHERE id = :id",
            at=registry.stamp(registry.now()), by=answered_by, grant=grant.id, id=request_id,
        )  # fmt: skip
    return grant


def refuse(settings: Settings, request_id: int, answered_by: str, reason: str) -> AccessRequest:
    if not reason.strip():
        raise RegistryError("reason: a refusal says why", field="reason")
    with registry.transaction(settings) as con:
        _pending(con, request_id)
        registry.run(
            con,
            "UPDATE access_requests SET status = 'refused', answered_at = :at, answered_by = :by, reason = :reason "
            "WHERE id = :id",
            at=registry.stamp(registry.now()), by=answered_by, reason=reason.strip(), id=request_id,
        )  # fmt: skip
    return get_request(settings, request_id)
