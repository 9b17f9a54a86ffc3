"""The CKAN actions harvesters and clients call beyond search, through the real `ckanapi` client
over a live server: groups (themes), tags, licences, help, the full list with resources, the
release history as activities, and read-only SQL that refuses anything but reading open data."""

from __future__ import annotations

import time

import ckanapi
import pytest
import requests
from lgsp_sandbox.build import mutate_department

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.portal.sql import TIME_LIMIT

OPEN = ["ict_indicators", "price_observations", "schools"]


def test_groups_tags_licences_and_help(served: tuple[str, Settings]) -> None:
    url, _ = served
    ckan = ckanapi.RemoteCKAN(url)
    groups = ckan.action.group_list()
    assert (
        "educ" in groups
        and "econ" in groups
        and groups == sorted(groups, key=lambda g: ckan.action.group_show(id=g)["title"])
    )
    full = ckan.action.group_list(all_fields=True, sort="package_count desc")
    assert full[0]["package_count"] >= full[-1]["package_count"] and full[0]["type"] == "group"
    educ = ckan.action.group_show(id="EDUC", include_datasets=True)
    assert educ["title_translated"] == {"vi": "Giáo dục, văn hóa và thể thao", "en": "Education, culture and sport"}
    assert [p["name"] for p in educ["packages"]] == ["schools"] and educ["package_count"] == 1
    assert ckan.action.group_list(limit=1, offset=1) == groups[1:2]
    with pytest.raises(ckanapi.NotFound):
        ckan.action.group_show(id="tran")  # only the restricted driving licences are transport
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.group_list(sort="colour")
    tags = ckan.action.tag_list()
    assert tags == sorted(tags) and "prices" in [t.lower() for t in tags]
    assert ckan.action.tag_list(query="gia ca") == ["giá cả"]  # typed without diacritics, as people do
    assert ckan.action.tag_list(query="zzz") == []
    assert ckan.action.tag_list(all_fields=True)[0] == {"id": tags[0], "name": tags[0], "vocabulary_id": None}
    licences = ckan.action.license_list()
    assert [lic["id"] for lic in licences] == ["CC-BY-4.0"] and licences[0]["url"].startswith("https://creativecommons")
    assert "BM25" in ckan.action.help_show(name="package_search")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.help_show(name="package_delete")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.help_show()


def test_package_list_with_resources_and_activities(served: tuple[str, Settings]) -> None:
    url, hub = served
    ckan = ckanapi.RemoteCKAN(url)
    mutate_department("finance", f"sqlite:///{hub.sandbox_dir / 'finance.sqlite'}", seed=5, changed=3, added=2)
    assert Pipeline(hub).run("price_observations").release == 2
    full = ckan.action.current_package_list_with_resources()
    assert sorted(p["name"] for p in full) == OPEN and full[0]["name"] == "price_observations"  # the newest first
    assert all(p["resources"] for p in full)
    assert [p["name"] for p in ckan.action.current_package_list_with_resources(limit=1, offset=1)] == [full[1]["name"]]
    activities = ckan.action.package_activity_list(id="price_observations")
    assert [a["activity_type"] for a in activities] == ["changed package", "new package"]
    assert [a["data"]["package"]["version"] for a in activities] == ["2", "1"]
    assert activities[0]["timestamp"] > activities[1]["timestamp"]
    assert activities[0]["data"]["package"]["num_rows"] == activities[1]["data"]["package"]["num_rows"] + 2
    assert activities[0]["data"]["package"]["resources"][0]["url"].endswith(
        "/releases/price_observations/v2/price_observations.csv"
    )
    first = ckan.action.package_activity_list(id="price_observations", limit=1, offset=1)
    assert [a["data"]["package"]["version"] for a in first] == ["1"]
    assert [a["activity_type"] for a in ckan.action.package_activity_list(id="schools")] == ["new package"]
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_activity_list(id="driving_licences")  # not open: not there at all


def test_datastore_search_sql_reads_open_data(served: tuple[str, Settings]) -> None:
    url, _ = served
    ckan = ckanapi.RemoteCKAN(url)
    found = ckan.action.datastore_search_sql(sql='SELECT count(*) AS n FROM "schools"')
    assert found["records"][0]["n"] == 780 and found["fields"] == [{"id": "n", "type": "int"}]
    resource = ckan.action.package_show(id="price_observations")["resources"][1]["id"]  # the Parquet's id
    joined = ckan.action.datastore_search_sql(
        sql=f'WITH p AS (SELECT * FROM "{resource}") SELECT count(*) AS n, min(p._id) AS first FROM p;'
    )
    assert joined["records"][0]["first"] == 1 and joined["records"][0]["n"] > 0
    many = ckan.action.datastore_search_sql(sql="SELECT a._id FROM schools a, schools b LIMIT 40000")
    assert len(many["records"]) == 32000 and many["records_truncated"] is True


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO schools SELECT * FROM schools",
        "UPDATE schools SET school_code = 'x'",
        "DROP TABLE schools",
        "COPY schools TO '/tmp/out.csv'",
        "ATTACH '/tmp/x.duckdb' AS x",
        "PRAGMA database_list",
        "SET threads = 8",
        "SELECT 1; DROP TABLE schools",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM driving_licences",  # restricted: not open, so not there
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM duckdb_settings()",
        "SELECT getenv('HOME')",
        "SELECT current_setting('memory_limit')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM schools WHERE",
    ],
)
def test_datastore_search_sql_refuses(served: tuple[str, Settings], sql: str) -> None:
    url, _ = served
    with pytest.raises(ckanapi.ValidationError) as refused:
        ckanapi.RemoteCKAN(url).action.datastore_search_sql(sql=sql)
    message = refused.value.error_dict["query"][0]
    assert " / " in message, message  # Vietnamese, then English


def test_datastore_search_sql_stops_a_runaway_query(served: tuple[str, Settings]) -> None:
    url, _ = served
    started = time.monotonic()
    answer = requests.post(
        f"{url}/api/3/action/datastore_search_sql",
        json={
            "sql": "SELECT count(*) FROM schools a, schools b, schools c, schools d WHERE a._id + b._id > c._id + d._id"
        },
        timeout=60,
    )
    took = time.monotonic() - started
    assert answer.status_code == 409 and answer.json()["success"] is False
    assert "quá" in answer.json()["error"]["query"][0] and took < TIME_LIMIT + 5, took
    assert requests.get(f"{url}/api/3/action/package_list", timeout=10).json()["result"] == OPEN  # still serving
    with pytest.raises(ckanapi.ValidationError):
        ckanapi.RemoteCKAN(url).action.datastore_search_sql()  # no sql at all
