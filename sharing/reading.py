"""Reading a dataset within a grant: rows with filters, fields and keyset pages, or one record.

Everything a caller asks is checked against its Decision before any row is read, so what is not
granted is refused from the request alone ("not permitted" never depends on the data). All SQL is
parameterised; column names come from the contract and are quoted.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from lgsp.duck import quote
from schemas.contract import DUCKDB_TYPES, ColumnType, Contract
from sharing.errors import BadRequest
from sharing.grants import Decision
from sharing.snapshots import Snapshot, Snapshots

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


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise BadRequest("after: not a cursor this API gave out", field="after") from None
    if not isinstance(values, list) or len(values) != width or any(isinstance(v, dict | list) for v in values):
        raise BadRequest("after: not a cursor this API gave out", field="after")
    return values


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
    except ValueError:
        raise BadRequest(
            'filters: not JSON; give an object such as {"commune_code": "19333"}', field="filters"
        ) from None
    if not isinstance(parsed, dict):
        raise BadRequest("filters: give a JSON object of column: value (or [values])", field="filters")
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


def _condition(contract: Contract, filters: dict[str, tuple[str, ...] | list[str]]) -> tuple[list[str], list[str]]:
    where, args = [], []
    for name, values in filters.items():
        kind = DUCKDB_TYPES[contract.column(name).type]
        where.append(f"{quote(name)} IN ({', '.join(f'TRY_CAST(? AS {kind})' for _ in values)})")
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


def _typed_key(contract: Contract, values: list[Any], field_name: str) -> list[Any]:
    out = []
    for name, value in zip(contract.primary_key, values, strict=True):
        kind = contract.column(name).type
        if kind is ColumnType.integer:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise BadRequest(f"{field_name}: {name} is an integer", field=field_name) from None
            if not -(2**63) <= value < 2**63:
                raise BadRequest(f"{field_name}: {name} is out of range", field=field_name)
        out.append(str(value))
    return out


def _key_match(contract: Contract) -> str:
    return " AND ".join(
        f"{quote(k)} = TRY_CAST(? AS {DUCKDB_TYPES[contract.column(k).type]})" for k in contract.primary_key
    )


def _after(contract: Contract, key: list[str]) -> tuple[str, list[str]]:
    """`key > cursor` in key order, for any number of key columns (lexicographic)."""
    parts, args = [], []
    for i, name in enumerate(contract.primary_key):
        kind = DUCKDB_TYPES[contract.column(name).type]
        equal = [
            f"{quote(k)} = TRY_CAST(? AS {DUCKDB_TYPES[contract.column(k).type]})" for k in contract.primary_key[:i]
        ]
        parts.append("(" + " AND ".join([*equal, f"{quote(name)} > TRY_CAST(? AS {kind})"]) + ")")
        args += [*key[:i], key[i]]
    return "(" + " OR ".join(parts) + ")", args


def read_rows(
    snapshots: Snapshots,
    snapshot: Snapshot,
    contract: Contract,
    decision: Decision,
    fields: list[str] | None,
    filters: dict[str, list[str]],
    limit: int,
    after: str | None,
) -> Answer:
    """A page of rows in key order: at most `limit`, after the cursor, within the grant."""
    chosen = [c for c in decision.columns if fields is None or c in fields]
    if fields is not None:
        chosen = [f for f in fields if f in decision.columns]
    where, args = _condition(contract, {**decision.row_filter})
    more_where, more_args = _condition(contract, filters)
    where, args = where + more_where, args + more_args
    key = contract.primary_key
    cur = snapshots.cursor()
    try:
        start = 1
        if after is not None:
            position = _typed_key(contract, decode_cursor(after, len(key)), "after")
            found = cur.execute(f"SELECT _id FROM {snapshot.table} WHERE {_key_match(contract)}", position).fetchone()
            if found is not None:
                start = found[0] + 1
            else:  # that row is gone from a newer copy: seek by key order (a scan, but rare)
                condition, seek_args = _after(contract, position)
                found = cur.execute(f"SELECT min(_id) FROM {snapshot.table} WHERE {condition}", seek_args).fetchone()
                start = found[0] if found and found[0] is not None else snapshot.rows + 1
        selected = ", ".join(quote(c) for c in dict.fromkeys([*chosen, *key]))
        condition = "".join(f" AND {w}" for w in where)
        rows: list[tuple[Any, ...]] = []
        window = max(FIRST_WINDOW, 8 * (limit + 1))
        while start <= snapshot.rows and len(rows) <= limit:
            end = start + window - 1
            rows += cur.execute(
                f"SELECT {selected} FROM {snapshot.table} WHERE _id BETWEEN ? AND ?{condition} ORDER BY _id LIMIT ?",
                [start, end, *args, limit + 1 - len(rows)],
            ).fetchall()
            start, window = end + 1, window * 4
    finally:
        cur.close()
    if not rows:
        return no_data(contract.id)
    names = list(dict.fromkeys([*chosen, *key]))
    more = len(rows) > limit
    rows = rows[:limit]
    positions = [names.index(k) for k in key]
    out = [dict(zip(chosen, r, strict=False)) for r in rows]
    next_cursor = encode_cursor([rows[-1][p] for p in positions]) if more else None
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
        except ValueError:
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
        cur = snapshots.cursor()
        try:
            found = cur.execute(
                f"SELECT {selected} FROM {snapshot.table} WHERE {_key_match(contract)}{condition}", [*typed, *args]
            ).fetchone()
        finally:
            cur.close()
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
