"""The sharing API over a live server: the three answers, errors that name the field, credentials
that stop working the moment they are revoked, rotated or expired, OAuth2 tokens, access
requests, and a log entry for every request."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lgsp.sharing import consumers, registry
from lgsp.sharing.audit import verify
from lgsp.sharing.grants import add_grant, revoke_grant
from lgsp.warehouse.store import Warehouse
from tests.sharing.conftest import Hub, make_settings

ROWS = "/api/share/v1/datasets/driving_licences/rows"


@pytest.fixture(scope="module")
def agency(live: Hub) -> Iterator[dict[str, Any]]:
    """One agency granted one commune's driving licences, with an API key and OAuth2 client."""
    settings = live.settings
    with Warehouse(settings).reader() as con:
        commune = con.execute(
            "SELECT commune_code FROM main.driving_licences GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    consumers.add_consumer(settings, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "a@example.gov.vn", "provincial")
    consumers.add_consumer(settings, "UBND_X", "UBND phường X", "b@example.gov.vn", "commune")
    grant = add_grant(settings, "TTPVHCC", "driving_licences", purpose="thủ tục hành chính", granted_by="sxd",
                      row_filter={"commune_code": [commune]})  # fmt: skip
    client_id, secret = consumers.issue_client(settings, "TTPVHCC")
    with httpx.Client(base_url=live.url, timeout=30) as http:
        yield {
            "http": http, "settings": settings, "commune": commune, "grant": grant, "live": live,
            "key": consumers.issue_key(settings, "TTPVHCC"), "other": consumers.issue_key(settings, "UBND_X"),
            "client": (client_id, secret),
        }  # fmt: skip


def call(agency: dict[str, Any], path: str, key: str | None = None, **params: Any) -> httpx.Response:
    headers = {"X-API-Key": key or agency["key"]}
    return agency["http"].get(path, params=params, headers=headers)


def test_the_three_answers_are_distinct_in_status_and_body(agency: dict[str, Any]) -> None:
    data = call(agency, ROWS, limit=5)
    assert data.status_code == 200 and data.headers["lgsp-result"] == "data"
    assert data.json()["result"] == "data" and len(data.json()["rows"]) == 5
    assert {r["commune_code"] for r in data.json()["rows"]} == {agency["commune"]}

    nothing = call(agency, ROWS, filters=json.dumps({"licence_class": "NO-SUCH-CLASS"}))
    assert nothing.status_code == 204 and nothing.headers["lgsp-result"] == "no_data" and nothing.content == b""

    refused = call(agency, ROWS, key=agency["other"])
    assert refused.status_code == 403 and refused.headers["lgsp-result"] == "not_permitted"
    assert refused.json() == {
        "result": "not_permitted", "dataset": "driving_licences", "reason": "no_grant",
        "message": "you have no active grant on this dataset; ask its owner",
    }  # fmt: skip

    first = data.json()["rows"][0]["licence_no"]
    record = call(agency, f"/api/share/v1/datasets/driving_licences/records/{first}")
    assert record.status_code == 200 and record.json()["record"]["licence_no"] == first
    assert "citizen_id" not in record.json()["record"]


def test_unknown_datasets_and_malformed_requests_get_clear_errors(agency: dict[str, Any]) -> None:
    unknown = call(agency, "/api/share/v1/datasets/no_such_dataset/rows")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_dataset"
    for params, field in [
        ({"filters": "{not json"}, "filters"),
        ({"filters": json.dumps({"no_such_column": 1})}, "filters"),
        ({"fields": "licence_no,no_such_column"}, "fields"),
        ({"after": "%%%"}, "after"),
        ({"after": "WzEsMiwzXQ"}, "after"),  # a cursor of the wrong shape
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
    ]:
        response = call(agency, ROWS, **params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"]["field"] == field, response.text
    assert agency["http"].get(ROWS).status_code == 401
    assert agency["http"].get(ROWS).headers["www-authenticate"].startswith("Bearer")


def test_keyset_pages_follow_the_key_and_survive_a_new_copy(agency: dict[str, Any]) -> None:
    first = call(agency, ROWS, limit=3, fields="licence_no").json()
    second = call(agency, ROWS, limit=3, fields="licence_no", after=first["next"]).json()
    keys = [r["licence_no"] for r in first["rows"] + second["rows"]]
    assert keys == sorted(keys) and len(set(keys)) == 6
    assert list(first["rows"][0]) == ["licence_no"]


def test_revoked_and_rotated_keys_stop_at_once(agency: dict[str, Any]) -> None:
    settings = agency["settings"]
    consumers.add_consumer(settings, "ROTATE_ME", "Agency", "c@example.gov.vn")
    add_grant(settings, "ROTATE_ME", "driving_licences", purpose="t", granted_by="t")
    old = consumers.issue_key(settings, "ROTATE_ME")
    assert call(agency, ROWS, key=old, limit=1).status_code == 200  # now cached in the server
    new = consumers.issue_key(settings, "ROTATE_ME", replace=True)
    assert call(agency, ROWS, key=old, limit=1).status_code == 401
    assert call(agency, ROWS, key=new, limit=1).status_code == 200
    consumers.revoke(settings, new.split(".")[0].removeprefix("lgsp_"))
    assert call(agency, ROWS, key=new, limit=1).status_code == 401
    third = consumers.issue_key(settings, "ROTATE_ME")
    assert call(agency, ROWS, key=third, limit=1).status_code == 200
    consumers.revoke(settings, "ROTATE_ME")  # the whole consumer
    assert call(agency, ROWS, key=third, limit=1).status_code == 401
    assert call(agency, ROWS, key=agency["key"][:-2] + "xx", limit=1).status_code == 401  # a wrong secret


def test_grants_revoked_or_expired_stop_at_once(agency: dict[str, Any]) -> None:
    settings = agency["settings"]
    consumers.add_consumer(settings, "SHORT_GRANT", "Agency", "d@example.gov.vn")
    key = consumers.issue_key(settings, "SHORT_GRANT")
    grant = add_grant(settings, "SHORT_GRANT", "schools", purpose="t", granted_by="t",
                      expires_at=registry.now() + dt.timedelta(seconds=2))  # fmt: skip
    path = "/api/share/v1/datasets/schools/rows"
    assert call(agency, path, key=key, limit=1).status_code == 200
    time.sleep(2.1)
    assert call(agency, path, key=key, limit=1).status_code == 403
    again = add_grant(settings, "SHORT_GRANT", "schools", purpose="t", granted_by="t")
    assert again.id != grant.id and call(agency, path, key=key, limit=1).status_code == 200
    revoke_grant(settings, again.id)
    assert call(agency, path, key=key, limit=1).status_code == 403


def test_oauth2_client_credentials_and_short_lived_tokens(agency: dict[str, Any]) -> None:
    http, (client_id, secret) = agency["http"], agency["client"]
    token_url = "/api/share/v1/token"
    bad = http.post(token_url, data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"})
    assert bad.status_code == 401 and bad.json() == {"error": "invalid_client"}
    wrong = http.post(token_url, data={"grant_type": "password", "client_id": client_id, "client_secret": secret})
    assert wrong.status_code == 400 and wrong.json() == {"error": "unsupported_grant_type"}
    issued = http.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert issued.status_code == 200 and issued.json()["expires_in"] == 300
    token = issued.json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get(ROWS, params={"limit": 2}, headers=bearer).status_code == 200
    # A token made with a 1-second lifetime expires by itself.
    short = make_settings(agency["settings"].home, agency["settings"].contracts_dir, token_ttl=1)
    quick, _ = consumers.issue_token(short, client_id, secret)  # type: ignore[misc]
    assert http.get(ROWS, headers={"Authorization": f"Bearer {quick}"}).status_code == 200
    time.sleep(1.2)
    assert http.get(ROWS, headers={"Authorization": f"Bearer {quick}"}).status_code == 401
    # Revoking the client revokes its tokens.
    consumers.revoke(agency["settings"], client_id)
    assert http.get(ROWS, headers=bearer).status_code == 401
    assert http.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)).status_code == 401


def test_access_requests_through_the_api(agency: dict[str, Any]) -> None:
    http = agency["http"]
    headers = {"X-API-Key": agency["other"]}
    made = http.post("/api/share/v1/requests", json={"dataset": "driving_licences", "purpose": "đối chiếu"},
                     headers=headers)  # fmt: skip
    assert made.status_code == 201 and made.json()["status"] == "pending" and not made.json()["overdue"]
    assert dt.date.fromisoformat(made.json()["due_on"]) > dt.date.today()
    mine = http.get("/api/share/v1/requests", headers=headers).json()["requests"]
    assert [r["id"] for r in mine] == [made.json()["id"]]
    unknown = http.post("/api/share/v1/requests", json={"dataset": "nope", "purpose": "x"}, headers=headers)
    assert unknown.status_code == 404


def test_every_request_is_logged_with_who_what_and_how_long(agency: dict[str, Any]) -> None:
    settings = agency["settings"]
    before = len(agency["live"].logged())
    call(agency, ROWS, limit=4, fields="licence_no,commune_code", filters=json.dumps({"licence_class": "B"}))
    call(agency, ROWS, key=agency["other"])
    agency["http"].get(ROWS)  # no credential at all
    call(agency, ROWS, limit="abc")
    logged = agency["live"].logged()[before:]
    assert [e["outcome"] for e in logged] == ["data", "not_permitted", "unauthenticated", "bad_request"]
    first = logged[0]
    assert first["consumer"] == "TTPVHCC" and first["dataset"] == "driving_licences"
    assert first["filters"] == {"licence_class": ["B"]} and first["fields"] == ["licence_no", "commune_code"]
    assert 0 < first["rows"] <= 4 and first["latency_ms"] > 0 and first["status"] == 200 and first["at"]
    assert logged[1]["consumer"] == "UBND_X" and logged[1]["rows"] == 0
    assert verify(settings.sharing_dir).ok, verify(settings.sharing_dir)


def test_a_new_published_run_is_served_without_restarting(agency: dict[str, Any]) -> None:
    settings = agency["settings"]
    before = call(agency, ROWS, limit=1000).json()["rows"]
    with Warehouse(settings).writer() as con:  # what a later run's publish does, in short
        con.execute("DELETE FROM main.driving_licences WHERE licence_no = ?", [before[0]["licence_no"]])
        con.execute(
            "INSERT INTO meta.runs (run_id, dataset_id, started_at, ended_at, status) "
            "VALUES ('later', 'driving_licences', now(), now() + INTERVAL 1 HOUR, 'published')"
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = call(agency, ROWS, limit=1000).json()["rows"]
        if len(after) == len(before) - 1:
            break
        time.sleep(0.5)
    assert [r["licence_no"] for r in after] == [r["licence_no"] for r in before[1:]]
