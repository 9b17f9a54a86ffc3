"""The leak matrix: consumers × datasets × grants, by every endpoint (list, rows, record). No row
and no column beyond a grant ever comes back, and "not permitted" says the same whatever the data
holds. Ground truth is read straight from the warehouse."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lgsp.core.duck import quote
from lgsp.schemas.contract import PersonalData
from lgsp.schemas.loader import load_contracts
from lgsp.sharing import consumers, registry
from lgsp.sharing.grants import add_grant, revoke_grant
from lgsp.warehouse.store import Warehouse
from tests.sharing.conftest import DATASETS, Hub

PAGE = 97  # not a divisor of anything: pages end mid-way


@pytest.fixture(scope="module")
def world(live: Hub) -> Iterator[dict[str, Any]]:
    """Consumers with grants of every shape, and the truth about each dataset."""
    settings = live.settings
    contracts = load_contracts(settings.contracts_dir)
    truth: dict[str, dict[Any, dict[str, Any]]] = {}
    with Warehouse(settings).reader() as con:
        for dataset in DATASETS:
            contract = contracts[dataset]
            cur = con.execute(f"SELECT * FROM main.{quote(dataset)}")
            names = [d[0] for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            truth[dataset] = {key_of(contract, row): row for row in rows}
        top_communes = [
            r[0]
            for r in con.execute(
                "SELECT commune_code FROM main.driving_licences GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
            ).fetchall()
        ]
        school_communes = [
            r[0]
            for r in con.execute(
                "SELECT commune_code FROM main.schools GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
            ).fetchall()
        ]
        province = con.execute("SELECT province FROM main.ict_indicators GROUP BY 1 ORDER BY 1 LIMIT 1").fetchone()[0]
    grants: dict[str, dict[str, dict[str, Any]]] = {
        "AG_COMMUNE": {
            "driving_licences": {"columns": ["licence_no", "full_name", "licence_class", "commune_code"],
                                 "row_filter": {"commune_code": [top_communes[0]]}},
            "schools": {"columns": None, "row_filter": {}},
        },
        "AG_FULL": {"driving_licences": {"columns": None, "row_filter": {}}},
        "AG_TWO": {
            "schools": {"columns": ["school_code", "name", "address", "commune_code"],
                        "row_filter": {"commune_code": school_communes}},
            "ict_indicators": {"columns": None, "row_filter": {"province": [province]}},
        },
        "AG_NONE": {},
        "AG_EXPIRED": {},
        "AG_REVOKED": {},
    }  # fmt: skip
    keys = {}
    for code in grants:
        consumers.add_consumer(settings, code, f"Agency {code}", "it@example.gov.vn", "other")
        keys[code] = consumers.issue_key(settings, code)
        for dataset, spec in grants[code].items():
            add_grant(settings, code, dataset, purpose="test", granted_by="test", **spec)
    expired = add_grant(settings, "AG_EXPIRED", "driving_licences", purpose="test", granted_by="test",
                        expires_at=registry.now() + dt.timedelta(days=1))  # fmt: skip
    con = sqlite3.connect(registry.registry_path(settings))  # the grant ran out yesterday
    con.execute("UPDATE grants SET expires_at = ? WHERE id = ?",
                [registry.stamp(registry.now() - dt.timedelta(days=1)), expired.id])  # fmt: skip
    con.commit()
    con.close()
    revoke_grant(settings, add_grant(settings, "AG_REVOKED", "schools", purpose="t", granted_by="t").id)
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield {"contracts": contracts, "truth": truth, "grants": grants, "keys": keys, "client": client}


def key_of(contract: Any, row: dict[str, Any]) -> Any:
    """A row's key: the value, or a tuple of values for a composite key (ict_indicators)."""
    values = tuple(row[k] for k in contract.primary_key)
    return values[0] if len(values) == 1 else values


def key_in_path(key: Any) -> str:
    """How the record URL spells a key: as is, or as a JSON array for a composite key."""
    from urllib.parse import quote as urlquote

    return urlquote(json.dumps(list(key), ensure_ascii=False), safe="") if isinstance(key, tuple) else str(key)


def expected(world: dict[str, Any], consumer: str, dataset: str) -> tuple[list[str], set[Any]] | None:
    """The columns (in contract order) and keys a consumer may read, or None."""
    spec = world["grants"][consumer].get(dataset)
    if spec is None:
        return None
    contract = world["contracts"][dataset]
    if spec["columns"] is None:
        columns = [c.name for c in contract.columns if c.personal_data is PersonalData.none]
    else:
        columns = [c.name for c in contract.columns if c.name in spec["columns"]]
    keys = {
        k for k, row in world["truth"][dataset].items()
        if all(str(row[c]) in values for c, values in spec["row_filter"].items())
    }  # fmt: skip
    return columns, keys


def get(world: dict[str, Any], consumer: str, path: str, **params: Any) -> httpx.Response:
    return world["client"].get(path, params=params, headers={"X-API-Key": world["keys"][consumer]})


