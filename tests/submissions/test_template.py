"""The submission template: it opens in openpyxl with its header, notes and validations, and a
template filled in with valid rows is read back by the hub's own file reader, every value as it
was typed, and published by the real pipeline."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.datavalidation import DataValidation

from lgsp.connectors.files.config import configure
from lgsp.connectors.files.reading import FileReader
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.schemas.contract import Column, ColumnType, Contract
from lgsp.schemas.loader import load_contracts
from lgsp.submissions.template import INSTRUCTIONS, header, header_columns, required, template
from tests.conftest import CONTRACTS, warehouse_rows

EXAMPLES = load_contracts(CONTRACTS)
FILE_DROPS = sorted(k for k, c in EXAMPLES.items() if c.source.kind == "files")
ROWS = 4

EVERY_TYPE = Contract.model_validate(
    {
        "id": "facility_survey",
        "title": {"vi": "Khảo sát cơ sở", "en": "Facility survey"},
        "description": {"vi": "Mỗi loại cột một lần.", "en": "Every kind of column once."},
        "publisher": {
            "code": "SYT",
            "name": {"vi": "Sở Y tế", "en": "Department of Health"},
        },
        "source": {"kind": "files", "connection": "syt_inbox", "sheet": "Dữ liệu", "header_row": 3},
        "primary_key": ["ma_co_so"],
        "columns": [
            {"name": "ma_co_so", "type": "string", "source": "Mã cơ sở", "description": {"vi": "Mã", "en": "Code"}},
            {"name": "ten", "type": "string", "source": "Tên cơ sở", "nullable": False,
             "description": {"vi": "Tên", "en": "Name"}},
            {"name": "loai", "type": "string", "source": "Loại", "description": {"vi": "Loại", "en": "Kind"}},
            {"name": "giuong", "type": "integer", "source": "Số giường", "unit": "giường",
             "description": {"vi": "Số giường bệnh", "en": "Hospital beds"}},
            {"name": "kinh_phi", "type": "number", "source": "Kinh phí", "unit": "tỷ đồng",
             "description": {"vi": "Kinh phí", "en": "Budget"}},
            {"name": "muc_do", "type": "string", "qualifier_of": "kinh_phi",
             "description": {"vi": "Từ chỉ mức độ", "en": "Qualifier"}},
            {"name": "cong_lap", "type": "boolean", "source": "Công lập",
             "description": {"vi": "Cơ sở công lập", "en": "Public facility"}},
            {"name": "ngay_thanh_lap", "type": "date", "source": "Ngày thành lập",
             "description": {"vi": "Ngày thành lập", "en": "Founded on"}},
            {"name": "cap_nhat", "type": "timestamp", "source": "Cập nhật lúc",
             "description": {"vi": "Cập nhật lúc", "en": "Updated at"}},
            {"name": "so_dien_thoai", "type": "string", "source": "Điện thoại người đứng đầu",
             "personal_data": "basic", "description": {"vi": "Số điện thoại", "en": "Phone number"}},
        ],
        "classification": "shared",
        "licence": {"id": "CC-BY-4.0", "title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
        "update_frequency": "annual",
        "theme": ["HEAL"],
        "expectations": [
            {"type": "expect_column_values_to_be_in_set",
             "kwargs": {"column": "loai", "value_set": ["Bệnh viện", "Trạm y tế", "Phòng khám"]}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "giuong", "min_value": 0}},
        ],
    }
)  # fmt: skip
CASES = {**{k: EXAMPLES[k] for k in FILE_DROPS}, "price_observations": EXAMPLES["price_observations"]}
CASES["facility_survey"] = EVERY_TYPE
NUMBERS = [9.748, 0.125, 1234567.5, 42.0]  # 9.748 and 0.125 typed as numbers: not 9748 and 125


def _value(contract: Contract, column: Column, i: int) -> Any:
    """A valid value for row i, as a department types it into the workbook."""
    allowed = [
        e.kwargs["value_set"]
        for e in contract.expectations
        if e.type == "expect_column_values_to_be_in_set" and e.kwargs.get("column") == column.name
    ]
    if column.type is ColumnType.string:
        return allowed[0][i % len(allowed[0])] if allowed else f"Giá trị {column.name} số {i + 1}"
    if column.type is ColumnType.integer:
        return 1000 * i + 7
    if column.type is ColumnType.number:
        return NUMBERS[i % len(NUMBERS)]
    if column.type is ColumnType.boolean:
        return "Có" if i % 2 == 0 else "Không"
    if column.type is ColumnType.date:
        return dt.date(2024, 2, 27 + i) if i < 3 else dt.date(2024, 3, 1)
    return dt.datetime(2024, 3, 5, 8, 30 + i, 15)


def _expected(column: Column, value: Any) -> str:
    """What the hub's reader hands to staging for a typed value."""
    if column.type is ColumnType.boolean:
        return "true" if value == "Có" else "false"
    if column.type is ColumnType.number:
        return format(value, ".15g")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _header_row(contract: Contract) -> int:
    return getattr(contract.source, "header_row", 1)


