"""Correction sheets (issue 13): a dirty file's quarantined rows are downloaded as an XLSX sheet
with their values as typed, their reasons and refs; the department fixes the cells and sends
the sheet back; only those rows are read again, the rows they correct are resolved, and every
row stays accounted for (rows = published + quarantined + rejected + superseded)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.datavalidation import DataValidation
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, FileSource
from lgsp.schemas.loader import find_contract
from lgsp.submissions import correction_sheet, corrections, inbox, ledger
from lgsp.submissions.archive import Archive
from lgsp.submissions.corrections import REASON, REF, OpenRow
from lgsp.submissions.ledger import Channel, Submission
from lgsp.submissions.template import INSTRUCTIONS, template
from lgsp.warehouse.store import Warehouse
from tests.conftest import warehouse_rows
from tests.connectors.test_files import PRICES
from tests.submissions.test_battery import HEADER, ROWS, Dept
from tests.submissions.test_template import EVERY_TYPE

PUBLISHED_BEFORE = {
    "G01": (15500.0, 1305471, None),
    "G06": (8000.0, 12, None),
}
DIRTY = [
    HEADER,
    ROWS[1],  # G01, good
    ["G02", "Thịt lợn hơi", "Xã Hải Lăng", "gần 15.000", "hơn 2.000", "06/03/2024"],  # a qualifier, no column for it
    ["G03", "Cá nục", "Đặc khu Cồn Cỏ", "C", "gần 14", "07/03/2024"],  # not a number
    ["G04", "Nước mắm Cửa Tùng", "Xã Vĩnh Linh", "45.000", "10-15", "08/03/2024"],  # a range
    ["G05", "Muối", "Xã Gio Linh", "45000", "20", "32/13/2024"],  # not a date
    ["G06", "Đường", "Xã Cam Lộ", "8.000", "12", "09/03/2024"],  # good
]
FIXES = {  # ref of the first file's line → column header → the corrected cell
    "1:3": {"Giá (đồng)": "15.000"},
    "1:4": {"Giá (đồng)": 96.5},
    "1:5": {"Số lượng": 12},
    "1:6": {"Ngày": "05/03/2024"},
}


@pytest.fixture
def dept(hub: Settings, contracts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dept:
    folder = tmp_path / "inbox" / "stc"
    folder.mkdir(parents=True)
    monkeypatch.setenv("LGSP_CONN_PRICE_INBOX", str(folder))
    d = Dept(Settings.from_env(), folder, contracts_dir)
    d.contract()
    return d


def dirty(dept: Dept) -> Submission:
    """The dirty file, sent and run: G01 and G06 published, the other four quarantined."""
    dept.drop("gia.csv", DIRTY)
    run, (submission,) = dept.run(expected_exit=0)
    assert (run.rows_published, run.rows_quarantined) == (2, 4)
    assert published(dept) == PUBLISHED_BEFORE
    return submission


def published(dept: Dept) -> dict[str, tuple[Any, ...]]:
    return {k: v for k, v in dept.published().items()}


def sheet_of(dept: Dept, *args: str) -> bytes:
    out = dept.inbox.parent / "sua_loi.xlsx"
    result = CliRunner().invoke(app, ["submissions", "corrections", *args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def cells(data: bytes) -> tuple[list[Any], list[list[Any]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    return rows[0], rows[1:]


def fixed(data: bytes, fixes: dict[str, dict[str, Any]], edit: Any = None) -> bytes:
    """The sheet as the department sends it back: the cells of `fixes` (by ref and header) changed."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for name, value in fixes.get(str(row[header.index(REF)].value), {}).items():
            row[header.index(name)].value = value
    if edit is not None:
        edit(sheet, header)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def open_refs(dept: Dept, submission_id: int | None = None) -> list[OpenRow]:
    with Warehouse(dept.hub).reader() as con:
        return corrections.open_rows(con, "market_prices", submission_id)


