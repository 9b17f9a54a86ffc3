"""Found in review: stale or reclassified data never served, CKAN harvester queries, typed
datastore filters, CKAN error shapes everywhere, byte-stable JSON-LD."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from lgsp.app import create_app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.paths import REPO_ROOT


def _edit(contracts_dir: Path, dataset_id: str, change) -> None:
    path = contracts_dir / f"{dataset_id}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def client(hub: Settings, contracts_dir: Path) -> TestClient:
    pipeline = Pipeline(Settings.from_env())
    for dataset_id in ("schools", "price_observations"):
        pipeline.run(dataset_id)
    return TestClient(create_app(Settings.from_env()))


def _dump_names(client: TestClient) -> set[str]:
    """The datasets /dump.zip holds; the archive must also read whole (every CRC checked)."""
    response = client.get("/dump.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        return {n.split("/")[0] for n in archive.namelist() if "/" in n}


def test_a_column_made_personal_is_never_served_from_old_releases(client: TestClient, contracts_dir: Path) -> None:
    assert client.get("/releases/schools/v1/schools.csv").status_code == 200

    def personal(data: dict) -> None:
        next(c for c in data["columns"] if c["name"] == "address")["personal_data"] = "basic"

    _edit(contracts_dir, "schools", personal)
    fresh = TestClient(create_app(Settings.from_env()))
    for path in ("/releases/schools/v1/schools.csv", "/releases/schools/latest/schools.csv", "/dataset/schools"):
        assert fresh.get(path).status_code == 404, path
    # The bulk dump follows at once: no schools, and its catalogue no longer describes them.
    assert _dump_names(fresh) == {"price_observations"}
    Pipeline(Settings.from_env()).run("schools")
    again = TestClient(create_app(Settings.from_env()))
    latest = again.get("/releases/schools/latest/schools.csv")
    assert latest.status_code == 200 and b"address" not in latest.content.splitlines()[0]
    assert again.get("/releases/schools/v1/schools.csv").status_code == 404
    assert _dump_names(again) == {"price_observations", "schools"}


def test_a_reclassified_dataset_leaves_the_catalogue_at_once(client: TestClient, contracts_dir: Path) -> None:
    assert "dataset/schools" in client.get("/catalog.ttl").text
    _edit(contracts_dir, "schools", lambda d: d.update(classification="restricted"))
    fresh = TestClient(create_app(Settings.from_env()))
    assert "dataset/schools" not in fresh.get("/catalog.ttl").text
    assert "dataset/schools" not in fresh.get("/catalog.jsonld").text
    assert _dump_names(fresh) == {"price_observations"}
    with zipfile.ZipFile(io.BytesIO(fresh.get("/dump.zip").content)) as archive:
        assert "dataset/schools" not in archive.read("catalog.ttl").decode()
        assert "dataset/schools" not in archive.read("catalog.jsonld").decode()


def test_ckan_harvester_queries(client: TestClient) -> None:
    def search(**params) -> dict:
        response = client.get("/api/3/action/package_search", params=params)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    assert search(sort="id asc", rows=100, start=0)["count"] == 2
    assert search(fq="metadata_modified:[2020-01-01T00:00:00Z TO *]")["count"] == 2
    assert search(fq="metadata_modified:[* TO 2020-01-01T00:00:00Z]")["count"] == 0
    assert [p["name"] for p in search(fq="-organization:stc")["results"]] == ["schools"]
    assert search(fq="+dataset_type:dataset capacity:public")["count"] == 2
    assert len(search(**{"facet.field": '["organization"]', "facet.limit": "-1"})["facets"]["organization"]) == 2


def test_datastore_filters_compare_typed_values(client: TestClient) -> None:
    def records(**params) -> dict:
        response = client.get("/api/3/action/datastore_search", params={"resource_id": "price_observations", **params})
        assert response.status_code == 200, response.text
        return response.json()["result"]

    first = records(limit=1)["records"][0]
    by_number = records(filters=f'{{"price": {int(first["price"])}}}')
    assert by_number["total"] >= 1 and {r["price"] for r in by_number["records"]} == {first["price"]}
    by_stamp = records(filters=f'{{"updated_at": "{first["updated_at"]}"}}')
    assert by_stamp["total"] >= 1
    assert records(q="_")["total"] == 0  # no LIKE wildcards from user text


def test_every_error_has_ckan_shape(client: TestClient) -> None:
    for method, path, kwargs, status in [
        ("get", "/api/3/action/package_list", {"params": {"limit": "abc"}}, 409),
        (
            "post",
            "/api/3/action/package_show",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            409,
        ),
        ("get", "/api/3/action/datastore", {}, 400),
        ("get", "/api/3/action/settings", {}, 400),
    ]:
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == status, (path, response.text)
        assert response.json()["success"] is False
    assert client.get("/dataset/schools", params={"page": "abc"}).status_code == 200
    assert client.get("/", params={"publisher": '"'}).status_code == 200
    fields = client.get("/api/3/action/datastore_search", params={"resource_id": "schools", "fields": "name,name"})
    assert fields.status_code == 200 and [f["id"] for f in fields.json()["result"]["fields"]] == ["name"]


def test_json_ld_is_byte_stable_across_processes(client: TestClient, hub: Settings) -> None:
    code = (
        "from lgsp.app import create_app; from fastapi.testclient import TestClient; "
        "import sys; sys.stdout.write(TestClient(create_app()).get('/catalog.jsonld').text)"
    )
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**__import__("os").environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, check=True)
        digests.add(hashlib.sha256(out.stdout).hexdigest())
    assert len(digests) == 1


def test_deep_or_mistyped_json_is_a_validation_error_not_a_crash(client: TestClient) -> None:
    """Issue 14, point 9: a deeply nested JSON body and a numeric facet.field were 500s."""
    nested = "[" * 5_000 + "]" * 5_000  # deeper than Python's recursion limit
    deep_body = client.post(
        "/api/3/action/package_search", content=nested, headers={"content-type": "application/json"}
    )
    assert deep_body.status_code == 409 and deep_body.json()["error"]["__type"] == "Validation Error"
    for facet in ("5", "[5]", '{"a": 1}', nested):
        answer = client.get("/api/3/action/package_search", params={"facet.field": facet})
        assert answer.status_code == 409, (facet[:10], answer.text[:200])
        assert "facet.field" in answer.json()["error"]
    deep_filters = client.get("/api/3/action/datastore_search", params={"resource_id": "x", "filters": nested})
    assert deep_filters.status_code in (404, 409)