def _fill(contract: Contract, extra: dict[str, str] | None = None) -> tuple[bytes, list[dict[str, Any]]]:
    """The template filled in with ROWS valid rows (openpyxl standing in for Excel)."""
    book = openpyxl.load_workbook(io.BytesIO(template(contract)))
    sheet = book.worksheets[0]
    typed = []
    for i in range(ROWS):
        row = {c.name: _value(contract, c, i) for c in header_columns(contract)}
        row.update({k: v for k, v in (extra or {}).items() if i == 0})
        for position, column in enumerate(header_columns(contract), start=1):
            sheet.cell(_header_row(contract) + 1 + i, position, row[column.name])
        typed.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), typed


def _as_file_drop(contract: Contract, connection: str) -> Contract:
    """The contract with its rows arriving as a file drop (a SQL dataset's department sending files)."""
    if contract.source.kind == "files":
        return contract
    data = contract.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Contract.model_validate({**data, "source": {"kind": "files", "connection": connection}})


def _validations(sheet: Any) -> dict[str, DataValidation]:
    out = {}
    for validation in sheet.data_validations.dataValidation:
        for cells in validation.sqref.ranges:
            out[cells.coord.split(":")[0].rstrip("0123456789")] = validation
    return out


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_the_template_has_the_header_notes_and_validations(dataset: str) -> None:
    contract = CASES[dataset]
    book = openpyxl.load_workbook(io.BytesIO(template(contract)))
    assert book.sheetnames[1] == INSTRUCTIONS
    sheet, top = book.worksheets[0], _header_row(contract)
    columns = header_columns(contract)
    assert [c.value for c in sheet[top]] == [header(contract, c) for c in columns]
    assert sheet.freeze_panes == f"A{top + 1}"
    validations = _validations(sheet)
    kinds = {ColumnType.integer: "whole", ColumnType.number: "decimal", ColumnType.date: "date",
             ColumnType.timestamp: "decimal", ColumnType.boolean: "list"}  # fmt: skip
    for position, column in enumerate(columns, start=1):
        cell = sheet.cell(top, position)
        note = cell.comment.text
        assert note.startswith(f"{column.description.vi}\n{column.description.en}\n"), note
        assert ("Bắt buộc / Required: Có / Yes" in note) == required(contract, column)
        assert (f"Đơn vị / Unit: {column.unit}" in note) == bool(column.unit)
        letter = cell.column_letter
        assert sheet.column_dimensions[letter].width >= 10
        validation = validations.get(letter)
        if column.type is ColumnType.string:
            assert validation is None or validation.type in ("list", "textLength"), column.name
            if column.name in contract.primary_key:
                assert validation is not None
            continue
        assert validation is not None and validation.type == kinds[column.type], column.name
        assert validation.allow_blank == (not required(contract, column)) and validation.showErrorMessage
        assert str(validation.sqref) == f"{letter}{top + 1}:{letter}1048576"
    instructions = [r for r in book[INSTRUCTIONS].iter_rows(values_only=True) if r[0]]
    listed = instructions[instructions.index(next(r for r in instructions if r[1] == "Mô tả")) + 1 :]
    assert [(r[1], r[2]) for r in listed] == [(c.description.vi, c.description.en) for c in contract.columns]