def test_the_sheet_holds_the_open_rows_as_typed_with_reasons_and_refs(dept: Dept) -> None:
    submission = dirty(dept)
    data = sheet_of(dept, str(submission.id))
    header, rows = cells(data)
    assert header == [*HEADER, REASON, REF]
    by_ref = {r[-1]: r for r in rows}
    assert list(by_ref) == ["1:3", "1:4", "1:5", "1:6"]  # exactly the quarantined rows, in file order
    # values as typed: the qualifier back in front of its number, dates and numbers as written
    assert by_ref["1:3"][:6] == ["G02", "Thịt lợn hơi", "Xã Hải Lăng", "gần 15.000", "hơn 2.000", "06/03/2024"]
    assert by_ref["1:4"][3:5] == ["C", "gần 14"]
    assert by_ref["1:5"][3:5] == ["45.000", "10-15"]
    # a value the hub read exactly goes back as that value (45000, not the warehouse's '45000.0')
    assert by_ref["1:6"][3:6] == [45000, 20, "32/13/2024"]
    assert "the contract has no column for it (qualifier_of)" in by_ref["1:3"][6]
    assert "'C' không phải là số / is not a number" in by_ref["1:4"][6]
    assert "is a range, not one number" in by_ref["1:5"][6]
    assert "is not a valid date for ngay" in by_ref["1:6"][6]

    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    reason, ref = sheet.cell(1, 7), sheet.cell(1, 8)
    assert reason.fill.fgColor.rgb.endswith(correction_sheet.READ_ONLY) and ref.fill.fgColor.rgb.endswith("D9D9D9")
    assert "Read-only" in (reason.comment.text if reason.comment else "")
    assert "do not edit or delete" in (ref.comment.text if ref.comment else "")
    assert sheet.cell(2, 8).fill.fgColor.rgb.endswith("D9D9D9")
    red = {
        (c.row, c.column)
        for row in sheet.iter_rows(min_row=2, max_col=6)
        for c in row
        if c.fill.fgColor.rgb.endswith(correction_sheet.PROBLEM)
    }
    assert red == {(2, 4), (3, 4), (4, 5), (5, 6)}  # the cells at fault, and only those
    assert "is not a number" in (sheet.cell(3, 4).comment.text if sheet.cell(3, 4).comment else "")
    assert book.sheetnames == ["market_prices", INSTRUCTIONS]
    instructions = " ".join(str(c.value) for c in book[INSTRUCTIONS]["A"])
    assert (
        "Không sửa, không xoá cột 'Mã dòng / Row ref'" in instructions
        and "submission 1 not yet corrected: 4" in instructions
    )


def test_a_fixed_sheet_publishes_only_its_rows_and_resolves_them(dept: Dept) -> None:
    submission = dirty(dept)
    dept.drop("gia_sua_loi.xlsx", fixed(sheet_of(dept, str(submission.id)), FIXES))
    run, (correction,) = dept.run(expected_exit=0)
    assert (run.status, run.rows_published, run.rows_quarantined, run.rows_rejected) == ("published", 4, 0, 0)
    assert correction.status == "published" and correction.rows_total == correction.rows_published == 4
    assert correction.info["correction"] == {"read": 4, "refused": 0}
    now = published(dept)
    assert {k: now[k] for k in PUBLISHED_BEFORE} == PUBLISHED_BEFORE  # the good rows are untouched
    assert now["G02"] == (15000.0, 2000, "more_than")  # the qualifier went to its column, as before
    assert (now["G03"][0], now["G04"][1]) == (96.5, 12)
    assert warehouse_rows(
        dept.hub, "SELECT CAST(ngay AS VARCHAR) FROM main.market_prices WHERE ma_mat_hang = 'G05'"
    ) == [("2024-03-05",)]
    resolved = warehouse_rows(
        dept.hub,
        "SELECT _lgsp_origin, _resolved_by, _resolved_as, _resolved_at IS NOT NULL FROM quarantine.market_prices ORDER BY _row",
    )
    assert resolved == [(f"gia.csv:{n}", correction.id, f"{correction.id}:{n - 1}", True) for n in (3, 4, 5, 6)]
    assert open_refs(dept) == []
    with Warehouse(dept.hub).reader() as con:
        first = ledger.get(con, submission.id)
    assert first is not None and first.status == "partial" and first.rows_quarantined == 4  # history stays
    assert f"corrected by submission {correction.id}" in dept.receipt(first)
    assert "Correction sheet: 4 rows correct quarantined rows, 0 rows not read" in dept.receipt(correction)
    nothing = CliRunner().invoke(app, ["submissions", "corrections", "--dataset", "market_prices", "-o", "x.xlsx"])
    assert nothing.exit_code == 1 and "nothing written" in nothing.output


