"""The national-API simulator behaves like the services it stands in for: OAuth2, paging, changes, faults."""

from __future__ import annotations

import json
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from contextlib import closing

import orjson
import pytest
import requests
from lgsp_sandbox.catalogue import dataset_path
from lgsp_sandbox.national_api.data import Enterprises, build_documents, build_units
from lgsp_sandbox.national_api.server import Simulator

SEED, ENTERPRISES, DOCUMENTS = 7, 2_500, 1_500
UNITS, REGISTER, DOCS = "/dvhc/v1/units", "/dkkd/v1/enterprises", "/vbpl/v1/documents"
KEYS = {
    UNITS: lambda r: (r["era"], r["code"]),
    REGISTER: lambda r: r["tax_code"],
    DOCS: lambda r: r["id"],
}
SIZES = {UNITS: 1000, REGISTER: 700, DOCS: 333}
BODY = {"data", "total", "page", "page_size", "offset", "next_cursor"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """One simulator for the tests that do not change its data."""
    with Simulator(enterprises=ENTERPRISES, seed=SEED, documents=DOCUMENTS) as server:
        yield server


def session(server: Simulator) -> requests.Session:
    """A client with a fresh token and the API key, as the hub's connector would hold them."""
    client = requests.Session()
    client.headers.update({"Authorization": f"Bearer {server.token()}", "X-API-Key": server.api_key})
    return client


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    sim.clear_faults()
    with session(sim) as client:
        yield client
    sim.clear_faults()


def walk(
    client: requests.Session, base_url: str, path: str, style: str, size: int, cursor: str | None = None, **filters: str
) -> list[dict]:
    """Every record of a collection, paging the way `style` says: page, offset, cursor, or link-<style>."""
    first = {"page": {"page": 1, "page_size": size}, "offset": {"offset": 0, "limit": size}}
    params: dict | None = {**first.get(style.removeprefix("link-"), {"limit": size}), **filters}
    if cursor is not None:
        params = {**params, "cursor": cursor}
    url, records, pages = base_url + path, [], 0
    while True:
        response = client.get(url, params=params, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == BODY and body["page_size"] == size
        records += body["data"]
        pages += 1
        assert pages <= body["total"] // size + 2, "paging does not end"
        if style.startswith("link-"):
            if "next" not in response.links:
                return records
            url, params = response.links["next"]["url"], None
            assert url.startswith(base_url + path)
        elif style == "cursor":
            if body["next_cursor"] is None:
                assert "next" not in response.links
                return records
            params = {"cursor": body["next_cursor"], "limit": size, **filters}
        elif not body["data"]:
            return records
        elif style == "page":
            params = {**params, "page": params["page"] + 1}
        else:
            params = {**params, "offset": params["offset"] + size}


@pytest.fixture(scope="module")
def reference(sim: Simulator) -> dict[str, tuple[int, frozenset]]:
    """Each collection's record count and keys, read once with the cursor."""
    with session(sim) as client:
        records = {path: walk(client, sim.base_url, path, "cursor", 1000) for path in KEYS}
    return {path: (len(found), frozenset(KEYS[path](r) for r in found)) for path, found in records.items()}


# --- Authentication ---------------------------------------------------------------------------------------------


def test_token_by_basic_auth_or_form_fields_and_wrong_credentials_refused(sim: Simulator) -> None:
    url = f"{sim.base_url}/oauth2/token"
    grant = {"grant_type": "client_credentials"}
    by_basic = requests.post(url, data=grant, auth=(sim.client_id, sim.client_secret), timeout=10)
    by_form = requests.post(url, data={**grant, "client_id": sim.client_id, "client_secret": sim.client_secret})
    for response in (by_basic, by_form):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
        assert response.headers["Cache-Control"] == "no-store"
    for auth in ((sim.client_id, "wrong"), ("someone-else", sim.client_secret)):
        refused = requests.post(url, data=grant, auth=auth, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    wrong_grant = requests.post(url, data={"grant_type": "password"}, auth=(sim.client_id, sim.client_secret))
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("path", [UNITS, REGISTER])
def test_bearer_collections_refuse_missing_and_unknown_tokens(sim: Simulator, path: str) -> None:
    url = sim.base_url + path
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"X-API-Key": sim.api_key}, timeout=10).status_code == 401
    unknown = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in unknown.headers["WWW-Authenticate"]
    assert requests.get(url, headers={"Authorization": f"Bearer {sim.token()}"}, timeout=10).status_code == 200


def test_legal_documents_need_the_api_key(sim: Simulator) -> None:
    url = sim.base_url + DOCS
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"X-API-Key": "guess"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {sim.token()}"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"X-API-Key": sim.api_key}, timeout=10).status_code == 200


# --- Paging -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [UNITS, REGISTER, DOCS])
@pytest.mark.parametrize("style", ["page", "offset", "cursor", "link-page", "link-offset", "link-cursor"])
def test_every_paging_style_walks_every_record_exactly_once(
    sim: Simulator, api: requests.Session, reference: dict, path: str, style: str
) -> None:
    total, keys = reference[path]
    records = walk(api, sim.base_url, path, style, SIZES[path])
    walked = [KEYS[path](r) for r in records]
    assert len(walked) == total == len(set(walked))
    assert set(walked) == keys
    expected = {UNITS: 3321 + 34 + 10035 + 696 + 63, REGISTER: ENTERPRISES, DOCS: DOCUMENTS}[path]
    assert total == expected


def test_records_come_in_updated_at_then_key_order_with_default_page_size(
    api: requests.Session, sim: Simulator
) -> None:
    response = api.get(sim.base_url + REGISTER, timeout=10)
    body = response.json()
    assert len(body["data"]) == body["page_size"] == 100 and body["page"] is None and body["offset"] is None
    order = [(r["updated_at"], r["tax_code"]) for r in walk(api, sim.base_url, REGISTER, "cursor", 1000)]
    assert order == sorted(order)
    assert response.text == unicodedata.normalize("NFC", response.text)
    assert (
        response.headers["Link"].startswith(f"<{sim.base_url}{REGISTER}?") and 'rel="next"' in response.headers["Link"]
    )


@pytest.mark.parametrize(
    ("path", "params", "mentions"),
    [
        (REGISTER, {"page_size": 1001}, "page_size"),
        (REGISTER, {"limit": 5000}, "limit"),
        (REGISTER, {"limit": 0}, "limit"),
        (REGISTER, {"page": 0}, "page"),
        (REGISTER, {"offset": -1}, "offset"),
        (REGISTER, {"limit": "ten"}, "limit"),
        (REGISTER, {"cursor": "not-a-cursor"}, "cursor"),
        (REGISTER, {"updated_since": "last tuesday"}, "updated_since"),
        (REGISTER, {"page": 1, "offset": 0}, "page"),
        (REGISTER, {"cursor": "x", "page": 2}, "cursor"),
        (REGISTER, {"page_size": 10, "limit": 20}, "page_size"),
        (UNITS, {"era": "1976"}, "era"),
        (DOCS, {"page_size": 100_000}, "page_size"),
    ],
)
def test_bad_parameters_get_400_with_a_clear_message(
    api: requests.Session, sim: Simulator, path: str, params: dict, mentions: str
) -> None:
    response = api.get(sim.base_url + path, params=params, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "detail"} and mentions in body["detail"]


def test_a_cursor_is_only_good_for_its_own_collection(api: requests.Session, sim: Simulator) -> None:
    cursor = api.get(sim.base_url + DOCS, params={"limit": 5}, timeout=10).json()["next_cursor"]
    response = api.get(sim.base_url + REGISTER, params={"cursor": cursor}, timeout=10)
    assert response.status_code == 400 and "another collection" in response.json()["detail"]


# --- Data ---------------------------------------------------------------------------------------------------------


def test_units_catalogue_has_quang_tri_old_and_new_with_successors(api: requests.Session, sim: Simulator) -> None:
    current = walk(api, sim.base_url, UNITS, "cursor", 1000, province_code="44", era="2025", level="ward")
    with closing(sqlite3.connect(dataset_path())) as db:
        package = {code for (code,) in db.execute("SELECT wardCode FROM admin_units WHERE provinceCode = '44'")}
    assert {u["code"] for u in current} == package and len(package) == 78
    assert all(u["district"] is None and u["successors"] == [] and u["effective_to"] is None for u in current)
    hai_lang = {"code": "19702", "name": "Xã Hải Lăng"}
    assert hai_lang in [{"code": u["code"], "name": u["name"]} for u in current]

    legacy = {u["code"]: u for u in walk(api, sim.base_url, UNITS, "cursor", 1000, province_code="45", era="legacy")}
    # converter_2025.json: Hải Phú, Hải Thượng and Hải Lâm of Huyện Hải Lăng merged into Xã Hải Lăng.
    for code, name in (("19702", "Xã Hải Phú"), ("19708", "Xã Hải Thượng"), ("19717", "Xã Hải Lâm")):
        unit = legacy[code]
        assert (unit["name"], unit["level"], unit["district"]["name"]) == (name, "ward", "Huyện Hải Lăng")
        assert unit["successors"] == [hai_lang] and unit["effective_to"] == "2025-07-01"
    assert hai_lang in legacy["470"]["successors"] and legacy["470"]["level"] == "district"
    assert legacy["45"]["successors"] == [{"code": "44", "name": "Tỉnh Quảng Trị"}]

    converter = json.loads((dataset_path().parent / "converter_2025.json").read_text(encoding="utf-8"))
    split = converter["DICT_PROVINCE_WARD_DIVIDED"]["tinhquangngai"]["tinhquangngai_huyentrabong_xatrabui"]
    assert len(split) == 2
    tra_bui = api.get(sim.base_url + UNITS, params={"province_code": "51", "era": "legacy", "limit": 1000}).json()
    (unit,) = [u for u in tra_bui["data"] if u["code"] == "21142"]
    assert unit["name"] == "Xã Trà Bùi" and [s["name"] for s in unit["successors"]] == ["Xã Cà Đam", "Xã Tây Trà Bồng"]

    provinces = api.get(sim.base_url + UNITS, params={"level": "province", "limit": 1000}, timeout=10).json()["data"]
    assert sum(u["era"] == "2025" for u in provinces) == 34 and sum(u["era"] == "legacy" for u in provinces) == 63


def test_the_real_national_documents_are_there(sim: Simulator) -> None:
    with requests.Session() as client:
        client.headers["X-API-Key"] = sim.api_key
        numbers = {d["number"]: d for d in walk(client, sim.base_url, DOCS, "link-cursor", 1000)}
    text = json.dumps(list(numbers.values()), ensure_ascii=False)
    assert text == unicodedata.normalize("NFC", text)
    for number in ("47/2020/NĐ-CP", "194/2025/NĐ-CP", "91/2025/QH15", "13/2017/TT-BTTTT", "278/2025/NĐ-CP"):
        assert number in numbers
    assert numbers["13/2023/NĐ-CP"]["status"] == "Hết hiệu lực toàn bộ"
    assert numbers["13/2023/NĐ-CP"]["effective_to"] == numbers["91/2025/QH15"]["effective_from"] == "2026-01-01"


def test_the_data_is_a_pure_function_of_the_seed(api: requests.Session, sim: Simulator) -> None:
    wards = [u for u in build_units() if u["era"] == "2025" and u["level"] == "ward" and u["province"]["code"] == "44"]
    served = walk(api, sim.base_url, REGISTER, "offset", 1000)
    assert served == Enterprises(ENTERPRISES, SEED, wards).records(list(range(ENTERPRISES)))
    assert Enterprises(50, SEED + 1, wards).records(list(range(50))) != Enterprises(50, SEED, wards).records(
        list(range(50))
    )
    documents = walk(api, sim.base_url, DOCS, "cursor", 1000)
    assert sorted(documents, key=lambda d: d["id"]) == sorted(build_documents(SEED, DOCUMENTS), key=lambda d: d["id"])
    twin, again = Enterprises(300, SEED, wards), Enterprises(300, SEED, wards)
    assert [twin.advance(9, 4, 3600), twin.advance(5, 2, 60)] == [again.advance(9, 4, 3600), again.advance(5, 2, 60)]
    assert twin.encode(list(range(306))) == again.encode(list(range(306)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_register_stays_ordered_and_pageable_through_advances(seed: int) -> None:
    """In-process: order, keyset pages, offsets and updated_since agree after each advance (odd page sizes)."""
    wards = [u for u in build_units() if u["era"] == "2025" and u["level"] == "ward" and u["province"]["code"] == "44"]
    register = Enterprises(60, seed, wards)

    def rows(found: object) -> list[dict]:
        return orjson.loads(orjson.dumps(found.records))

    for step in range(5):
        register.advance(7 + step, 3, 500 if step % 2 else 5)
        everything = rows(register.select(None, None, 0, 1000))
        keys = [(r["updated_at"], r["tax_code"]) for r in everything]
        assert keys == sorted(keys) and len(set(keys)) == len(everything) == register.total
        paged, after = [], None
        while True:
            found = register.select(None, after, 0, 7)
            paged += rows(found)
            if not found.has_more:
                break
            after = found.last_key
        assert paged == everything
        assert rows(register.select(None, None, 13, 5)) == everything[13:18]
        for since in {keys[3][0], keys[len(keys) // 2][0], keys[-5][0]}:
            found = register.select(since, None, 0, 1000)
            assert rows(found) == [r for r in everything if r["updated_at"] > since] and found.total == len(rows(found))


def test_updated_since_after_advance_gives_exactly_the_changed_and_new_enterprises() -> None:
    with Simulator(enterprises=1_000, seed=3, documents=50) as live, session(live) as client:
        before = {r["tax_code"]: r for r in walk(client, live.base_url, REGISTER, "cursor", 1000)}
        high = max(r["updated_at"] for r in before.values())
        first = client.get(live.base_url + REGISTER, params={"limit": 300}, timeout=10).json()
        changes = live.advance(updated=6, new=4)
        assert len(changes["updated"]) == 6 and len(set(changes["new"]) - set(before)) == 4

        # A keyset walk that straddles the change skips nothing; changed records come again at the end.
        rest = walk(client, live.base_url, REGISTER, "cursor", 300, cursor=first["next_cursor"])
        seen = [r["tax_code"] for r in first["data"] + rest]
        assert set(before) | set(changes["new"]) == set(seen) and len(seen) <= 1_000 + 4 + 6

        since = walk(client, live.base_url, REGISTER, "page", 100, updated_since=high)
        assert sorted(r["tax_code"] for r in since) == sorted(changes["updated"] + changes["new"])
        for record in since:
            assert high < record["updated_at"] <= changes["clock"]
            old = before.get(record["tax_code"])
            if old is None:
                assert record["status"] == "Đang hoạt động" and record["registered_on"] >= high[:10]
            else:
                assert (record["status"], record["address"]) != (old["status"], old["address"])
        assert client.get(live.base_url + REGISTER, timeout=10).json()["total"] == 1_004
        nothing = client.get(live.base_url + REGISTER, params={"updated_since": changes["clock"]}, timeout=10)
        assert nothing.json()["data"] == [] and nothing.json()["total"] == 0 and "Link" not in nothing.headers


# --- Faults, rate limits, token expiry ------------------------------------------------------------------------------


def test_429_and_503_faults_fire_after_k_for_n_times_with_retry_after(api: requests.Session, sim: Simulator) -> None:
    sim.set_faults({"kind": "503", "path": "/dkkd", "after": 1, "times": 2, "retry_after": 7}, {"kind": "429"})
    url = sim.base_url + REGISTER
    statuses = [api.get(url, params={"limit": 1}, timeout=10) for _ in range(4)]
    assert [r.status_code for r in statuses] == [429, 503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "1" and statuses[1].headers["Retry-After"] == "7"
    assert statuses[1].json()["error"] == "service_unavailable"
    assert api.get(sim.base_url + UNITS, params={"limit": 1}, timeout=10).status_code == 200


def test_slow_fault_delays_the_answer(api: requests.Session, sim: Simulator) -> None:
    sim.set_faults({"kind": "slow", "path": UNITS, "delay": 0.4})
    started = time.perf_counter()
    assert api.get(sim.base_url + UNITS, params={"limit": 1}, timeout=10).status_code == 200
    assert time.perf_counter() - started >= 0.4


def test_expire_token_fault_forces_a_new_token(api: requests.Session, sim: Simulator) -> None:
    sim.set_faults({"kind": "expire_token", "path": REGISTER, "after": 1})
    url = sim.base_url + REGISTER
    assert api.get(url, params={"limit": 1}, timeout=10).status_code == 200
    for _ in range(2):
        expired = api.get(url, params={"limit": 1}, timeout=10)
        assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    api.headers["Authorization"] = f"Bearer {sim.token()}"
    assert api.get(url, params={"limit": 1}, timeout=10).status_code == 200


def test_malformed_fault_is_a_200_with_broken_json(api: requests.Session, sim: Simulator) -> None:
    sim.set_faults([{"kind": "malformed", "path": DOCS}])
    response = api.get(sim.base_url + DOCS, params={"limit": 50}, timeout=10)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_drop_fault_breaks_the_connection_mid_response(api: requests.Session, sim: Simulator) -> None:
    sim.set_faults({"kind": "drop", "path": REGISTER})
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        api.get(sim.base_url + REGISTER, timeout=10)
    assert api.get(sim.base_url + REGISTER, params={"limit": 1}, timeout=10).status_code == 200


def test_stats_count_data_requests_tokens_and_faults_but_not_admin_calls(sim: Simulator) -> None:
    sim.reset_stats()
    sim.set_faults({"kind": "429", "path": UNITS, "times": 2})
    with session(sim) as client:
        for _ in range(3):
            client.get(sim.base_url + UNITS, params={"limit": 1}, timeout=10)
    sim.clear_faults()
    stats = sim.stats()
    assert stats["requests"] == {UNITS: {"429": 2, "200": 1}, "/oauth2/token": {"200": 1}}
    assert stats["tokens_issued"] == 1 and stats["faults_fired"] == {"429": 2}
    response = requests.post(f"{sim.base_url}/_admin/faults", json=[{"kind": "teapot"}], timeout=10)
    assert response.status_code == 400 and "kind" in response.json()["detail"]


def test_rate_limit_and_token_lifetime_then_clean_stop() -> None:
    live = Simulator(enterprises=100, documents=20, token_ttl=1, rate_limit=2)
    with live, session(live) as client:
        process = live.process
        answers = [client.get(live.base_url + REGISTER, params={"limit": 1}, timeout=10) for _ in range(8)]
        assert [a.status_code for a in answers[:2]] == [200, 200]
        limited = [a for a in answers if a.status_code == 429]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
        time.sleep(1.1)  # past Retry-After, and past the one-second token lifetime
        expired = client.get(live.base_url + REGISTER, params={"limit": 1}, timeout=10)
        assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
        client.headers["Authorization"] = f"Bearer {live.token()}"
        assert client.get(live.base_url + REGISTER, params={"limit": 1}, timeout=10).status_code == 200
    assert process is not None and process.poll() is not None and live.process is None
