"""The REST connector against the national-API simulator: auth, paging, faults, drift, increments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from lgsp.connectors.rest.config import RestConfig
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.schemas.contract import RestSource
from tests.conftest import warehouse_rows

pytestmark = pytest.mark.usefixtures("national")


@pytest.fixture
def hub(hub: Settings, contracts_dir: Path) -> Settings:
    """The hub, reading its contracts from the test's private, editable copy."""
    return Settings.from_env()


def edit(contracts_dir: Path, dataset: str, change: Any) -> None:
    """Change a contract file in the test's private contracts folder."""
    path = contracts_dir / f"{dataset}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


published = warehouse_rows


def total(national: Any) -> int:
    """How many enterprises the simulator holds right now, as its API says."""
    import requests

    answer = requests.get(
        national.base_url + "/dkkd/v1/enterprises",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {national.token()}"},
        timeout=10,
    )
    return int(answer.json()["total"])


def invariant(run: dict[str, Any]) -> None:
    assert run.rows_extracted == run.rows_published + run.rows_quarantined, run


def test_pull_every_enterprise_exactly_once(hub: Settings, national: Any) -> None:
    run = Pipeline(hub).run("enterprises")
    assert run.status == "published", run.error
    invariant(run)
    assert run.rows_extracted == total(national)
    ((count, distinct),) = published(hub, "SELECT count(*), count(DISTINCT tax_code) FROM main.enterprises")
    assert count == distinct == run.rows_published
    # nested fields were flattened and typed
    ((ward, rep, updated),) = published(
        hub,
        "SELECT ward_code, representative, typeof(updated_at) FROM main.enterprises WHERE ward_code IS NOT NULL LIMIT 1",
    )
    assert ward.isdigit() and rep and updated == "TIMESTAMP"


@pytest.mark.parametrize(
    "paging",
    [
        {"style": "page", "page_size": 700},
        {"style": "offset", "page_size": 450},
        {"style": "cursor", "page_size": 1000},
        {"style": "link", "page_size": 999},
    ],
)
def test_every_paging_style_walks_every_record_once(
    hub: Settings, contracts_dir: Path, national: Any, paging: dict[str, Any]
) -> None:
    edit(contracts_dir, "enterprises", lambda c: c["source"].update(paging=paging))
    run = Pipeline(hub).run("enterprises")
    assert run.status == "published", run.error
    assert run.rows_extracted == total(national)
    ((count, distinct),) = published(hub, "SELECT count(*), count(DISTINCT tax_code) FROM main.enterprises")
    assert count == distinct == total(national)


def test_429_503_and_token_expiry_are_survived_with_every_record_once(
    hub: Settings, contracts_dir: Path, national: Any
) -> None:
    edit(contracts_dir, "enterprises", lambda c: c["source"].update(paging={"style": "cursor", "page_size": 250}))
    path = "/dkkd/v1/enterprises"
    national.set_faults(
        [
            {"kind": "429", "path": path, "after": 1, "times": 2, "retry_after": 1},
            {"kind": "503", "path": path, "after": 4, "times": 2, "retry_after": 0},
            {"kind": "expire_token", "path": path, "after": 6, "times": 1},
            {"kind": "malformed", "path": path, "after": 8, "times": 1},
            {"kind": "drop", "path": path, "after": 10, "times": 1},
            {"kind": "slow", "path": path, "after": 11, "times": 1, "delay": 0.5},
        ]
    )
    pipeline = Pipeline(hub)
    run = pipeline.run("enterprises")
    assert run.status == "published", run.error
    invariant(run)
    assert run.rows_extracted == total(national)
    ((count, distinct),) = published(hub, "SELECT count(*), count(DISTINCT tax_code) FROM main.enterprises")
    assert count == distinct == total(national)
    stats = national.stats()
    assert sum(stats["faults_fired"].values()) >= 7, stats
    assert stats["tokens_issued"] >= 2  # a fresh token after the expiry


def test_a_slow_answer_times_out_and_is_asked_again(hub: Settings, contracts_dir: Path, national: Any) -> None:
    edit(contracts_dir, "legal_documents", lambda c: c["source"].update(timeout=0.5))
    national.set_faults([{"kind": "slow", "path": "/vbpl/v1/documents", "after": 1, "times": 1, "delay": 3}])
    run = Pipeline(hub).run("legal_documents")
    assert run.status == "published", run.error
    assert run.rows_extracted == 3000
    report = Path(run.report).with_suffix(".json").read_text(encoding="utf-8")
    assert '"retries": 1' in report