def test_a_row_still_wrong_stays_open_with_its_new_reason(dept: Dept) -> None:
    submission = dirty(dept)
    still = {**FIXES, "1:4": {"Giá (đồng)": "khoảng 96"}}  # still inexact
    data = fixed(sheet_of(dept, str(submission.id)), still)
    hub = dept.hub
    uploaded = inbox.receive_bytes(
        Warehouse(hub), Archive(hub), dataset_id="market_prices", name="sua.xlsx", data=data,
        sender="staff:stc.lan", channel=Channel.CORRECTION, corrects=submission.id,
    )  # fmt: skip
    run, (correction,) = dept.run(expected_exit=0)
    assert correction.id == uploaded.id and correction.status == "partial"
    assert (correction.rows_total, correction.rows_published, correction.rows_quarantined) == (4, 3, 1)
    assert run.rows_published == 3 and run.rows_quarantined == 1
    (row,) = open_refs(dept)
    assert (row.ref, row.submission_id, row.values["gia"]) == (f"{correction.id}:3", correction.id, "khoảng 96")
    assert "the contract has no column for it (qualifier_of)" in row.reasons
    # the old entry is resolved by the correction and names its successor, the new open entry
    assert warehouse_rows(
        hub, "SELECT _resolved_by, _resolved_as FROM quarantine.market_prices WHERE _lgsp_origin = 'gia.csv:4'"
    ) == [(correction.id, row.ref)]
    assert "G03" not in published(dept)
    # the next sheet, of the whole dataset, holds just that row; fixed, it closes the last one
    _, rows = cells(sheet_of(dept, "--dataset", "market_prices"))
    assert [r[-1] for r in rows] == [row.ref] and rows[0][3] == "khoảng 96"
    dept.drop(
        "gia_sua_lan_2.xlsx", fixed(sheet_of(dept, "--dataset", "market_prices"), {row.ref: {"Giá (đồng)": "96,5"}})
    )
    dept.run(expected_exit=0)
    assert published(dept)["G03"][0] == 96.5 and open_refs(dept) == []


def test_rows_without_a_valid_ref_are_not_read_and_said_why(dept: Dept) -> None:
    submission = dirty(dept)

    def edit(sheet: Any, header: list[Any]) -> None:
        at = header.index(REF) + 1
        sheet.cell(3, at).value = "abc"  # 1:4 edited
        sheet.cell(4, at).value = "1:99"  # 1:5 pointed at nothing
        sheet.cell(5, at).value = None  # 1:6 wiped
        sheet.append(["G07", "Tiêu", "Xã A", "70.000", "1", "10/03/2024"])  # a new row, no ref

    sent = fixed(sheet_of(dept, str(submission.id)), FIXES, edit)
    dept.drop("gia_sua.xlsx", sent)
    run, (correction,) = dept.run(expected_exit=0)
    assert (correction.status, correction.rows_total, correction.rows_published, correction.rows_rejected) == (
        "partial", 5, 1, 4,
    )  # fmt: skip
    assert run.rows_published == 1 and run.rows_rejected == 4
    text = dept.receipt(correction)
    assert "dòng / row 3: mã dòng 'abc' không hợp lệ" in text and "(was it edited?)" in text
    assert "dòng / row 4: không có dòng bị cách ly nào mang mã '1:99'" in text
    assert "dòng / row 5: không có mã dòng" in text and "dòng / row 6: không có mã dòng" in text
    assert set(published(dept)) == {"G01", "G02", "G06"}
    assert [r.ref for r in open_refs(dept)] == ["1:4", "1:5", "1:6"]  # still waiting

    # the same sheet again: its one row with a good ref was corrected already
    dept.drop("gia_sua.xlsx", sent)
    _, (again,) = dept.run(expected_exit=1)
    assert again.status == "rejected" and again.rows_rejected == 5 and again.same_as == correction.id
    assert f"row '1:3' was already corrected by submission {correction.id}" in dept.receipt(again)


def test_a_sheet_whose_ref_column_was_deleted_is_refused_whole(dept: Dept) -> None:
    submission = dirty(dept)

    def drop_ref(sheet: Any, header: list[Any]) -> None:
        sheet.delete_cols(header.index(REF) + 1)

    dept.drop("gia_sua.xlsx", fixed(sheet_of(dept, str(submission.id)), FIXES, drop_ref))
    run, (correction,) = dept.run(expected_exit=1)
    assert run.status == "rejected" and correction.status == "rejected" and correction.rows_rejected == 4
    assert "the correction sheet's 'Mã dòng / Row ref' column is missing" in dept.receipt(correction)
    assert len(open_refs(dept)) == 4 and published(dept) == PUBLISHED_BEFORE


