"""What `lgsp demo` sets up for agency sharing: sample consumers, a commune-limited grant on the
driving licences, a pending access request, a staff login, a few sample exchanges (so the log and
its statistics have something), and how to call the API."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from rich.console import Console

from lgsp.core.settings import Settings
from lgsp.sharing import consumers, registry
from lgsp.sharing.grants import add_grant, list_grants
from lgsp.sharing.requests import add_request, list_requests
from lgsp.sharing.staff import add_staff
from lgsp.sharing.stats import nameable, write_open_stats

ONE_STOP_SHOP = "TTPVHCC"
WARD_OFFICE = "UBND_DONGHA"
POLICE = "BCA_CSGT"
CONSUMERS = [
    (ONE_STOP_SHOP, "Trung tâm Phục vụ hành chính công tỉnh", "ttpvhcc@example.gov.vn", "provincial"),
    (WARD_OFFICE, "Ủy ban nhân dân phường Đông Hà", "ubnd.dongha@example.gov.vn", "commune"),
    (POLICE, "Cục Cảnh sát giao thông, Bộ Công an", "csgt@example.gov.vn", "ministry"),
]
GRANTED_COLUMNS = [
    "licence_no",
    "full_name",
    "licence_class",
    "issued_on",
    "expires_on",
    "commune_code",
    "commune_name",
]
"""Everything but the citizen id and the birth date: the full name is personal data, named explicitly."""


def _busiest_commune(settings: Settings) -> tuple[str, str]:
    from lgsp.warehouse.store import Warehouse

    with Warehouse(settings).reader() as con:
        row = con.execute(
            "SELECT commune_code, any_value(commune_name) FROM main.driving_licences WHERE commune_code IS NOT NULL "
            "GROUP BY commune_code ORDER BY count(*) DESC, commune_code LIMIT 1"
        ).fetchone()
    assert row is not None, "driving_licences has no rows: run it first"
    return str(row[0]), str(row[1])


def seed(settings: Settings) -> dict[str, Any]:
    """Register the sample consumers and grants (again on a re-run: keys are rotated, the grant
    replaced); returns the credentials, which are also written to sharing/demo-credentials.json."""
    known = {c["code"] for c in consumers.list_consumers(settings)}
    keys = {}
    for code, name, contact, kind in CONSUMERS:
        if code not in known:
            consumers.add_consumer(settings, code, name, contact, kind)
        keys[code] = consumers.issue_key(settings, code, replace=True)
    client_id, client_secret = consumers.issue_client(settings, ONE_STOP_SHOP)
    commune_code, commune_name = _busiest_commune(settings)
    grant = add_grant(
        settings, ONE_STOP_SHOP, "driving_licences", columns=GRANTED_COLUMNS, row_filter={"commune_code": [commune_code]},
        purpose="Kiểm tra giấy phép lái xe khi giải quyết thủ tục hành chính của công dân cư trú tại " + commune_name,
        granted_by="sxd", expires_at=registry.now() + dt.timedelta(days=365),
    )  # fmt: skip
    if not any(r.consumer == POLICE and r.status == "pending" for r in list_requests(settings)):
        add_request(settings, POLICE, "driving_licences", "Đối chiếu giấy phép khi xử lý vi phạm giao thông")
    password = add_staff(settings, "sxd", "SXD")
    credentials = {
        "api_keys": keys,
        "oauth2_client": {"consumer": ONE_STOP_SHOP, "client_id": client_id, "client_secret": client_secret},
        "grant": {"id": grant.id, "consumer": ONE_STOP_SHOP, "dataset": "driving_licences",
                  "commune_code": commune_code, "commune_name": commune_name, "columns": GRANTED_COLUMNS},
        "staff": {"username": "sxd", "password": password, "department": "SXD"},
    }  # fmt: skip
    path = settings.sharing_dir / "demo-credentials.json"
    path.write_text(json.dumps(credentials, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)  # demo secrets: readable by the hub's user only
    assert len(list_grants(settings, consumer=ONE_STOP_SHOP)) == 1
    return credentials


def sample_exchanges(settings: Settings, credentials: dict[str, Any]) -> list[tuple[str, int]]:
    """The acceptance scenario, through the real app in-process: returns (what, status) pairs."""
    from fastapi.testclient import TestClient

    from lgsp.app import create_app

    keys = credentials["api_keys"]
    commune = credentials["grant"]["commune_code"]
    base = "/api/share/v1/datasets/driving_licences"
    calls = [
        ("one-stop shop lists its datasets", keys[ONE_STOP_SHOP], "/api/share/v1/datasets"),
        ("one-stop shop reads its commune's licences", keys[ONE_STOP_SHOP], f"{base}/rows?limit=5"),
        ("one-stop shop: a query matching nothing", keys[ONE_STOP_SHOP],
         f"{base}/rows?filters=" + json.dumps({"licence_class": "DE", "commune_code": commune})),
        ("ward office without a grant", keys[WARD_OFFICE], f"{base}/rows?limit=5"),
    ]  # fmt: skip
    out = []
    with TestClient(create_app(settings)) as client:
        for what, key, path in calls:
            out.append((what, client.get(path, headers={"X-API-Key": key}).status_code))
    return out


def run(settings: Settings, console: Console) -> None:
    """Seed, exchange, write the statistics and tell the user how to call the API."""
    from lgsp.sharing.grants import Grants

    credentials = seed(settings)
    for what, status in sample_exchanges(settings, credentials):
        console.print(f"  sample exchange: {what} → HTTP {status}")
    write_open_stats(settings, nameable(Grants(settings, None).contracts()))
    grant, keys = credentials["grant"], credentials["api_keys"]
    console.print(
        f"Agency sharing: {ONE_STOP_SHOP} may read driving_licences of {grant['commune_name']} "
        f"({grant['commune_code']}), without citizen ids or birth dates; {WARD_OFFICE} has no grant; "
        f"{POLICE} has a pending access request.\n"
        f"Credentials (demo only): {settings.sharing_dir / 'demo-credentials.json'}\n"
        f"  lgsp serve, then:\n"
        f"  curl -H 'X-API-Key: {keys[ONE_STOP_SHOP]}' "
        f"'http://127.0.0.1:8000/api/share/v1/datasets/driving_licences/rows?limit=5'\n"
        f"  admin pages: http://127.0.0.1:8000/admin/ (user sxd, password {credentials['staff']['password']})",
        soft_wrap=True,
    )