def test_spent_retries_fail_the_run_and_publish_nothing(hub: Settings, contracts_dir: Path, national: Any) -> None:
    pipeline = Pipeline(hub)
    first = pipeline.run("enterprises")
    assert first.status == "published"
    edit(contracts_dir, "enterprises", lambda c: c["source"].update(retries=2, updated_since=None, lookback=0))
    national.set_faults([{"kind": "503", "path": "/dkkd/v1/enterprises", "after": 2, "times": 100, "retry_after": 0}])
    run = pipeline.run("enterprises")
    assert run.status == "failed"
    assert "failed after 3 attempts" in run.error and "503" in run.error, run.error
    assert run.rows_published == 0
    ((count,),) = published(hub, "SELECT count(*) FROM main.enterprises")
    assert count == first.rows_published  # the previous version stays


def test_wrong_client_secret_fails_clearly_without_retrying(hub: Settings, national: Any) -> None:
    from lgsp_sandbox.build import add_connections

    from lgsp.demo import national_connections

    good = national_connections(national)["national_dkkd"]
    add_connections(hub.sandbox_dir, {"national_dkkd": good.replace(national.client_secret, "s3cr3t-guess-42")})
    before = national.stats()["requests"].get("/oauth2/token", {})
    run = Pipeline(hub).run("enterprises")
    assert run.status == "failed"
    assert "refused the client credentials" in run.error
    assert "s3cr3t-guess-42" not in run.error  # secrets never reach messages
    after = national.stats()["requests"].get("/oauth2/token", {})
    assert sum(after.values()) - sum(before.values()) == 1


def test_api_key_auth_and_a_wrong_key(hub: Settings, national: Any) -> None:
    pipeline = Pipeline(hub)
    run = pipeline.run("legal_documents")
    assert run.status == "published", run.error
    invariant(run)
    titles = published(hub, "SELECT number FROM main.legal_documents WHERE number = '47/2020/NĐ-CP'")
    assert titles == [("47/2020/NĐ-CP",)]
    from lgsp_sandbox.build import add_connections

    from lgsp.demo import national_connections

    good = national_connections(national)["national_vbpl"]
    add_connections(hub.sandbox_dir, {"national_vbpl": good.replace(national.api_key, "not-the-key")})
    failed = pipeline.run("legal_documents")
    assert failed.status == "failed" and "refused access" in failed.error


def test_incremental_pull_takes_only_changed_and_new_records(hub: Settings, national: Any) -> None:
    pipeline = Pipeline(hub)
    first = pipeline.run("enterprises")
    assert first.status == "published" and first.mode == "full"
    ((first_window,),) = published(
        hub,
        "SELECT count(*) FROM main.enterprises "
        "WHERE updated_at > (SELECT max(updated_at) FROM main.enterprises) - INTERVAL 300 SECOND",
    )
    national.advance(updated=40, new=15)
    second = pipeline.run("enterprises")
    assert second.status == "published", second.error
    assert second.mode == "incremental"
    # the 55 changed and new ones, and those of the 5 minutes before the first run's last one
    window = "updated_at > (SELECT max(updated_at) FROM main.enterprises) - INTERVAL 300 SECOND"
    assert second.rows_extracted == 55 + first_window
    ((count,),) = published(hub, "SELECT count(*) FROM main.enterprises")
    assert count == first.rows_published + 15
    third = pipeline.run("enterprises")
    ((again,),) = published(hub, f"SELECT count(*) FROM main.enterprises WHERE {window}")
    assert third.rows_extracted == again > 0  # only the look-back window comes again, merged by key
    assert published(hub, "SELECT count(*), count(DISTINCT tax_code) FROM main.enterprises") == [(count, count)]


def test_no_lookback_pulls_nothing_twice(hub: Settings, contracts_dir: Path, national: Any) -> None:
    edit(contracts_dir, "enterprises", lambda c: c["source"].update(lookback=0))
    pipeline = Pipeline(hub)
    pipeline.run("enterprises")
    national.advance(updated=40, new=15)
    assert pipeline.run("enterprises").rows_extracted == 55
    assert pipeline.run("enterprises").rows_extracted == 0


