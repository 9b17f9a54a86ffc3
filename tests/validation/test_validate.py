"""Validation on its own: the same findings in one frame or in batches, and reports that say why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.validation.declared import WITHHELD
from lgsp.validation.report import Report
from lgsp.validation.validate import validate


def _report(settings: Settings, dataset_id: str, memory: int) -> tuple[Report, list[tuple]]:
    """The report and the (row, check, reason) findings of validating one extracted run."""
    pipeline = Pipeline(settings)
    run_id = f"v{memory}"
    pipeline.extract(dataset_id, run_id)
    staging = pipeline.staging(dataset_id, run_id)
    with staging.connect() as con:
        report = validate(pipeline.contract(dataset_id), con, staging, memory)
        failures = sorted(con.execute(f"SELECT row, check_key, reason FROM {staging.failures_table}").fetchall())
    staging.remove_files()
    return report, failures


def test_batched_and_whole_run_validation_agree(hub: Settings) -> None:
    whole, whole_failures = _report(hub, "env_readings", 512 * 2**20)
    # A budget of ~100 KB forces dozens of GX batches of a few thousand rows each.
    batched, batched_failures = _report(hub, "env_readings", 100_000)
    assert whole_failures == batched_failures and whole_failures
    # The primary key's duplicates were found by DuckDB in the batched run, by GX in the whole one:
    # the same rows, reasons and counts.
    assert [f for f in whole_failures if f[1] == "pk"], "the sandbox plants duplicate keys"
    summary = lambda r: [(c.key, c.evaluated, c.unexpected, c.success) for c in r.checks]  # noqa: E731
    assert summary(whole) == summary(batched)
    pk = lambda r: next(c for c in r.checks if c.key == "pk")  # noqa: E731
    assert pk(whole).sample == pk(batched).sample and pk(whole).sample
    assert whole.rows_quarantined == batched.rows_quarantined == len({row for row, _, _ in whole_failures})


def test_every_check_is_reported_with_its_origin(hub: Settings) -> None:
    report, _ = _report(hub, "price_observations", 512 * 2**20)
    origins = {c.key: c.origin for c in report.checks}
    assert origins["pk"] == "primary_key"
    assert origins["nn:price"] == "nullable: false"
    assert origins["type:observed_on"].startswith("columns[")
    assert origins["e0"] == "contract"
    price = next(c for c in report.checks if c.key == "e0")
    assert not price.success and price.unexpected > 0 and all(s.startswith("-") for s in price.sample)


def test_reports_never_show_personal_values(hub: Settings) -> None:
    report, _ = _report(hub, "driving_licences", 512 * 2**20)
    personal = {"citizen_id", "full_name", "birth_date"}
    for check in report.checks:
        if personal & set(check.kwargs.get("column", "").split()) and check.sample:
            assert check.sample == [WITHHELD]


def test_report_is_saved_as_json_and_html(hub: Settings, tmp_path: Path) -> None:
    report, _ = _report(hub, "schools", 512 * 2**20)
    html = report.save(tmp_path)
    data = json.loads(html.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["dataset"] == "schools" and data["great_expectations_version"].startswith("1.")
    page = html.read_text(encoding="utf-8")
    assert '<html lang="vi">' in page and "Cách ly / Quarantined" in page
    for check in report.checks:
        assert check.expectation in page


@pytest.mark.parametrize("dataset_id", ["schools", "ict_indicators"])
def test_type_findings_keep_the_raw_value(hub: Settings, dataset_id: str) -> None:
    report, failures = _report(hub, dataset_id, 512 * 2**20)
    if dataset_id == "schools":
        bad = {c.key: c.sample for c in report.checks if c.key.startswith("type:") and c.unexpected}
        assert bad == {"type:updated_at": ["2024-02-30 08:00:00", "31/13/2024 08:00", "N/A"]}
    else:
        value = next(c for c in report.checks if c.key == "type:value")
        assert value.unexpected == 3 and set(value.sample) == {"C", "1-2", "3-4"}
        assert {k for _, k, _ in failures} == {"type:value", "nn:value"}


def test_duckdb_gets_its_threads_back(hub: Settings) -> None:
    """DuckDB works on one thread while GX imports; the connection ends as it started."""
    pipeline = Pipeline(hub)
    pipeline.extract("schools", "threads")
    staging = pipeline.staging("schools", "threads")
    with staging.connect() as con:
        con.execute("SET threads = 3")
        validate(pipeline.contract("schools"), con, staging, 100_000)
        assert con.execute("SELECT current_setting('threads')").fetchone() == (3,)
    staging.remove_files()
