"""Decree 47's refresh rules: the declared frequency and the 3-month ceiling."""

from __future__ import annotations

import datetime as dt

import pytest

from lgsp.publishing.compliance import check
from lgsp.schemas.loader import load_contracts
from tests.conftest import CONTRACTS

NOW = dt.datetime(2026, 11, 23, 12, 0)
CONTRACTS_BY_ID = load_contracts(CONTRACTS)


@pytest.mark.parametrize(
    ("dataset_id", "age", "frequency_ok", "three_month_ok", "label"),
    [
        ("price_observations", dt.timedelta(days=3), True, True, "đúng hạn"),  # weekly
        ("price_observations", dt.timedelta(days=10), False, True, "chậm so với tần suất"),
        ("schools", dt.timedelta(days=200), True, False, "quá 3 tháng chưa cập nhật"),  # annual, yet 3 months
        ("env_readings", dt.timedelta(hours=1), True, True, "đúng hạn"),  # hourly
        ("env_readings", dt.timedelta(hours=5), False, True, "chậm so với tần suất"),
    ],
)
def test_refresh_rules(
    dataset_id: str, age: dt.timedelta, frequency_ok: bool, three_month_ok: bool, label: str
) -> None:
    result = check(CONTRACTS_BY_ID[dataset_id], NOW - age, NOW)
    assert (result.frequency_ok, result.three_month_ok, result.label()) == (frequency_ok, three_month_ok, label)


def test_never_released() -> None:
    result = check(CONTRACTS_BY_ID["schools"], None, NOW)
    assert not result.ok and result.label("en") == "not yet published"