def test_client_rate_limit_keeps_below_the_servers(hub: Settings, contracts_dir: Path) -> None:
    from lgsp_sandbox.build import add_connections
    from lgsp_sandbox.national_api.server import Simulator

    from lgsp.demo import national_connections

    edit(
        contracts_dir,
        "legal_documents",
        lambda c: c["source"].update(rate_limit=4, paging={"style": "page", "page_size": 100}),
    )
    with Simulator(enterprises=10, documents=600, rate_limit=5, seed=3) as strict:
        add_connections(hub.sandbox_dir, national_connections(strict))
        run = Pipeline(hub).run("legal_documents")
        answered = strict.stats()["requests"].get("/vbpl/v1/documents", {})
    assert run.status == "published", run.error
    assert run.rows_extracted == 600
    assert answered.get("429", 0) == 0, answered  # never throttled by the server: the client kept its pace


@pytest.mark.parametrize("policy", ["evolve", "freeze", "discard"])
def test_schema_drift_policies(hub: Settings, contracts_dir: Path, national: Any, policy: str) -> None:
    def drift(contract: dict[str, Any]) -> None:
        contract["source"]["schema_drift"] = policy
        contract["columns"] = [c for c in contract["columns"] if c["name"] != "name_en"]  # the API sends it
        contract["columns"].append(
            {"name": "charter_capital", "type": "number", "description": {"vi": "Vốn điều lệ", "en": "Capital"}}
        )

    edit(contracts_dir, "enterprises", drift)
    pipeline = Pipeline(hub)
    run = pipeline.run("enterprises")
    if policy == "freeze":
        assert run.status == "failed"
        assert "undeclared field 'name_en'" in run.error and "missing field 'charter_capital'" in run.error
        return
    assert run.status == "published", run.error
    report = Path(run.report).with_suffix(".json").read_text(encoding="utf-8")
    assert "name_en" in report and "charter_capital" in report  # always reported
    columns = {r[0] for r in published(hub, "DESCRIBE main.enterprises")}
    if policy == "evolve":
        kept = published(hub, "SELECT count(*) FROM main.enterprises WHERE _lgsp_extra LIKE '%name_en%'")
        assert kept[0][0] > 0
    else:
        assert "_lgsp_extra" not in columns


def test_pages_are_flattened_by_duckdb_with_drift_counted(tmp_path: Path) -> None:
    import orjson

    from lgsp.connectors.rest.drift import path_tree
    from lgsp.connectors.rest.paging import Page, fields_of
    from lgsp.connectors.rest.spool import Spooler

    columns = [("code", "code"), ("ward", "address.ward"), ("n", "n")]
    config = RestConfig(
        dataset="t",
        connection="c",
        base_url="http://x",
        source=RestSource(kind="rest", connection="c", path="/x"),
        columns=columns,
    )
    records = [
        {"code": "1", "address": {"ward": "19369", "street": "12 Lê Lợi"}, "n": 3},
        {"code": "2", "address": None, "n": 4.5, "extra": [1, 2]},
        {"code": "3", "n": True},
    ]
    unknown, missing = fields_of(records, path_tree([path for _, path in columns]))
    assert unknown == {"address.street": 1, "extra": 1} and missing == {"address": 1}
    saved = tmp_path / "1.json"
    saved.write_bytes(orjson.dumps({"data": records, "next_cursor": None}))
    con = duckdb.connect()

    def sink(select: str) -> int:
        con.execute(f"CREATE TABLE rows AS {select}")
        return con.execute("SELECT count(*) FROM rows").fetchone()[0]

    spooler = Spooler(config, sink)
    spooler.load([(saved, Page(1, b"", 3, unknown, missing))])
    got = con.execute("SELECT code, ward, n, _lgsp_extra FROM rows ORDER BY code").fetchall()
    assert got == [
        ("1", "19369", "3", '{"address.street":"12 Lê Lợi"}'),
        ("2", None, "4.5", '{"extra":[1,2]}'),
        ("3", None, "true", None),
    ]
    assert spooler.drift.as_notes()["unknown_fields"]["extra"] == {"records": 1, "first_page": 1}


def test_a_connection_urls_query_is_not_part_of_the_api_address() -> None:
    from lgsp.connectors.rest.config import split_connection

    assert split_connection("https://id:s%40cret@api.gov.vn/v1?verify=false") == (
        "https://api.gov.vn/v1",
        "id",
        "s@cret",
    )
