"""Reports: the demo province's appendix tables built from two departments' file drops, every
cell traced to its observations, the planted conflict disputed until the owning office resolves
it, the same numbers in HTML, XLSX and PDF, and the round trip through the reporting simulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pypdf
import pytest
import yaml
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.reports.html import document_html, document_pdf, number
from lgsp.reports.run import build_reports, current
from lgsp.reports.versions import folder, versions
from lgsp.reports.workbook import workbook_bytes
from lgsp.schemas.reports import load_reports
from lgsp.submissions import ledger
from lgsp.submissions.archive import Archive
from lgsp.warehouse.store import Warehouse

SENT = "online_public_services"
RESOLVE = ["indicators", "resolve", "DVCTT_TOAN_TRINH_QG", "Quảng Trị", "2024"]


@pytest.fixture
def province(hub: Settings) -> Settings:
    """The hub with both departments' drops published: the ICT department's and the office's."""
    for dataset in ("ict_indicators", "online_public_services"):
        run = Pipeline(hub).run(dataset)
        assert run.status in ("published", "partial"), run.error
    return hub


def lgsp(*args: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == exit_code, result.output
    return result.output


def office_source(hub: Settings) -> str:
    conflicts = json.loads(lgsp("indicators", "conflicts", "DVCTT_TOAN_TRINH_QG", "--json"))
    assert len(conflicts) == 1
    office = next(o for o in conflicts[0]["observations"] if o["dataset"] == "online_public_services")
    return f"online_public_services:{office['submission']}"


def resolve_for_the_office(hub: Settings) -> None:
    source = office_source(hub)
    lgsp(*RESOLVE, "--value", "781", "--source", source, "--why", "đếm trên hệ thống", "--by", "staff:vpubnd")


def test_the_shipped_reports_load_and_pass_check(hub: Settings) -> None:
    assert set(load_reports(hub.report_templates_dir)) == {SENT, "ict_infrastructure", "digital_transformation"}
    output = lgsp("check")
    assert "schemas/reports/online_public_services.yaml" in output


def test_every_cell_traces_to_observations_in_the_files_sent(province: Settings) -> None:
    built = {b.report.code: b for b in current(province, list(load_reports(province.report_templates_dir).values()))}
    archive = Archive(province)
    traced = 0
    with Warehouse(province).reader() as con:
        for report in built.values():
            for line, cell in report.cells:
                assert cell.status != "missing", (report.report.code, line.indicator)
                assert cell.traces, (report.report.code, line.indicator)
                for trace in cell.traces:
                    submission = ledger.get(con, trace.submission)
                    assert submission is not None and trace.origin is not None
                    name, row = trace.origin.rsplit(":", 1)
                    assert name == submission.name
                    if name.endswith(".csv"):  # the line of the file as sent holds the value as typed
                        data = archive.get(submission.sha256)
                        text = data.decode("utf-8-sig") if name.startswith("dvc_") else data.decode("cp1258")
                        typed = text.splitlines()[int(row) - 1]
                        assert number(trace.value) in typed or f"{trace.value:g}" in typed, (trace, typed)
                    traced += 1
    assert traced >= 22
    publishers = {t.publisher for _, c in built[SENT].cells for t in c.traces}
    assert publishers == {"SKHCN", "VPUBND"}


def test_the_planted_conflict_is_disputed_until_resolved_and_the_next_version_has_the_value(province: Settings) -> None:
    first = {o.report.code: o for o in build_reports(province)}
    sent = first[SENT]
    assert (sent.version.version, sent.version.disputed, sent.new) == (1, 1, True)
    cell = next(c for line, c in sent.built.cells if line.indicator == "DVCTT_TOAN_TRINH_QG")
    assert cell.status == "disputed" and cell.value is None
    assert sorted(t.converted for t in cell.traces) == [777, 781]
    html = (folder(province.home, SENT) / "1" / "report.html").read_text("utf-8")
    assert 'data-status="disputed"' in html and "777 (SKHCN)" in html and "781 (VPUBND)" in html
    assert first["ict_infrastructure"].version.disputed == 0
    assert build_reports(province, [SENT])[0].new is False  # same numbers: no new version

    resolve_for_the_office(province)
    again = build_reports(province, [SENT])[0]
    assert (again.version.version, again.version.disputed, again.new) == (2, 0, True)
    cell = next(c for line, c in again.built.cells if line.indicator == "DVCTT_TOAN_TRINH_QG")
    assert (cell.status, cell.value) == ("resolved", 781)
    assert cell.resolution is not None and cell.resolution["by"] == "staff:vpubnd"
    assert [v.version for v in versions(province.home, SENT)] == [1, 2]
    assert (folder(province.home, SENT) / "1" / "report.html").read_text("utf-8") == html  # versions stay


def _html_numbers(html: str) -> dict[str, str]:
    """Cell id → the text shown in it (the number as printed, or the disputed/missing words)."""
    cells = re.findall(r'<td class="value [a-z]+" id="cell-([A-Z0-9_]+)-([^"]+)"[^>]*>(.*?)</td>', html, re.S)
    return {f"{row}/{column}": re.sub(r"<sup>.*?</sup>|<[^>]+>", " ", text).split()[0] for row, column, text in cells}


def test_the_workbook_has_the_numbers_of_the_html_and_the_pdf(province: Settings) -> None:
    resolve_for_the_office(province)
    outcome = build_reports(province, [SENT])[0]
    base = folder(province.home, SENT) / str(outcome.version.version)
    shown = _html_numbers((base / "report.html").read_text("utf-8"))
    book = openpyxl.load_workbook(base / "report.xlsx")
    sheet = book["Báo cáo"]
    in_book = {}
    for row in sheet.iter_rows(min_row=5):
        code = str(row[1].value or "").split("\n")[-1]
        if row[3].value is not None:
            in_book[f"{code}/2024"] = row[3].value
            assert row[3].comment is not None and "dvc_quang_tri_2024.csv" in row[3].comment.text
    assert set(in_book) == set(shown) and len(shown) == 5
    for key, value in in_book.items():
        assert number(value) == shown[key], key
    sources = list(book["Nguồn số liệu"].iter_rows(min_row=2, values_only=True))
    assert len(sources) == 12  # two observations behind each reported cell, four behind the computed share
    text = "".join(page.extract_text() for page in pypdf.PdfReader(base / "report.pdf").pages)
    for value in shown.values():
        assert value in text
    assert "Số dịch vụ công trực tuyến toàn trình" in text


def test_the_same_numbers_give_the_same_bytes(province: Settings) -> None:
    report = load_reports(province.report_templates_dir)[SENT]
    one, two = current(province, [report, report])
    assert document_html(one) == document_html(two)
    assert workbook_bytes(one) == workbook_bytes(two)
    assert document_pdf(one) == document_pdf(two)
    assert one.checksum == two.checksum


def test_submitted_refused_for_the_disputed_cell_then_accepted(province: Settings, national: Any) -> None:
    assert "not built yet: lgsp report build" in lgsp("report", "submit", SENT, exit_code=1)
    assert "version 1 new version" in lgsp("report", "build", SENT)
    refused = CliRunner().invoke(app, ["report", "submit", SENT])
    assert refused.exit_code == 1, refused.output
    assert "DVC.01/2024 (DVCTT_TOAN_TRINH_QG): missing" in refused.output
    resolve_for_the_office(province)
    assert "version 2 new version" in lgsp("report", "build", SENT)
    accepted = lgsp("report", "submit", SENT)
    assert "accepted by BCCDS-DVC-2024, receipt BCCDS-DVC-2024-" in accepted and "late" in accepted
    sent = json.loads(lgsp("report", "sent", SENT, "--json"))
    assert [(s["version"], s["status"]) for s in sent] == [(1, "rejected"), (2, "accepted")]
    assert sent[0]["errors"][0]["indicator"] == "DVCTT_TOAN_TRINH_QG"
    stored = _stored(national, sent[1]["receipt"])  # what the reporting system keeps: the resolved value
    assert {c["row"]: c["value"] for c in stored["cells"]} == {
        "DVC.01": 781,
        "DVC.02": 207,
        "DVC.03": 1197,
        "DVC.04": 562,
    }


def _stored(national: Any, receipt: str) -> dict[str, Any]:
    import httpx

    token = httpx.post(
        f"{national.base_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(national.client_id, national.client_secret),
    ).json()["access_token"]
    answer = httpx.get(
        f"{national.base_url}/reporting/v1/submissions/{receipt}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_report_that_does_not_fit_the_register_is_refused_naming_the_field(
    hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder_ = tmp_path / "reports"
    folder_.mkdir()
    data = yaml.safe_load((hub.report_templates_dir / f"{SENT}.yaml").read_text("utf-8"))
    data["rows"][1]["indicator"] = "KHONG_CO"
    (folder_ / f"{SENT}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    data["code"] = "other"
    data["rows"][1] = {"number": "1.1", "indicator": "DVCTT_TOAN_TRINH_QG", "heading": {"vi": "x", "en": "x"}}
    (folder_ / "other.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    monkeypatch.setenv("LGSP_REPORT_TEMPLATES", str(folder_))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    assert f"{folder_ / SENT}.yaml: rows[1].indicator: 'KHONG_CO' is not in the indicator register" in result.output
    assert f"{folder_ / 'other'}.yaml: rows[1]: a row has either an indicator or a heading" in result.output
    assert "không có chỉ tiêu / no indicator 'KHONG_CO'" in lgsp("report", "build", SENT, exit_code=1)
    assert "no report 'nope'" in lgsp("report", "show", "nope", exit_code=1)


def test_a_computed_indicator_is_traced_to_what_its_formula_reads(province: Settings) -> None:
    report = load_reports(province.report_templates_dir)[SENT]
    built = current(province, [report])[0]
    line, cell = next((line, c) for line, c in built.cells if line.indicator == "TY_LE_DVCTT_TOAN_TRINH")
    assert line.formula == "DVCTT_TOAN_TRINH_TINH / (DVCTT_TOAN_TRINH_TINH + DVCTT_MOT_PHAN_TINH) * 100"
    assert cell.status == "computed" and cell.value == pytest.approx(1197 / (1197 + 562) * 100)
    assert sorted({t.indicator for t in cell.traces}) == ["DVCTT_MOT_PHAN_TINH", "DVCTT_TOAN_TRINH_TINH"]
    assert {t.origin for t in cell.traces} >= {"dvc_quang_tri_2024.csv:4", "dvc_quang_tri_2024.csv:5"}
    assert "68,05" in document_html(built) and "tính theo công thức" in document_html(built)
