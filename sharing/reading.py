"""Reading a dataset within a grant: rows with filters, fields and keyset pages, or one record.

Everything a caller asks is checked against its Decision before any row is read, so what is not
granted is refused from the request alone ("not permitted" never depends on the data). All SQL is
parameterised; column names come from the contract and are quoted.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy
import orjson

from lgsp.core.duck import quote
from lgsp.schemas.columns import DUCKDB_TYPES
from lgsp.schemas.contract import ColumnType, Contract
from lgsp.sharing.errors import BadRequest
from lgsp.sharing.grants import Decision
from lgsp.sharing.snapshots import Snapshot, Snapshots

MAX_LIMIT = 1000
FIRST_WINDOW = 4096  # rows of `_id` scanned first; grows ×4 while a sparse filter finds too few


@dataclass
class Answer:
    """One of Circular 13's three answers: data, no_data or not_permitted."""

    result: str
    body: dict[str, Any]
    rows: int = 0
    reason: str | None = None
    log: dict[str, Any] = field(default_factory=dict)


def not_permitted(dataset: str, reason: str, message: str) -> Answer:
    """The same body whatever the data holds: no counts, no values."""
    body = {"result": "not_permitted", "dataset": dataset, "reason": reason, "message": message}
    return Answer("not_permitted", body, reason=reason)


def no_data(dataset: str) -> Answer:
    return Answer("no_data", {"result": "no_data", "dataset": dataset})


@dataclass(frozen=True)
class CursorSeal:
    """Cursors are signed with the hub's `cursor` key (HMAC-SHA256) and bound to the grant and
    dataset they were given under: a caller cannot forge one to start a page at a key of its
    choosing, nor carry one over to another grant."""

    key: bytes

    def _mac(self, payload: str, binding: str) -> str:
        digest = hmac.new(self.key, f"{binding}|{payload}".encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def seal(self, payload: str, binding: str) -> str:
        return f"{payload}.{self._mac(payload, binding)}"

    def open(self, cursor: str, binding: str) -> str:
        """The payload of a cursor this API gave out under `binding`; raises BadRequest otherwise."""
        payload, _, mac = cursor.rpartition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(payload, binding).encode()):
            raise BadRequest("after: not a cursor this API gave out for this grant", field="after")
        return payload


def encode_cursor(values: list[Any], position: int | None = None, copy: str | None = None) -> str:
    """An opaque cursor: the last row's key, and (as a shortcut valid only for the same copy of
    the table) its position in key order."""
    cursor: dict[str, Any] = {"k": values}
    if position is not None and copy is not None:
        cursor.update(i=position, c=copy)
    return base64.urlsafe_b64encode(orjson.dumps(cursor)).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> tuple[list[Any], int | None, str | None]:
    """The key, position and copy of a cursor's payload; raises BadRequest for anything else."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise BadRequest("after: not a cursor this API gave out", field="after") from None
    values = decoded.get("k") if isinstance(decoded, dict) else None
    if not isinstance(values, list) or len(values) != width or any(isinstance(v, dict | list) for v in values):
        raise BadRequest("after: not a cursor this API gave out", field="after")
    position, copy = decoded.get("i"), decoded.get("c")
    if not (isinstance(position, int) and not isinstance(position, bool) and isinstance(copy, str)):
        position, copy = None, None
    return values, position, copy


def _text(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadRequest(
        f"filters: value of {name} must be a string, number or boolean (or a list of them)", field="filters"
    )


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """`{"column": value}` or `{"column": [values]}` (JSON, as CKAN's datastore_search takes)."""
    if raw is None or raw.strip() == "":
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # malformed, or nested deeper than Python parses
        raise BadRequest(
            'filters: not JSON; give an object such as {"commune_code": "19333"}', field="filters"
        ) from None
    if not isinstance(parsed, dict):
        raise BadRequest("filters: give a JSON object of column: value (or [values])", field="filters")
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeError:  # JSON's \ud800 escapes decode to text that is not Unicode
        raise BadRequest("filters: holds text that is not valid Unicode (a lone surrogate)", field="filters") from None
    out = {}
    for name, value in parsed.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise BadRequest(f"filters: empty list for {name}", field="filters")
        out[str(name)] = [_text(v, str(name)) for v in values]
    return out


def parse_fields(raw: str | None) -> list[str] | None:
    if raw is None or raw.strip() == "":
        return None
    return list(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))