def test_a_correction_upload_without_the_ref_column_is_refused_whole(dept: Dept) -> None:
    submission = dirty(dept)

    def strip(sheet: Any, header: list[Any]) -> None:
        sheet.delete_cols(header.index(REASON) + 1, 2)  # an ordinary-looking file, sent as a correction

    data = fixed(sheet_of(dept, str(submission.id)), FIXES, strip)
    inbox.receive_bytes(
        Warehouse(dept.hub), Archive(dept.hub), dataset_id="market_prices", name="sua.xlsx", data=data,
        sender="staff:stc.lan", channel=Channel.CORRECTION, corrects=submission.id,
    )  # fmt: skip
    _, (correction,) = dept.run(expected_exit=1)
    assert "column is missing" in dept.receipt(correction) and len(open_refs(dept)) == 4


@pytest.mark.parametrize("drift", ["freeze", "evolve"])
def test_the_sheets_own_columns_are_not_undeclared_columns(dept: Dept, drift: str) -> None:
    dept.contract(source={**PRICES["source"], "schema_drift": drift})
    submission = dirty(dept)
    dept.drop("gia_sua.xlsx", fixed(sheet_of(dept, str(submission.id)), FIXES))
    run, (correction,) = dept.run(expected_exit=0)
    assert correction.status == "published" and run.rows_published == 4
    assert correction.info["unknown_columns"] == []
    if drift == "evolve":
        assert warehouse_rows(dept.hub, "SELECT DISTINCT _lgsp_extra FROM main.market_prices") == [(None,)]


def test_a_dataset_each_file_replaces_takes_corrections_as_additions(dept: Dept) -> None:
    dept.contract(refresh={"mode": "replace"})
    submission = dirty(dept)
    dept.drop("gia_sua.xlsx", fixed(sheet_of(dept, str(submission.id)), FIXES))
    run, _ = dept.run(expected_exit=0)
    assert run.status == "published" and len(published(dept)) == 6  # not 4, and not held


def test_rows_of_a_run_discarded_on_review_no_longer_wait(dept: Dept) -> None:
    dept.contract(refresh={"mode": "replace"})
    dept.drop("day_du.csv", ROWS)
    dept.run(expected_exit=0)
    dept.drop("hai_dong.csv", [HEADER, DIRTY[1], DIRTY[3]])  # 1 of 4 rows left: held, one row quarantined
    run, _ = dept.run(expected_exit=3)
    assert run.status == "held" and [r.ref for r in open_refs(dept)] == ["2:3"]
    assert CliRunner().invoke(app, ["review", "market_prices", run.run_id, "--discard"]).exit_code == 0
    assert open_refs(dept) == []  # the file is to be sent again, not corrected


def test_the_sheet_is_the_same_bytes_for_the_same_rows(dept: Dept) -> None:
    submission = dirty(dept)
    first = sheet_of(dept, str(submission.id))
    assert sheet_of(dept, str(submission.id)) == first
    with Warehouse(dept.hub).reader() as con:
        contract = find_contract(dept.contracts, "market_prices")
        assert correction_sheet.correction_sheet(con, contract, submission_id=submission.id) == first
        assert correction_sheet.correction_sheet(con, contract) != first  # another scope, said on the second sheet


def _validations(data: bytes) -> list[tuple[Any, ...]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    found: list[DataValidation] = sheet.data_validations.dataValidation
    return sorted((str(v.sqref), v.type, v.formula1, v.formula2, v.allow_blank, v.errorStyle) for v in found)


@pytest.mark.parametrize("contract", [EVERY_TYPE, Contract.model_validate(PRICES)], ids=["every_type", "prices"])
def test_the_sheet_validates_like_the_template(contract: Contract) -> None:
    sheet = correction_sheet.workbook(contract, [])
    assert _validations(sheet) == _validations(template(contract))
    book = openpyxl.load_workbook(io.BytesIO(sheet))
    assert isinstance(contract.source, FileSource)
    titles = [c.value for c in book.worksheets[0][contract.source.header_row]]
    assert titles[-2:] == [REASON, REF] and book.worksheets[0].title == (contract.source.sheet or contract.id)


def test_the_cli_takes_one_submission_or_a_dataset(dept: Dept) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["submissions", "corrections", "-o", "x.xlsx"]).exit_code == 2
    assert runner.invoke(app, ["submissions", "corrections", "7", "-o", "x.xlsx"]).exit_code == 1
    dirty(dept)
    header, rows = cells(sheet_of(dept, "--dataset", "market_prices"))
    assert len(rows) == 4 and header[-1] == REF
    assert correction_sheet.file_name(find_contract(dept.contracts, "market_prices"), 1) == "sua_loi_1.xlsx"
