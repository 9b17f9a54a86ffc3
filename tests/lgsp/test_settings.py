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
        ("LGSP_RELEASE_STORE", "https://s3.example/bucket/", "is not s3://<bucket>/<prefix>/"),
        ("LGSP_RELEASE_STORE", "s3://Not_A_Bucket/x/", "is not s3://<bucket>/<prefix>/"),
        ("LGSP_RELEASE_REDIRECT", "proxy", "'stream' or 'presigned'"),
        ("LGSP_RELEASE_URL_EXPIRY", "0", "greater than or equal to 1"),
        ("LGSP_RELEASE_PUBLIC_ENDPOINT", "files.example.gov.vn", "is not http(s)://<host>[:<port>]"),
        ("LGSP_RELEASE_PUBLIC_ENDPOINT", "https://files.example.gov.vn/bucket", "is not http(s)://<host>[:<port>]"),
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


def test_the_release_store_is_unset_by_default_and_its_prefix_ends_in_a_slash() -> None:
    default = Settings.from_env({"LGSP_HOME": "/tmp/hub"})
    assert (default.release_store, default.release_redirect, default.release_url_expiry) == (None, "stream", 3600)
    given = Settings.from_env(
        {"LGSP_RELEASE_STORE": "s3://lgsp-releases/open-data", "LGSP_RELEASE_REDIRECT": "Presigned",
         "LGSP_RELEASE_URL_EXPIRY": "600"}
    )  # fmt: skip
    assert (given.release_store, given.release_redirect, given.release_url_expiry) == (
        "s3://lgsp-releases/open-data/", "presigned", 600,
    )  # fmt: skip
    assert Settings.from_env({"LGSP_RELEASE_STORE": "s3://lgsp-releases"}).release_store == "s3://lgsp-releases/"
    assert default.release_public_endpoint is None and default.release_public_key_id is None
    public = Settings.from_env({"LGSP_RELEASE_PUBLIC_ENDPOINT": "https://files.example.gov.vn/"})
    assert public.release_public_endpoint == "https://files.example.gov.vn"
