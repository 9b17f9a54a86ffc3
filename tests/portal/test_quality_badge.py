"""The dataset page's quality badge: the run whose rows the latest release holds, its counts and
checks, and a link to its report, whichever path released it (`lgsp run`, `lgsp release`,
Airflow's publishing DAG)."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lgsp.app import create_app
from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.versions import latest_release, releases_dir
from lgsp.validation.report import report_stem
from lgsp.warehouse.runs import RunRecord

runner = CliRunner()
BADGE = re.compile(r'id="quality">([^<]*)</span>(?: · <a href="([^"]+)">)?')


def badge(client: TestClient, dataset_id: str, lang: str = "vi") -> tuple[str, str | None]:
    """The badge's text and its report link, as the page has them."""
    page = client.get(f"/dataset/{dataset_id}", params={"lang": lang})
    assert page.status_code == 200
    found = BADGE.search(page.text)
    assert found, page.text
    return html.unescape(found[1]), found[2]


def checks(hub: Settings, run: RunRecord) -> tuple[int, int]:
    """Checks passed and checks run, from the run's own report."""
    report = json.loads((hub.reports_dir / run.dataset_id / f"{report_stem(run.run_id)}.json").read_text("utf-8"))
    return sum(c["success"] for c in report["checks"]), len(report["checks"])


def assert_badge_is_the_runs(hub: Settings, run: RunRecord) -> None:
    release = latest_release(hub.home, run.dataset_id)
    assert release is not None and release.run_id == run.run_id
    passed, total = checks(hub, run)
    assert total > 0
    with TestClient(create_app(hub)) as client:
        text, link = badge(client, run.dataset_id)
        assert text == (  # Vietnamese thousands separator: 1.234
            f"{run.rows_published:,} dòng được công bố · {run.rows_quarantined:,} dòng bị cách ly · "
            f"{run.rows_warned:,} dòng có cảnh báo · đạt {passed}/{total} kiểm tra"
        ).replace(",", ".")
        english, _ = badge(client, run.dataset_id, "en")
        assert english == (
            f"{run.rows_published:,} rows published · {run.rows_quarantined:,} quarantined · "
            f"{run.rows_warned:,} warned · {passed} of {total} checks passed"
        )
        assert link == f"/reports/{run.dataset_id}/{report_stem(run.run_id)}.html"
        report = client.get(link)
        assert report.status_code == 200 and run.run_id in report.text


def test_after_lgsp_run(hub: Settings) -> None:
    run = Pipeline(hub).run("ict_indicators")
    assert run.status == "published" and run.rows_quarantined and run.release == 1
    assert_badge_is_the_runs(hub, run)


def test_a_release_made_before_releases_recorded_their_run_shows_its_report(hub: Settings) -> None:
    run = Pipeline(hub).run("schools")
    manifest = releases_dir(hub.home, "schools") / "v1" / "release.json"
    legacy = json.loads(manifest.read_text(encoding="utf-8"))
    del legacy["quality"]
    manifest.write_text(json.dumps(legacy), encoding="utf-8")
    passed, total = checks(hub, run)
    with TestClient(create_app(hub)) as client:
        text, link = badge(client, "schools")
    assert (
        text
        == f"{run.rows_quarantined:,} dòng bị cách ly · {run.rows_warned:,} dòng có cảnh báo · đạt {passed}/{total} kiểm tra".replace(
            ",", "."
        )
    )
    assert link == f"/reports/schools/{report_stem(run.run_id)}.html"


def test_after_lgsp_release_and_runs_that_published_nothing(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    run = pipeline.run("ict_indicators", release=False)
    assert run.status == "published" and latest_release(hub.home, "ict_indicators") is None
    made = runner.invoke(app, ["release", "ict_indicators"])
    assert made.exit_code == 0, made.output
    assert_badge_is_the_runs(hub, run)
    # The inbox is empty now: the next run is unchanged, and releasing again names the same run.
    assert pipeline.run("ict_indicators", release=False).status == "unchanged"
    again = runner.invoke(app, ["release", "ict_indicators"])
    assert again.exit_code == 0 and "release v1" in again.output
    assert_badge_is_the_runs(hub, run)


@pytest.mark.airflow
def test_after_the_airflow_publishing_dag(hub: Settings) -> None:
    from lgsp.demo import run_dags

    [record] = run_dags(hub, ["ict_indicators"])
    assert record.status == "published" and record.release == 1, record
    assert record.run_id.startswith("manual__")
    assert_badge_is_the_runs(hub, record)
