"""Contracts: the shipped ones are valid, and every kind of mistake is named by file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lgsp.checks import check_contracts
from lgsp.cli import app
from lgsp.schemas.contract import Contract
from lgsp.schemas.errors import ContractError
from lgsp.schemas.loader import contract_files, load_contract, load_contracts, problems_in
from tests.conftest import CONTRACTS

runner = CliRunner()


def base() -> dict:
    return yaml.safe_load((CONTRACTS / "schools.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict | str, name: str = "schools") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_contracts_are_valid() -> None:
    contracts = load_contracts(CONTRACTS)
    assert set(contracts) == {
        "admin_units",
        "download_stats",
        "driving_licences",
        "enterprises",
        "env_readings",
        "env_readings_monthly",
        "env_stations",
        "exchange_log_anchors",
        "exchange_stats",
        "ict_indicators",
        "legal_documents",
        "online_public_services",
        "price_index_monthly",
        "price_observations",
        "schools",
        "schools_by_commune",
    }
    assert {c.source.kind for c in contracts.values()} == {"sql", "rest", "files", "derived"}
    assert check_contracts(contract_files(CONTRACTS)) == []
    licences = contracts["driving_licences"]
    assert licences.classification.value == "restricted"
    assert licences.personal_columns == ["citizen_id", "full_name", "birth_date"]


def test_publishers_are_the_departments_after_the_2025_reorganisation() -> None:
    """The contracts name each sandbox department as it is now, one name per code, and keep the
    names of the departments merged into it (which its data still carries) as former names."""
    from lgsp_sandbox.build import DEPARTMENTS, INBOX

    contracts = load_contracts(CONTRACTS).values()
    by_connection = {**DEPARTMENTS, f"{INBOX}_inbox": DEPARTMENTS["ict"]}
    checked = set()
    for contract in contracts:
        department = by_connection.get(contract.source.connection)
        if department is None:
            continue
        publisher = contract.publisher
        assert (publisher.code, publisher.name.vi, publisher.name.en) == (
            department.code, department.name_vi, department.name_en
        ), contract.id  # fmt: skip
        former = {(f.vi, f.en) for f in publisher.former_names}
        assert {(f.name_vi, f.name_en) for f in department.former} <= former, contract.id
        checked.add(contract.id)
    assert checked == {
        "driving_licences",
        "env_readings",
        "env_stations",
        "ict_indicators",
        "price_observations",
        "schools",
    }
    publishers = {(c.publisher.code, c.publisher.name, tuple(c.publisher.former_names)) for c in contracts}
    assert len(publishers) == len({code for code, _, _ in publishers}), "a code with two names or histories"
    assert {code for code, _, _ in publishers} == {"TCTK", "SXD", "STC", "SNNMT", "SKHCN", "STP", "SGDDT", "VPUBND"}
    assert not {f.code for d in DEPARTMENTS.values() for f in d.former} & {code for code, _, _ in publishers}


def test_former_names_are_bilingual_and_nfc(tmp_path: Path) -> None:
    data = base()
    data["publisher"]["former_names"] = [{"vi": "So\u031b\u0309 Tho\u0302ng tin", "en": "Department of Information"}]
    assert load_contract(write(tmp_path, data)).publisher.former_names[0].vi == "Sở Thông tin"
    data["publisher"]["former_names"] = [{"vi": "Sở Thông tin và Truyền thông"}]
    with pytest.raises(ContractError, match=r"publisher\.former_names\[0\]\.en: required field is missing"):
        load_contract(write(tmp_path, data))


def test_text_is_normalised_to_nfc(tmp_path: Path) -> None:
    data = base()
    data["title"]["vi"] = "Tr\u01b0\u01a1\u0300ng ho\u0323c"  # NFD: combining marks
    contract = load_contract(write(tmp_path, data))
    assert contract.title.vi == "Trường học"


def _set(data: dict, dotted: str, value: object) -> dict:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()

BAD = [
    ("title", _DELETE, "title", "required field is missing"),
    ("source.password", "s3cret", "source.password", "credentials belong in a connection"),
    ("columns.0.type", "int", "columns[0].type", "Input should be"),
    ("columns.1.personal_data", "secret", "columns[1].personal_data", "'none', 'basic' or 'sensitive'"),
    ("classification", "public", "classification", "'open', 'shared' or 'restricted'"),
    ("primary_key", ["school_id"], "primary_key", "'school_id' is not a declared column"),
    ("incremental", {"cursor": "changed"}, "incremental.cursor", "'changed' is not a declared column"),
    ("schedule", "every day", "schedule", "neither a cron expression"),
    ("expectations.0.kwargs.column", "grade", "expectations[0]", "column 'grade' is not a declared column"),
    ("source.connection", "Sở GD", "source.connection", "should match pattern"),
    ("id", "other_id", "id", "must match the file name"),
]


@pytest.mark.parametrize(("field", "value", "where", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_contract_names_file_field_and_reason(
    tmp_path: Path, field: str, value: object, where: str, reason: str
) -> None:
    path = write(tmp_path, _set(base(), field, value))
    contract, problems = problems_in(path)
    assert contract is None
    assert any(p.field == where and reason in p.reason and p.file == path for p in problems), problems
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(path) in str(info.value) and reason in str(info.value)


DELETES_BAD = [
    ({"mode": "soft_delete"}, "incremental.deletes", "mode soft_delete needs `column`"),
    ({"mode": "soft_delete", "column": "x", "table": "t"}, "incremental.deletes", "mode soft_delete takes no table"),
    ({"mode": "key_diff", "column": "x"}, "incremental.deletes", "mode key_diff takes no column"),
    ({"mode": "tombstones", "cursor": "at"}, "incremental.deletes", "exactly one of `table` or `query`"),
    ({"mode": "tombstones", "table": "gone"}, "incremental.deletes", "mode tombstones needs `cursor`"),
    (
        {"mode": "tombstones", "query": "DELETE FROM gone", "cursor": "at"},
        "incremental.deletes",
        "query: must be a SELECT",
    ),
    ({"mode": "purge"}, "incremental.deletes.mode", "'soft_delete', 'key_diff' or 'tombstones'"),
    ({"mode": "soft_delete", "column": "school_code"}, "incremental.deletes.column", "is a primary-key column"),
    ({"mode": "soft_delete", "column": "updated_at"}, "incremental.deletes.column", "is the cursor"),
]


@pytest.mark.parametrize(("deletes", "where", "reason"), DELETES_BAD, ids=[b[2][:30] for b in DELETES_BAD])
def test_incremental_deletes_are_checked(tmp_path: Path, deletes: dict, where: str, reason: str) -> None:
    data = base()
    data["incremental"] = {"cursor": "updated_at", "deletes": deletes}
    path = write(tmp_path, data)
    contract, problems = problems_in(path)
    assert contract is None
    assert any(p.field == where and reason in p.reason for p in problems), problems


def test_incremental_deletes_need_a_sql_source_and_a_marker_that_can_say_false(tmp_path: Path) -> None:
    data = base()
    data["columns"].append({"name": "is_deleted", "type": "boolean", "description": {"vi": "Đã xoá", "en": "Deleted"}})
    data["incremental"] = {"cursor": "updated_at", "deletes": {"mode": "soft_delete", "column": "is_deleted"}}
    _, problems = problems_in(write(tmp_path, data))
    assert [(p.field, p.reason.split(";")[0]) for p in problems] == [
        ("incremental.deletes.when", "'is_deleted' is a boolean column")
    ]
    data["incremental"]["deletes"]["when"] = "true"
    assert load_contract(write(tmp_path, data)).incremental.deletes.column == "is_deleted"  # type: ignore[union-attr]
    enterprises = yaml.safe_load((CONTRACTS / "enterprises.yaml").read_text(encoding="utf-8"))
    enterprises["incremental"]["deletes"] = {"mode": "key_diff"}
    _, problems = problems_in(write(tmp_path, enterprises, "enterprises"))
    assert [(p.field, p.reason) for p in problems] == [
        ("incremental.deletes", "deletions are read from SQL sources only, not from a rest source")
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["source"].pop("updated_since"),
        lambda c: c.pop("incremental"),
        lambda c: c.update(incremental={"cursor": "tax_code"}),
    ],
    ids=["no updated_since", "not incremental", "cursor not a timestamp"],
)
def test_a_lookback_needs_a_timestamp_cursor_sent_to_the_api(tmp_path: Path, change) -> None:
    data = yaml.safe_load((CONTRACTS / "enterprises.yaml").read_text(encoding="utf-8"))
    change(data)
    _, problems = problems_in(write(tmp_path, data, "enterprises"))
    assert [(p.field, p.reason) for p in problems] == [
        ("source.lookback", "reaching back needs `updated_since` and an incremental cursor of type timestamp")
    ]


def test_yaml_syntax_error_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "id: schools\ntitle: [unclosed\n")
    _, problems = problems_in(path)
    assert problems[0].field == "(yaml)" and "line" in problems[0].reason


@pytest.mark.parametrize(
    ("expectation", "field", "reason"),
    [
        ({"type": "expect_column_values_to_be_nice", "kwargs": {"column": "name"}}, "expectations[0].type", "unknown"),
        (
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "pupils", "mostly": 3}},
            "expectations[0].kwargs",
            "mostly",
        ),
        (
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "pupils", "min_value": 1},
                "severity": "quarantine",
            },
            "expectations[0].severity",
            "needs a row-level expectation",
        ),
    ],
)
def test_bad_expectation_is_caught_by_check(tmp_path: Path, expectation: dict, field: str, reason: str) -> None:
    data = base()
    data["expectations"] = [expectation]
    path = write(tmp_path, data)
    problems = check_contracts([path])
    assert len(problems) == 1 and problems[0].startswith(f"{path}: {field}: ") and reason in problems[0]


def test_coordinates_and_references_are_declared_and_checked(tmp_path: Path) -> None:
    contracts = load_contracts(CONTRACTS)
    stations, readings = contracts["env_stations"], contracts["env_readings"]
    assert [c.name for c in stations.columns if c.role] == ["station_name", "latitude", "longitude"]
    ref = readings.column("station_code").references
    assert ref is not None and (ref.dataset, ref.column) == ("env_stations", "station_code")
    data = base()
    data["columns"][0]["references"] = {"dataset": "no_such_dataset", "column": "code"}
    path = write(tmp_path, data)
    assert check_contracts([path]) == [
        f"{path}: columns.school_code.references: 'no_such_dataset' is not the id of any contract"
    ]
    data["columns"][0]["references"] = {"dataset": "schools", "column": "nope"}
    path = write(tmp_path, data)
    assert check_contracts([path]) == [f"{path}: columns.school_code.references: 'schools' has no column 'nope'"]
    data = base()
    data["columns"][0]["role"] = "latitude"  # a text column, and no longitude
    _, problems = problems_in(write(tmp_path, data))
    assert problems and "a latitude is a number column" in str(problems[0])
    limit = readings.column("limit_value")
    assert limit.minimum_when is not None and (limit.minimum_when.column, limit.minimum_when.values) == (
        "parameter",
        ["DO"],
    )
    data = base()
    data["columns"].append(
        {
            "name": "pupil_limit",
            "type": "number",
            "description": {"vi": "Giới hạn", "en": "Limit"},
            "minimum_when": {"column": "level", "values": ["x"]},
        }
    )
    _, problems = problems_in(write(tmp_path, data))
    assert problems and "minimum_when: only a column with role limit has one" in str(problems[0])
    data["columns"][-1]["role"] = "limit"
    data["columns"][-1]["minimum_when"]["column"] = "pupils"  # a number, not a text column
    _, problems = problems_in(write(tmp_path, data))
    assert problems and "minimum_when.column: 'pupils' is not a text column of this dataset" in str(problems[0])
    data["columns"][-1]["minimum_when"]["column"] = "level"
    contract, problems = problems_in(write(tmp_path, data))
    assert contract is not None and not problems
    assert stations.column("kind").labels["water"].vi == "Trạm quan trắc nước mặt"
    data["columns"][-1]["labels"] = {"1": {"vi": "một", "en": "one"}}  # a number column has no code list
    _, problems = problems_in(write(tmp_path, data))
    assert problems and "labels: only a text column's values have labels" in str(problems[0])


def test_lgsp_check_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, base())
    bad = write(tmp_path, _set(base(), "licence", _DELETE), name="broken")
    result = runner.invoke(app, ["check", str(good)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["check", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: licence: required field is missing" in result.output


def test_json_schema_is_exported_and_current() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    shipped = (CONTRACTS.parent / "contract.schema.json").read_text(encoding="utf-8")
    assert result.output == shipped, "run `lgsp schema > schemas/contract.schema.json`"
    assert "primary_key" in Contract.model_json_schema()["properties"]
