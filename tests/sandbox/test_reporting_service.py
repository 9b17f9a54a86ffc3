"""The simulated national reporting system checks every cell, answers every error at once, and keeps versions."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import requests
from lgsp_sandbox.national_api.report_templates import TEMPLATES
from lgsp_sandbox.national_api.reporting import Submissions
from lgsp_sandbox.national_api.server import Simulator

BASE = "/reporting/v1"
DVC, HTVT = "BCCDS-DVC-2024", "BCCDS-HTVT-2024"
GOOD = {
    DVC: {"DVC.01": 120, "DVC.02": 40, "DVC.03": 150, "DVC.04": 60},
    HTVT: {"HTVT.01": 672815, "HTVT.02": 5987, "HTVT.03": 666828, "HTVT.04": 98_000, "HTVT.05": 78.5},
}
UNITS = {"DVC": "services", "HTVT.05": "%", "HTVT": "subscriptions"}
_reporters = itertools.count(1)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """One simulator for the module; every test reports as a reporter of its own, so versions do not mix."""
    with Simulator(enterprises=50, documents=10) as server:
        yield server


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    sim.clear_faults()
    with requests.Session() as client:
        client.trust_env = False
        client.headers["Authorization"] = f"Bearer {sim.token()}"
        yield client
    sim.clear_faults()


@pytest.fixture
def reporter() -> str:
    return f"UBND tỉnh Quảng Trị #{next(_reporters)}"


def unit(row: str) -> str:
    return UNITS.get(row) or UNITS[row.split(".")[0]]


def cells(template: str, **changed: object) -> list[dict]:
    """The good cells of a template, with `changed` values (DVC_01=5); the value `...` leaves the cell out."""
    values = {**GOOD[template], **{name.replace("_", "."): value for name, value in changed.items()}}
    return [
        {"row": row, "column": "2024", "value": value, "unit": unit(row), "note": None}
        for row, value in values.items()
        if value is not ...
    ]


def report(template: str, reporter: str, cell_list: list[dict] | None = None, period: str = "2024") -> dict:
    return {"template": template, "reporter": reporter, "period": period, "cells": cell_list or cells(template)}


def submit(api: requests.Session, sim: Simulator, body: object) -> requests.Response:
    return api.post(sim.base_url + BASE + "/submissions", json=body, timeout=10)


def stored_for(api: requests.Session, sim: Simulator, reporter: str) -> list[dict]:
    response = api.get(sim.base_url + BASE + "/submissions", params={"reporter": reporter}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["submissions"]


def triples(response: requests.Response) -> list[tuple[str | None, str | None, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == "rejected" and set(body) == {"status", "errors"}
    for error in body["errors"]:
        assert set(error) == {"row", "column", "code", "message"}
        assert error["message"]["vi"] and error["message"]["en"] and error["message"]["vi"] != error["message"]["en"]
    return [(e["row"], e["column"], e["code"]) for e in body["errors"]]


# --- Tokens and templates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/templates"),
        ("GET", f"/templates/{DVC}"),
        ("POST", "/submissions"),
        ("GET", "/submissions"),
        ("GET", f"/submissions/{DVC}-000001"),
    ],
)
def test_every_reporting_route_needs_a_live_token(sim: Simulator, method: str, path: str) -> None:
    url, body = sim.base_url + BASE + path, report(DVC, "no token")
    missing = requests.request(method, url, json=body, timeout=10)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    forged = requests.request(method, url, json=body, headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


def test_templates_are_listed_by_code_with_period_and_deadline(api: requests.Session, sim: Simulator) -> None:
    response = api.get(sim.base_url + BASE + "/templates", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "templates": [
            {
                "code": DVC,
                "title": {"vi": "Dịch vụ công trực tuyến năm 2024", "en": "Online public services, 2024"},
                "period": "2024",
                "deadline": "2025-01-15",
            },
            {
                "code": HTVT,
                "title": {
                    "vi": "Hạ tầng viễn thông và Internet năm 2024",
                    "en": "Telecommunications and Internet infrastructure, 2024",
                },
                "period": "2024",
                "deadline": "2025-01-15",
            },
        ]
    }


def test_a_template_gives_its_columns_rows_and_rules(api: requests.Session, sim: Simulator) -> None:
    dvc = api.get(f"{sim.base_url}{BASE}/templates/{DVC}", timeout=10).json()
    assert dvc["columns"] == [{"code": "2024", "label": {"vi": "Năm 2024", "en": "2024"}}]
    assert [row["code"] for row in dvc["rows"]] == ["DVC.01", "DVC.02", "DVC.03", "DVC.04"]
    assert dvc["rows"][0] == {
        "code": "DVC.01",
        "name": {
            "vi": "Số DVCTT toàn trình trên Cổng Dịch vụ công quốc gia",
            "en": "Full online public services on the National Public Service Portal",
        },
        "unit": "services",
        "kind": "integer",
        "min": 0,
        "max": None,
        "required": True,
    }
    assert [(rule["code"], rule["row"]) for rule in dvc["rules"]] == [("R1", "DVC.01")]
    assert set(dvc["rules"][0]["description"]) == {"vi", "en"}
    htvt = api.get(f"{sim.base_url}{BASE}/templates/{HTVT}", timeout=10).json()
    assert {"code", "title", "period", "deadline", "columns", "rows", "rules"} <= set(htvt)
    users = htvt["rows"][-1]
    assert (users["code"], users["unit"], users["kind"], users["min"], users["max"], users["required"]) == (
        "HTVT.05",
        "%",
        "number",
        0,
        200,
        False,
    )
    assert all(row["unit"] == "subscriptions" and row["required"] for row in htvt["rows"][:4])
    assert htvt["rules"][0]["row"] == "HTVT.01"


# --- Accepted reports and versions --------------------------------------------------------------------------------


def test_a_valid_report_is_accepted_with_a_receipt_and_flagged_late(
    api: requests.Session, sim: Simulator, reporter: str
) -> None:
    body = report(HTVT, reporter)
    response = submit(api, sim, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert set(answer) == {"status", "receipt", "version", "late", "received_at", "message"}
    assert answer["status"] == "accepted" and answer["version"] == 1 and answer["late"] is True
    assert re.fullmatch(rf"{HTVT}-\d{{6}}", answer["receipt"])
    received = datetime.fromisoformat(answer["received_at"])
    assert received.utcoffset() == timedelta(hours=7)
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=1)
    assert "15/01/2025" in answer["message"]["vi"] and "2025-01-15" in answer["message"]["en"]
    stored = api.get(f"{sim.base_url}{BASE}/submissions/{answer['receipt']}", timeout=10).json()
    assert stored["cells"] == body["cells"]
    assert (stored["template"], stored["reporter"], stored["period"]) == (HTVT, reporter, "2024")
    assert (stored["version"], stored["late"], stored["received_at"]) == (1, True, answer["received_at"])


def test_a_resubmission_is_version_2_and_replaces_the_first(
    api: requests.Session, sim: Simulator, reporter: str
) -> None:
    first = submit(api, sim, report(DVC, reporter)).json()
    second = submit(api, sim, report(DVC, reporter, cells(DVC, DVC_02=41))).json()
    assert (first["version"], second["version"]) == (1, 2)
    assert int(second["receipt"].rsplit("-", 1)[1]) == int(first["receipt"].rsplit("-", 1)[1]) + 1
    latest = api.get(f"{sim.base_url}{BASE}/submissions/{second['receipt']}", timeout=10).json()
    assert latest["version"] == 2 and latest["current"] is True
    assert {c["row"]: c["value"] for c in latest["cells"]}["DVC.02"] == 41
    replaced = api.get(f"{sim.base_url}{BASE}/submissions/{first['receipt']}", timeout=10).json()
    assert replaced["current"] is False and replaced["superseded_by"] == second["receipt"]
    listed = stored_for(api, sim, reporter)
    assert [(s["receipt"], s["version"], s["late"]) for s in listed] == [
        (first["receipt"], 1, True),
        (second["receipt"], 2, True),
    ]
    assert all("cells" not in s and s["received_at"] for s in listed)
    # Another period or template is a report of its own: the HTVT report starts at version 1.
    assert submit(api, sim, report(HTVT, reporter)).json()["version"] == 1
    by_template = api.get(f"{sim.base_url}{BASE}/submissions", params={"template": HTVT, "reporter": reporter})
    assert [s["template"] for s in by_template.json()["submissions"]] == [HTVT]
    empty_filter = api.get(f"{sim.base_url}{BASE}/submissions", params={"template": "", "reporter": reporter})
    assert [s["version"] for s in empty_filter.json()["submissions"]] == [1, 2, 1]


def test_an_optional_row_may_be_left_out_or_null_and_numbers_may_be_fractions(
    api: requests.Session, sim: Simulator, reporter: str
) -> None:
    for users in (..., None, 0, 200, 61.25):
        response = submit(api, sim, report(HTVT, reporter, cells(HTVT, HTVT_05=users)))
        assert response.status_code == 201, (users, response.text)
    without_unit = [{"row": c["row"], "column": c["column"], "value": c["value"]} for c in cells(DVC)]
    assert submit(api, sim, report(DVC, reporter, without_unit)).status_code == 201


# --- Rejections ---------------------------------------------------------------------------------------------------


ERROR_CASES = [
    (
        DVC,
        [*cells(DVC), {"row": "DVC.99", "column": "2024", "value": 1}],
        "2024",
        [("DVC.99", "2024", "unknown_row")],
    ),
    (
        DVC,
        [*cells(DVC), {"row": "DVC.01", "column": "2023", "value": 1}],
        "2024",
        [("DVC.01", "2023", "unknown_column")],
    ),
    (DVC, [*cells(DVC), cells(DVC)[1]], "2024", [("DVC.02", "2024", "duplicate_cell")]),
    (DVC, cells(DVC, DVC_04=...), "2024", [("DVC.04", "2024", "missing")]),
    (DVC, cells(DVC, DVC_04=None), "2024", [("DVC.04", "2024", "missing")]),
    (DVC, cells(DVC, DVC_02=12.5), "2024", [("DVC.02", "2024", "not_integer")]),
    (DVC, cells(DVC, DVC_02=-1), "2024", [("DVC.02", "2024", "below_min")]),
    (HTVT, cells(HTVT, HTVT_05=200.5), "2024", [("HTVT.05", "2024", "above_max")]),
    (HTVT, cells(HTVT, HTVT_05=-0.5), "2024", [("HTVT.05", "2024", "below_min")]),
    (DVC, cells(DVC, DVC_02=True), "2024", [("DVC.02", "2024", "not_a_number")]),
    (DVC, cells(DVC, DVC_02="40"), "2024", [("DVC.02", "2024", "not_a_number")]),
    (DVC, cells(DVC, DVC_01=151), "2024", [("DVC.01", "2024", "rule")]),
    (HTVT, cells(HTVT, HTVT_01=672816), "2024", [("HTVT.01", "2024", "rule")]),
    (DVC, cells(DVC), "2023", [(None, None, "wrong_period")]),
]


@pytest.mark.parametrize(
    ("template", "cell_list", "period", "expected"), ERROR_CASES, ids=[case[3][0][2] for case in ERROR_CASES]
)
def test_each_error_code_and_nothing_stored(
    api: requests.Session,
    sim: Simulator,
    reporter: str,
    template: str,
    cell_list: list[dict],
    period: str,
    expected: list[tuple],
) -> None:
    assert triples(submit(api, sim, report(template, reporter, cell_list, period))) == expected
    assert stored_for(api, sim, reporter) == []


def test_a_wrong_unit_is_named_in_both_languages(api: requests.Session, sim: Simulator, reporter: str) -> None:
    wrong = [{**c, "unit": "dịch vụ"} if c["row"] == "DVC.03" else c for c in cells(DVC)]
    response = submit(api, sim, report(DVC, reporter, wrong))
    assert triples(response) == [("DVC.03", "2024", "wrong_unit")]
    message = response.json()["errors"][0]["message"]
    assert "services" in message["vi"] and "dịch vụ" in message["en"]


def test_every_error_is_listed_at_once_in_row_column_code_order(
    api: requests.Session, sim: Simulator, reporter: str
) -> None:
    broken = [
        {"row": "HTVT.03", "column": "2024", "value": 1.5, "unit": "lines"},
        {"row": "HTVT.01", "column": "2024", "value": False},
        {"row": "HTVT.02", "column": "2024", "value": -3},
        {"row": "HTVT.02", "column": "2024", "value": 3},
        {"row": "HTVT.05", "column": "2024", "value": 250, "unit": "%"},
        {"row": "XX.01", "column": "2025", "value": 1},
    ]
    response = submit(api, sim, report(HTVT, reporter, broken, period="2024-Q4"))
    assert triples(response) == [
        (None, None, "wrong_period"),
        ("HTVT.01", "2024", "not_a_number"),
        ("HTVT.02", "2024", "below_min"),
        ("HTVT.02", "2024", "duplicate_cell"),
        ("HTVT.03", "2024", "not_integer"),
        ("HTVT.03", "2024", "wrong_unit"),
        ("HTVT.04", "2024", "missing"),
        ("HTVT.05", "2024", "above_max"),
        ("XX.01", "2025", "unknown_column"),
        ("XX.01", "2025", "unknown_row"),
    ]
    assert stored_for(api, sim, reporter) == []


def test_rejected_then_corrected_then_accepted(api: requests.Session, sim: Simulator, reporter: str) -> None:
    draft = cells(HTVT, HTVT_01=672_000, HTVT_04=None)
    assert triples(submit(api, sim, report(HTVT, reporter, draft))) == [
        ("HTVT.01", "2024", "rule"),
        ("HTVT.04", "2024", "missing"),
    ]
    corrected = submit(api, sim, report(HTVT, reporter, cells(HTVT)))
    assert corrected.status_code == 201 and corrected.json()["version"] == 1  # rejections are not versions
    assert [s["receipt"] for s in stored_for(api, sim, reporter)] == [corrected.json()["receipt"]]


def test_cross_cell_rules_name_the_rule_and_both_sides(api: requests.Session, sim: Simulator, reporter: str) -> None:
    total = submit(api, sim, report(HTVT, reporter, cells(HTVT, HTVT_01=672816)))
    message = total.json()["errors"][0]["message"]
    for text in message.values():
        assert "R1" in text and "672816" in text and "672815" in text and "HTVT.02 + HTVT.03" in text
    portal = submit(api, sim, report(DVC, reporter, cells(DVC, DVC_01=200, DVC_03=150)))
    assert triples(portal) == [("DVC.01", "2024", "rule")]
    assert all("200" in text and "150" in text for text in portal.json()["errors"][0]["message"].values())
    equal = submit(api, sim, report(DVC, reporter, cells(DVC, DVC_01=150, DVC_03=150)))
    assert equal.status_code == 201  # ≤, not <
    # A rule is only checked when all its cells hold valid numbers: here the bad cell is the only error.
    assert triples(submit(api, sim, report(HTVT, reporter, cells(HTVT, HTVT_02=-1)))) == [
        ("HTVT.02", "2024", "below_min")
    ]
    assert triples(submit(api, sim, report(HTVT, reporter, cells(HTVT, HTVT_03=...)))) == [
        ("HTVT.03", "2024", "missing")
    ]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b"{not json", "JSON"),
        (json.dumps(report(DVC, "x", cells(DVC, DVC_01=float("nan")))).encode(), "JSON"),
        (json.dumps(report(DVC, "x", cells(DVC, DVC_01=float("inf")))).encode(), "JSON"),
        (b"[]", "object"),
        (json.dumps({"template": DVC, "period": "2024", "cells": []}).encode(), "reporter"),
        (json.dumps({**report(DVC, "x"), "cells": {"DVC.01": 1}}).encode(), "cells"),
        (json.dumps({**report(DVC, "x"), "template": 7}).encode(), "template"),
        (json.dumps({**report(DVC, "x"), "reporter": " "}).encode(), "reporter"),
        (json.dumps({**report(DVC, "x"), "signed_by": "A"}).encode(), "signed_by"),
        (json.dumps(report(DVC, "x", [{"row": 1, "column": "2024", "value": 1}])).encode(), "cells[0].row"),
        (json.dumps(report(DVC, "x", [{"row": "DVC.01", "value": 1}])).encode(), "column"),
        (json.dumps(report(DVC, "x", [{"row": "DVC.01", "column": "2024", "vaule": 1}])).encode(), "vaule"),
        (json.dumps(report(DVC, "x", [{"row": "DVC.01", "column": "2024", "unit": 3}])).encode(), "unit"),
        (json.dumps(report(DVC, "x", ["DVC.01"])).encode(), "cells[0]"),
    ],
)
def test_a_malformed_body_is_a_400(api: requests.Session, sim: Simulator, body: bytes, mentions: str) -> None:
    response = api.post(sim.base_url + BASE + "/submissions", data=body, timeout=10)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert set(answer) == {"error", "detail"} and answer["error"] == "invalid_request"
    assert mentions in answer["detail"] and " / " in answer["detail"]


def test_unknown_templates_and_receipts_are_404(api: requests.Session, sim: Simulator, reporter: str) -> None:
    for response in (
        api.get(f"{sim.base_url}{BASE}/templates/BCCDS-XYZ-2024", timeout=10),
        submit(api, sim, {**report(DVC, reporter), "template": "BCCDS-XYZ-2024"}),
    ):
        assert response.status_code == 404 and response.json()["error"] == "unknown_template"
        assert "BCCDS-XYZ-2024" in response.json()["detail"]
    missing = api.get(f"{sim.base_url}{BASE}/submissions/{DVC}-999999", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_receipt"
    assert stored_for(api, sim, reporter) == []


# --- Faults, rate limits and the deadline -------------------------------------------------------------------------


def test_faults_reach_the_reporting_routes(api: requests.Session, sim: Simulator) -> None:
    sim.set_faults({"kind": "503", "path": BASE, "retry_after": 4})
    refused = api.get(sim.base_url + BASE + "/templates", timeout=10)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "4"
    assert api.get(sim.base_url + BASE + "/templates", timeout=10).status_code == 200


def test_on_time_before_a_moved_deadline_and_the_rate_limit_applies() -> None:
    with Simulator(enterprises=50, documents=10, rate_limit=2, reporting_deadline=date(2099, 12, 31)) as live:
        with requests.Session() as client:
            client.trust_env = False
            client.headers["Authorization"] = f"Bearer {live.token()}"
            accepted = submit(client, live, report(DVC, "on time"))
            assert accepted.status_code == 201 and accepted.json()["late"] is False
            assert "muộn" not in accepted.json()["message"]["vi"]
            answers = [client.get(live.base_url + BASE + "/templates", timeout=10) for _ in range(6)]
            assert answers[0].json()["templates"][0]["deadline"] == "2099-12-31"
            limited = [a for a in answers if a.status_code == 429]
            assert limited and int(limited[0].headers["Retry-After"]) >= 1


def test_late_means_after_the_end_of_the_deadline_day_in_vietnam() -> None:
    template, body = TEMPLATES[0], report(DVC, "clock")
    store, vietnam = Submissions(), timezone(timedelta(hours=7))
    last_minute = store.accept(template, body, datetime(2025, 1, 15, 23, 59, 59, tzinfo=vietnam))
    midnight_after_in_utc = store.accept(template, body, datetime(2025, 1, 15, 17, 0, tzinfo=UTC))
    a_minute_before_in_utc = store.accept(template, body, datetime(2025, 1, 15, 16, 59, tzinfo=UTC))
    assert (last_minute["late"], midnight_after_in_utc["late"], a_minute_before_in_utc["late"]) == (False, True, False)
    assert [s["version"] for s in store.by_receipt.values()] == [1, 2, 3]
    assert midnight_after_in_utc["received_at"] == "2025-01-16T00:00:00.000+07:00"
