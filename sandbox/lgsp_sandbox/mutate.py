"""Activity between two pipeline runs: some rows corrected, some rows added, all later than anything stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lgsp_sandbox import db
from lgsp_sandbox.common import MUTATE, faker, parse_timestamp, rng, seconds
from lgsp_sandbox.departments import education, environment, finance, transport
from lgsp_sandbox.schema import DEPARTMENTS, TABLES, TableSpec

MODULES = {"finance": finance, "education": education, "transport": transport, "environment": environment}
ISO_TIMESTAMP = "____-__-__ __:__:__"
IN_BATCH = 10_000
"""Keys per IN (...) list; SQLite allows 32,766 parameters per statement."""
Change = Callable[[np.random.Generator, dict[str, object]], dict[str, object]]


def _select_in(conn: Connection, sql: str, keys: list[object]) -> list[sa.RowMapping]:
    """Rows of `sql` (which has an `IN :keys`) for all keys, in batches."""
    query = sa.text(sql).bindparams(sa.bindparam("keys", expanding=True))
    out: list[sa.RowMapping] = []
    for i in range(0, len(keys), IN_BATCH):
        out.extend(conn.execute(query, {"keys": keys[i : i + IN_BATCH]}).mappings())
    return out


def _latest(conn: Connection, spec: TableSpec) -> datetime:
    """The latest well-formed value of the cursor column (malformed dirty dates are skipped)."""
    col = spec.cursor
    candidates = conn.execute(
        sa.text(f"SELECT DISTINCT {col} FROM {spec.name} WHERE {col} LIKE :pattern ORDER BY {col} DESC LIMIT 20"),
        {"pattern": ISO_TIMESTAMP},
    ).scalars()
    for text in candidates:
        try:
            return parse_timestamp(text)
        except ValueError:
            continue
    raise ValueError(f"{spec.name}.{col} has no well-formed timestamp to continue from")


def _unique_keys(conn: Connection, spec: TableSpec, g: np.random.Generator, count: int) -> list[object]:
    """`count` keys that occur exactly once (so each update touches one row), chosen at random."""
    if count == 0:
        return []
    key = spec.key
    if spec.name == "env_readings":  # too big to list: sample ids, keep those that exist once
        top = conn.execute(sa.text(f"SELECT MAX({key}) FROM {spec.name}")).scalar_one() or 0
        sample = (g.choice(top, size=min(top, 2 * count + 20), replace=False) + 1).tolist()
        sql = f"SELECT {key} FROM {spec.name} WHERE {key} IN :keys GROUP BY {key} HAVING COUNT(*) = 1"
        once = {row[key] for row in _select_in(conn, sql, sample)}
        keys: list[object] = [k for k in sample if k in once][:count]
    else:
        pool = (
            conn.execute(
                sa.text(
                    f"SELECT {key} FROM {spec.name} WHERE {key} IS NOT NULL GROUP BY {key} HAVING COUNT(*) = 1 "
                    f"ORDER BY {key}"
                )
            )
            .scalars()
            .all()
        )
        keys = [pool[i] for i in sorted(g.choice(len(pool), size=min(count, len(pool)), replace=False).tolist())]
    if len(keys) < count:
        raise ValueError(f"{spec.name} has only {len(keys)} rows with a unique key to change, {count} asked")
    return keys


def _new_rows(
    name: str, conn: Connection, spec: TableSpec, seed: int, g: np.random.Generator, n: int, latest: datetime
) -> pa.Table:
    """n new rows with fresh keys, stamped after the changes (which take the three hours after `latest`)."""
    table, after = spec.name, latest + timedelta(hours=3)
    if name == "finance":
        top = conn.execute(sa.text(f"SELECT MAX(id) FROM {table}")).scalar_one() or 0
        return finance.added(g, int(top) + 1, n, after)
    if name == "environment":  # the series goes on from the hour after the last stored one
        top = conn.execute(sa.text(f"SELECT MAX(reading_id) FROM {table}")).scalar_one() or 0
        return environment.added(seed, g, int(top) + 1, n, latest)
    fake = faker(seed, MODULES[name].DEPARTMENT, MUTATE, int(g.integers(2**31)))
    if name == "education":
        codes = conn.execute(sa.text(f"SELECT school_code FROM {table} WHERE school_code IS NOT NULL")).scalars()
        top = max((int(c[2:]) for c in codes if len(c) == 8 and c.isdigit()), default=0)
        return education.added(g, fake, top + 1, n, after)
    taken = set(conn.execute(sa.text(f"SELECT licence_no FROM {table}")).scalars())
    taken |= set(conn.execute(sa.text(f"SELECT citizen_id FROM {table}")).scalars())
    return transport.added(g, fake, n, after, taken)


def mutate_department(name: str, url: str, *, seed: int, changed: int, added: int) -> dict[str, int]:
    """Change `changed` existing rows and insert `added` new ones, all stamped after the latest stored timestamp.

    Changed rows get a new value and a later updated_at; new rows get new keys and later timestamps (for
    env_readings: the next reading_ids and the next hours of the series). env_readings has no updated_at, so a
    changed reading is a silent QA/QC correction that a cursor-based incremental load does not see.
    Deterministic: the same database state and seed give the same changes. Returns {"changed": n, "added": n}.
    """
    if name not in DEPARTMENTS:
        raise KeyError(f"unknown department {name!r}; known: {', '.join(DEPARTMENTS)}")
    if changed < 0 or added < 0:
        raise ValueError("changed and added must be >= 0")
    if name not in MODULES:
        if changed or added:
            raise ValueError(f"{name} holds a real published file with no change tracking; it cannot be mutated")
        return {"changed": 0, "added": 0}
    module = MODULES[name]
    spec = TABLES[DEPARTMENTS[name].tables[0]]
    engine = db.engine(url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(sa.text(f"SELECT COUNT(*) FROM {spec.name}")).scalar_one()
            latest = _latest(conn, spec)
            g = rng(seed, module.DEPARTMENT, MUTATE, int(rows), seconds(latest))
            keys = _unique_keys(conn, spec, g, changed)
            n_changed = _apply_changes(conn, spec, module.changed, g, keys, latest)
            table = _new_rows(name, conn, spec, seed, g, added, latest) if added else None
            n_added = db.insert(conn, spec, table) if table is not None else 0
        return {"changed": n_changed, "added": n_added}
    finally:
        engine.dispose()


def _apply_changes(
    conn: Connection, spec: TableSpec, change: Change, g: np.random.Generator, keys: list[object], latest: datetime
) -> int:
    """Update each key's row with the department's change, stamped in the three hours after `latest`."""
    if not keys:
        return 0
    rows = _select_in(conn, f"SELECT * FROM {spec.name} WHERE {spec.key} IN :keys", keys)
    current = {row[spec.key]: dict(row) for row in rows}
    stamps = sorted(latest + timedelta(seconds=int(s)) for s in g.integers(1, 3 * 3600, size=len(keys)))
    updates = []
    for key, stamp in zip(keys, stamps, strict=True):
        values = change(g, current[key])
        if "updated_at" in spec.column_names:
            values["updated_at"] = stamp.strftime("%Y-%m-%d %H:%M:%S")
        updates.append({**values, "_key": key})
    sets = ", ".join(f"{col} = :{col}" for col in updates[0] if col != "_key")
    conn.execute(sa.text(f"UPDATE {spec.name} SET {sets} WHERE {spec.key} = :_key"), updates)
    return len(updates)  # each key occurs exactly once