CONSUMERS = ["AG_COMMUNE", "AG_FULL", "AG_TWO", "AG_NONE", "AG_EXPIRED", "AG_REVOKED"]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_the_list_shows_exactly_the_grants(world: dict[str, Any], consumer: str) -> None:
    response = get(world, consumer, "/api/share/v1/datasets")
    granted = {d: expected(world, consumer, d) for d in DATASETS if expected(world, consumer, d)}
    if not granted:
        assert response.status_code == 204 and response.headers["lgsp-result"] == "no_data"
        return
    assert response.status_code == 200
    listed = {d["id"]: d for d in response.json()["datasets"]}
    assert set(listed) == set(granted)
    for dataset, (columns, _) in granted.items():
        assert [c["name"] for c in listed[dataset]["columns"]] == columns


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("consumer", CONSUMERS)
def test_rows_hold_exactly_the_granted_rows_and_columns(world: dict[str, Any], consumer: str, dataset: str) -> None:
    path = f"/api/share/v1/datasets/{dataset}/rows"
    allowed = expected(world, consumer, dataset)
    if allowed is None:
        first = get(world, consumer, path)
        assert first.status_code == 403 and first.json()["result"] == "not_permitted"
        assert "rows" not in first.text
        # The same answer whatever is asked: it tells nothing about the data.
        key_column = world["contracts"][dataset].primary_key[0]
        some_key = next(iter(world["truth"][dataset].values()))[key_column]
        for filters in ({key_column: some_key}, {key_column: "no-such-key"}):
            again = get(world, consumer, path, filters=json.dumps(filters, default=str))
            assert again.status_code == 403 and again.json() == first.json()
        return
    columns, keys = allowed
    seen: dict[Any, dict[str, Any]] = {}
    order: list[Any] = []
    after = None
    while True:
        response = get(world, consumer, path, limit=PAGE, **({"after": after} if after else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fields"] == columns
        for row in body["rows"]:
            assert list(row) == columns  # exactly the granted columns, in contract order
            key = key_of(world["contracts"][dataset], row)
            assert key not in seen
            seen[key] = row
            order.append(key)
        after = body["next"]
        if after is None:
            break
    assert set(seen) == keys
    assert order == sorted(order)  # key order, within and across pages
    truth = world["truth"][dataset]
    for key, row in seen.items():
        assert row == {c: _jsonable(truth[key][c]) for c in columns}


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("consumer", CONSUMERS)
def test_records_hold_only_granted_records_and_columns(world: dict[str, Any], consumer: str, dataset: str) -> None:
    truth = world["truth"][dataset]
    allowed = expected(world, consumer, dataset)
    inside = sorted(allowed[1], key=str)[:5] if allowed else []
    outside = sorted(set(truth) - (allowed[1] if allowed else set()), key=str)[:5]
    first = next(iter(truth))
    missing: Any = (
        999_999_999
        if isinstance(first, int)
        else tuple("NO-SUCH-KEY" for _ in first)
        if isinstance(first, tuple)
        else "NO-SUCH-KEY"
    )
    path = f"/api/share/v1/datasets/{dataset}/records/"
    for key in inside:
        response = get(world, consumer, f"{path}{key_in_path(key)}")
        assert response.status_code == 200, response.text
        assert list(response.json()["record"]) == allowed[0]  # type: ignore[index]
    refusals = []
    for key in [*outside, missing]:
        response = get(world, consumer, f"{path}{key_in_path(key)}")
        if allowed is not None and not world["grants"][consumer][dataset]["row_filter"]:
            assert key == missing and response.status_code == 204  # everything is visible: truly no data
            continue
        assert response.status_code == 403, (key, response.text)
        refusals.append(response.json())
    # Outside a grant, an existing record and a missing one get the same answer.
    assert all(r == refusals[0] for r in refusals)
    assert not any("record" in r for r in refusals)


def test_filters_and_fields_cannot_probe_what_is_not_granted(world: dict[str, Any]) -> None:
    path = "/api/share/v1/datasets/driving_licences/rows"
    someone = next(iter(world["truth"]["driving_licences"].values()))
    answers = [
        get(world, "AG_COMMUNE", path, filters=json.dumps({"citizen_id": someone["citizen_id"]})),
        get(world, "AG_COMMUNE", path, filters=json.dumps({"citizen_id": "000000000000"})),
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json() == answers[1].json() and answers[0].json()["reason"] == "column_not_granted"
    assert get(world, "AG_COMMUNE", path, fields="licence_no,birth_date").status_code == 403
    assert get(world, "AG_FULL", path, fields="full_name").status_code == 403  # personal: never by default
    other = sorted({r["commune_code"] for r in world["truth"]["driving_licences"].values()} - set(
        world["grants"]["AG_COMMUNE"]["driving_licences"]["row_filter"]["commune_code"]))[0]  # fmt: skip
    outside = get(world, "AG_COMMUNE", path, filters=json.dumps({"commune_code": other}))
    assert outside.status_code == 403 and outside.json()["reason"] == "outside_grant"
