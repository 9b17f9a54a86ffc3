"""The owning department resolves a conflict on its pages: the office (VPUBND) sees the two values
of full online services with their files and lines, picks its own, and the report's next version
has it; the ICT department (not the owner) neither sees nor may resolve it."""

from __future__ import annotations

import re

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.reports.run import build_reports
from tests.departments.test_pages import logged_in

CODE = "DVCTT_TOAN_TRINH_QG"


def test_the_owner_picks_a_value_and_the_next_report_version_has_it(hub: Settings) -> None:
    for dataset in ("ict_indicators", "online_public_services"):
        assert Pipeline(hub).run(dataset).status in ("published", "partial")
    assert build_reports(hub, ["online_public_services"])[0].version.disputed == 1
    office = logged_in(hub, "vpubnd.ha", "VPUBND")
    page = office.get("/department/conflicts")
    assert page.status_code == 200 and 'data-status="disputed"' in page.text
    assert "chi_tieu_quang_tri_2024.csv:48" in page.text and "dvc_quang_tri_2024.csv:2" in page.text
    listed = office.get("/department/conflicts", params={"format": "json"}).json()["conflicts"]
    assert [(c["indicator"], c["area"], c["period"], c["status"]) for c in listed] == [
        (CODE, "Quảng Trị", "2024", "disputed")
    ]
    sources = re.findall(r'name="source" value="([^"]+)"', page.text)
    office_source = next(s for s in sources if s.startswith("online_public_services:"))
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    key = f"{CODE}|Quảng Trị|2024"

    refused = office.post(
        "/department/conflicts/resolve", data={"csrf": csrf, "conflict": key, "source": office_source}
    )  # followed: the conflicts page, with why it was refused
    assert "why is required" in refused.text and 'data-status="disputed"' in refused.text
    expired = office.post(
        "/department/conflicts/resolve", data={"csrf": "stale", "conflict": key, "source": office_source, "why": "x"}
    )
    assert "the form expired" in expired.text and 'data-status="disputed"' in expired.text
    done = office.post(
        "/department/conflicts/resolve",
        data={"csrf": csrf, "conflict": key, "source": office_source, "why": "đếm trên hệ thống"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "message=" in done.headers["location"]
    listed = office.get("/department/conflicts", params={"format": "json"}).json()["conflicts"]
    assert listed[0]["status"] == "resolved" and listed[0]["resolution"]["by"] == "staff:vpubnd.ha"
    again = build_reports(hub, ["online_public_services"])[0]
    assert (again.version.version, again.version.disputed) == (2, 0)
    cell = next(c for line, c in again.built.cells if line.indicator == CODE)
    assert (cell.status, cell.value) == ("resolved", 781)

    ict = logged_in(hub, "skhcn.minh", "SKHCN")
    assert ict.get("/department/conflicts", params={"format": "json"}).json()["conflicts"] == []
    page = ict.get("/department/conflicts")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    taken = ict.post(
        "/department/conflicts/resolve",
        data={"csrf": csrf, "conflict": key, "explain": "777 là đúng", "why": "x"},
        follow_redirects=False,
    )
    assert taken.status_code == 303
    assert "only the owning department may resolve" in ict.get(taken.headers["location"]).text
    listed = office.get("/department/conflicts", params={"format": "json"}).json()["conflicts"]
    assert listed[0]["resolution"]["by"] == "staff:vpubnd.ha"  # unchanged