def _condition(contract: Contract, filters: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    where, args = [], []
    for name, values in filters.items():
        column_type = contract.column(name).type
        # Text compares as it is; other types in their own type (15800 matches 15800.0), and a
        # value that is not of the type matches nothing.
        marker = "?" if column_type is ColumnType.string else f"TRY_CAST(? AS {DUCKDB_TYPES[column_type]})"
        where.append(f"{quote(name)} IN ({', '.join(marker for _ in values)})")
        args += list(values)
    return where, args


def check_request(
    contract: Contract, decision: Decision, fields: list[str] | None, filters: dict[str, list[str]]
) -> Answer | None:
    """Malformed parts raise BadRequest (naming the field); parts beyond the grant give "not permitted"."""
    known = {c.name for c in contract.columns}
    for name in fields or []:
        if name not in known:
            raise BadRequest(f"fields: {name!r} is not a column of {contract.id}", field="fields")
    for name in filters:
        if name not in known:
            raise BadRequest(f"filters: {name!r} is not a column of {contract.id}", field="filters")
    hidden = sorted({*(fields or []), *filters} - set(decision.columns), key=[c.name for c in contract.columns].index)
    if hidden:
        return not_permitted(contract.id, "column_not_granted", f"columns not granted to you: {', '.join(hidden)}")
    for name, values in filters.items():
        allowed = decision.row_filter.get(name)
        if allowed is not None and not set(values) <= set(allowed):
            return not_permitted(contract.id, "outside_grant", f"your grant does not cover those values of {name}")
    return None


_PARSERS: dict[ColumnType, Any] = {
    ColumnType.string: str,
    ColumnType.integer: int,
    ColumnType.number: float,
    ColumnType.boolean: lambda v: {"true": True, "false": False}[str(v).lower()],
    ColumnType.date: lambda v: dt.date.fromisoformat(str(v)),
    ColumnType.timestamp: lambda v: dt.datetime.fromisoformat(str(v)),
}


def _typed_key(contract: Contract, values: list[Any], field_name: str) -> list[Any]:
    """Key values as Python values of the key's types, so DuckDB can use the key's index (a cast
    in the query would hide it)."""
    out = []
    for name, value in zip(contract.primary_key, values, strict=True):
        kind = contract.column(name).type
        try:
            typed = _PARSERS[kind](value)
        except (TypeError, ValueError, KeyError):
            raise BadRequest(f"{field_name}: {name} is a {kind.value}", field=field_name) from None
        if kind is ColumnType.integer and not -(2**63) <= typed < 2**63:
            raise BadRequest(f"{field_name}: {name} is out of range", field=field_name)
        out.append(typed)
    return out


def _key_match(contract: Contract) -> str:
    return " AND ".join(f"{quote(k)} = ?" for k in contract.primary_key)


def _after(contract: Contract, key: list[Any]) -> tuple[str, list[Any]]:
    """`key > cursor` in key order, for any number of key columns (lexicographic)."""
    parts, args = [], []
    for i, name in enumerate(contract.primary_key):
        equal = [f"{quote(k)} = ?" for k in contract.primary_key[:i]]
        parts.append("(" + " AND ".join([*equal, f"{quote(name)} > ?"]) + ")")
        args += [*key[:i], key[i]]
    return "(" + " OR ".join(parts) + ")", args


def _share(snapshots: Snapshots, snapshot: Snapshot, where: list[str], args: list[str]) -> float:
    """The share of the copy's rows a grant's filter lets through (cached per copy and filter):
    it sizes the first window so one query usually fills a page."""
    key = (snapshot.table, tuple(where), tuple(args))
    found = snapshots.shares.get(key)
    if found is None:
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        with snapshots.reading() as cur:
            matching = cur.execute(f"SELECT count(*) FROM {snapshot.table} {condition}", args).fetchone()[0]  # type: ignore[index]
        found = snapshots.shares[key] = max(matching, 1) / max(snapshot.rows, 1)
    return found


def _start(
    snapshots: Snapshots, snapshot: Snapshot, contract: Contract, after: str | None, seal: CursorSeal, binding: str
) -> int:
    """The `_id` a page starts at: just after the cursor's row."""
    if after is None:
        return 1
    values, position, copy = decode_cursor(seal.open(after, binding), len(contract.primary_key))
    typed = _typed_key(contract, values, "after")
    if position is not None and copy == snapshot.tag:
        return position + 1  # the same copy: the position is the key's
    with snapshots.reading() as cur:
        found = cur.execute(f"SELECT _id FROM {snapshot.table} WHERE {_key_match(contract)}", typed).fetchone()
        if found is not None:
            return int(found[0]) + 1
        # That row is gone from a newer copy: seek by key order (a scan, but rare).
        condition, seek_args = _after(contract, typed)
        found = cur.execute(f"SELECT min(_id) FROM {snapshot.table} WHERE {condition}", seek_args).fetchone()
    return int(found[0]) if found and found[0] is not None else snapshot.rows + 1


def read_rows(
    snapshots: Snapshots,
    snapshot: Snapshot,
    contract: Contract,
    decision: Decision,
    fields: list[str] | None,
    filters: dict[str, list[str]],
    limit: int,
    after: str | None,
    seal: CursorSeal,
) -> Answer:
    """A page of rows in key order: at most `limit`, after the cursor, within the grant.

    The copy is ordered by the key and numbered by `_id`. When the rows a grant lets through fit
    in memory (Snapshots.view), a page is a slice of them. Otherwise (or with the caller's own
    filters) it is a scan of an `_id` range (DuckDB skips to it by its zone maps), sized by how
    much of the table the grant lets through and widened while a sparser filter finds too few.
    """
    chosen = [c for c in decision.columns if fields is None or c in fields]
    if fields is not None:
        chosen = [f for f in fields if f in decision.columns]
    grant_where, grant_args = _condition(contract, {**decision.row_filter})
    more_where, more_args = _condition(contract, filters)
    where, args = grant_where + more_where, grant_args + more_args
    key = contract.primary_key
    binding = f"{decision.grant.id}:{contract.id}"  # a cursor serves only the grant it was given under
    start = _start(snapshots, snapshot, contract, after, seal, binding)
    names = list(dict.fromkeys(["_id", *chosen, *key]))
    rows: list[tuple[Any, ...]] = []
    view = None if filters else snapshots.view(snapshot, decision.columns, grant_where, grant_args)
    if view is not None:  # the grant's rows are in memory: the page is a slice
        first = int(numpy.searchsorted(view.column("_id").to_numpy(), start, side="left"))
        page = view.slice(first, limit + 1)
        rows = list(zip(*(page.column(n).to_pylist() for n in names), strict=True))
    else:
        share = _share(snapshots, snapshot, grant_where, grant_args) if grant_where else 1.0
        selected = ", ".join(quote(c) for c in names)
        condition = "".join(f" AND {w}" for w in where)
        window = int((limit + 1) / share * 1.25) + 64
        with snapshots.reading() as cur:
            while start <= snapshot.rows and len(rows) <= limit:
                end = start + window - 1
                # One thread and insertion order kept: rows come in `_id` order without ORDER BY
                # (a sort would cost more than the scan); sorted() below only makes sure.
                rows += sorted(cur.execute(
                    f"SELECT {selected} FROM {snapshot.table} WHERE _id BETWEEN ? AND ?{condition} LIMIT ?",
                    [start, end, *args, limit + 1 - len(rows)],
                ).fetchall())  # fmt: skip
                start, window = end + 1, window * 4
    if not rows:
        return no_data(contract.id)
    more = len(rows) > limit
    rows = rows[:limit]
    positions = [names.index(k) for k in key]
    picked = [names.index(c) for c in chosen]
    out = [{c: r[i] for c, i in zip(chosen, picked, strict=True)} for r in rows]
    last = rows[-1]
    payload = encode_cursor([last[p] for p in positions], last[0], snapshot.tag) if more else None
    next_cursor = seal.seal(payload, binding) if payload else None
    body = {"result": "data", "dataset": contract.id, "fields": chosen, "rows": out, "next": next_cursor}
    return Answer("data", body, rows=len(out))


def read_record(
    snapshots: Snapshots, snapshot: Snapshot | None, contract: Contract, decision: Decision, key: str
) -> Answer:
    """One record by its key (a JSON array when the key has several columns)."""
    if len(contract.primary_key) == 1:
        values: list[Any] = [key]
    else:
        try:
            values = json.loads(key)
        except (ValueError, RecursionError):
            values = []
        if not isinstance(values, list) or len(values) != len(contract.primary_key):
            raise BadRequest(
                f"key: {contract.id} is keyed on {', '.join(contract.primary_key)}: give a JSON array", field="key"
            )
    typed = _typed_key(contract, values, "key")
    found = None
    if snapshot is not None:
        where, args = _condition(contract, {**decision.row_filter})
        condition = "".join(f" AND {w}" for w in where)
        selected = ", ".join(quote(c) for c in decision.columns)
        with snapshots.reading() as cur:
            # The key's index finds the row; the grant's filter is then checked on that row alone.
            # Both queries run, on a real row, whether the key exists or not: a missing key reads a
            # decoy row (chosen by the key) and drops it, so the time an answer takes does not tell
            # whether a record outside the grant exists.
            position = cur.execute(f"SELECT _id FROM {snapshot.table} WHERE {_key_match(contract)}", typed).fetchone()
            decoy = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8]) % max(snapshot.rows, 1) + 1
            at = position[0] if position is not None else decoy
            found = cur.execute(
                f"SELECT {selected} FROM {snapshot.table} WHERE _id BETWEEN ? AND ?{condition}", [at, at, *args]
            ).fetchone()
            if position is None:
                found = None
    if found is not None:
        record = dict(zip(decision.columns, found, strict=True))
        return Answer(
            "data",
            {"result": "data", "dataset": contract.id, "fields": list(decision.columns), "record": record},
            rows=1,
        )
    if decision.row_filter:
        # Outside a limited grant the hub cannot say whether the record exists without telling.
        return not_permitted(contract.id, "outside_grant", "that record is not within your grant")
    return no_data(contract.id)