def test_the_validations_follow_the_contract() -> None:
    book = openpyxl.load_workbook(io.BytesIO(template(EVERY_TYPE)))
    sheet = book["Dữ liệu"]
    assert sheet["A1"].value == "Khảo sát cơ sở / Facility survey"
    validations = _validations(sheet)
    by_column = {c.value: validations[c.column_letter] for c in sheet[3] if c.column_letter in validations}
    assert by_column["Loại"].formula1 == '"Bệnh viện,Trạm y tế,Phòng khám"'
    assert by_column["Công lập"].formula1 == '"Có,Không"'
    assert (by_column["Số giường"].formula1, by_column["Số giường"].formula2) == ("0", "999999999999999")
    assert by_column["Kinh phí"].errorStyle == "warning"  # "hơn 2.000" is welcome: the hub keeps the qualifier
    assert by_column["Mã cơ sở"].type == "textLength" and not by_column["Mã cơ sở"].allow_blank
    assert sheet.column_dimensions["A"].number_format == "@"  # codes keep their leading zeros
    assert sheet.column_dimensions["G"].number_format == "dd/mm/yyyy"
    notes = {c.value: c.comment.text for c in sheet[3]}
    assert "Dữ liệu cá nhân / Personal data: Cơ bản / Basic" in notes["Điện thoại người đứng đầu"]
    assert "Đơn vị / Unit: tỷ đồng" in notes["Kinh phí"]
    rows = list(book[INSTRUCTIONS].iter_rows(values_only=True))
    qualifier = next(r for r in rows if r[1] == "Từ chỉ mức độ")
    assert qualifier[0] == "(muc_do: từ cột / from Kinh phí)"
    assert ("Tên tệp theo mẫu *.xlsx. / Name the file like *.xlsx.",) == next(
        r[:1] for r in rows if r[0] and "*" in r[0]
    )


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_a_filled_in_template_is_read_back_as_typed(
    dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = _as_file_drop(CASES[dataset], "template_inbox")
    monkeypatch.setenv(f"LGSP_CONN_{contract.source.connection.upper()}", str(tmp_path))
    reader = FileReader(configure(contract, Settings(home=tmp_path / "home", contracts_dir=CONTRACTS)))
    extra = {"kinh_phi": "hơn 2.000"} if dataset == "facility_survey" else None
    data, typed = _fill(CASES[dataset], extra)
    batch = reader.read(Path("mau_nop.xlsx"), data).batch.to_pylist()
    assert len(batch) == ROWS
    for i, (row, values) in enumerate(zip(batch, typed, strict=True)):
        assert row["_lgsp_origin"] == f"mau_nop.xlsx:{_header_row(contract) + 1 + i}"
        for column in header_columns(contract):
            value = values[column.name]
            expected = "2000" if value == "hơn 2.000" else _expected(column, value)
            assert row[column.name] == expected, (column.name, value)
        for column in contract.columns:
            if column.qualifier_of:
                assert row[column.name] == ("more_than" if i == 0 and extra else None)
        assert row.get("_lgsp_extra") is None


def test_the_same_contract_gives_the_same_bytes() -> None:
    for contract in [*EXAMPLES.values(), EVERY_TYPE]:
        first = template(contract)
        assert template(contract) == first, contract.id
        assert first[:2] == b"PK"
    assert template(EXAMPLES["schools"]) != template(EXAMPLES["price_observations"])


def test_a_filled_in_template_dropped_in_the_inbox_is_published(
    hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ICT department fills in its template and drops it: the pipeline publishes every row."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("LGSP_CONN_SKHCN_INBOX", str(inbox))
    contract = EXAMPLES["ict_indicators"]
    data, typed = _fill(contract)
    (inbox / "chi_tieu_mau_nop.xlsx").write_bytes(data)
    run = Pipeline(hub).run("ict_indicators", release=False)
    assert run.status == "published", run.error
    assert (run.rows_extracted, run.rows_published, run.rows_quarantined) == (ROWS, ROWS, 0)
    published = warehouse_rows(hub, "SELECT province, period, indicator_vi, value, line FROM main.ict_indicators")
    assert sorted(published) == sorted(
        (t["province"], t["period"], t["indicator_vi"], t["value"], t["line"]) for t in typed
    )
