"""Settings from the environment: sizes with units, and a clear error naming a bad variable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lgsp.core.errors import ConfigError
from lgsp.core.settings import Settings


def test_sizes_take_units_and_values_are_normalised() -> None:
    settings = Settings.from_env(
        {
            "LGSP_HOME": "/tmp/hub",
            "LGSP_VALIDATION_MEMORY": "1GiB",
            "LGSP_PROVINCE": "Qua\u0309ng Tri\u0323",  # NFD, as some terminals type it
            "LGSP_BASE_URL": "https://data.quangtri.gov.vn/",
            "LGSP_EXTRA_HOLIDAYS": "2026-02-16, 2026-02-20",
            "LGSP_EXCHANGE_LOG": "off",
        }
    )
    assert settings.validation_memory == 2**30
    assert settings.province == "Quảng Trị"
    assert settings.base_url == "https://data.quangtri.gov.vn"
    assert settings.extra_holidays == (dt.date(2026, 2, 16), dt.date(2026, 2, 20))
    assert settings.exchange_log is False
    assert Settings.from_env({"LGSP_VALIDATION_MEMORY": "536870912"}).validation_memory == 512 * 2**20


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("LGSP_VALIDATION_MEMORY", "lots", "could not parse"),
        ("LGSP_BATCH_ROWS", "250k", "valid integer"),
        ("LGSP_TOKEN_TTL", "5 minutes", "valid integer"),
        ("LGSP_EXTRA_HOLIDAYS", "2026-02-16,2026-02-30", "day value is outside expected range"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert caught.value.field == name
    assert str(caught.value).startswith(f"{name}={value!r}: ") and reason in str(caught.value)


def test_the_files_keep_the_names_existing_installations_have(tmp_path: Path) -> None:
    """A hub upgraded in place finds its warehouse where the README says it is."""
    settings = Settings(home=tmp_path, contracts_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.sharing_dir == tmp_path / "sharing" and settings.staging_dir == tmp_path / "staging"
