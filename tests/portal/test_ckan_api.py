"""The CKAN Action API against the real `ckanapi` client over a live server, and the guard that no
personal column and no non-open dataset is reachable by any URL."""

from __future__ import annotations

import hashlib

import ckanapi
import pytest
import requests

from lgsp.core.settings import Settings
from lgsp.publishing.versions import latest_release

OPEN = ["ict_indicators", "price_observations", "schools"]


def test_ckanapi_lists_shows_and_searches(served: tuple[str, Settings]) -> None:
    url, _ = served
    ckan = ckanapi.RemoteCKAN(url)
    assert ckan.action.package_list() == OPEN
    assert ckan.action.status_show()["ckan_version"].startswith("2.")
    schools = ckan.action.package_show(id="schools")
    assert schools["title_translated"]["vi"] == "Danh sách cơ sở giáo dục"
    assert [r["format"] for r in schools["resources"]] == ["CSV", "PARQUET", "JSON", "CSV.GZ", "JSON.GZ"]
    assert schools["organization"]["name"] == "sgddt"
    found = ckan.action.package_search(q="giao duc", rows=5)  # without diacritics, as people type
    assert found["count"] == 1 and found["results"][0]["name"] == "schools"
    faceted = ckan.action.package_search(q="*:*", fq="res_format:CSV", **{"facet.field": ["organization", "groups"]})
    assert faceted["count"] == 3 and faceted["facets"]["organization"] == {"sgddt": 1, "skhcn": 1, "stc": 1}
    paged = ckan.action.package_search(rows=1, start=1, sort="name asc")
    assert [p["name"] for p in paged["results"]] == ["price_observations"] and paged["count"] == 3
    assert ckan.action.organization_list() == ["sgddt", "skhcn", "stc"]
    org = ckan.action.organization_show(id="stc", include_datasets=True)
    assert org["package_count"] == 1 and org["packages"][0]["name"] == "price_observations"
    resource = ckan.action.resource_show(id=schools["resources"][0]["id"])
    assert resource["url"].endswith("/releases/schools/v1/schools.csv")


def test_a_merged_departments_former_names_are_shown_and_found(served: tuple[str, Settings]) -> None:
    """The ICT indicators' publisher is the Department of Science and Technology since the 2025
    merger; the portal still knows it as the Department of Information and Communications."""
    url, _ = served
    ckan = ckanapi.RemoteCKAN(url)
    ict = ckan.action.package_show(id="ict_indicators")
    assert ict["organization"]["name"] == "skhcn" and ict["organization"]["title"] == "Sở Khoa học và Công nghệ"
    assert ict["organization"]["former_names"] == [
        {"vi": "Sở Thông tin và Truyền thông", "en": "Department of Information and Communications"}
    ]
    found = ckan.action.package_search(
        q="ke hoach va dau tu"
    )  # the finance department absorbed planning and investment
    assert [p["name"] for p in found["results"]] == ["price_observations"]
    page = requests.get(f"{url}/dataset/ict_indicators", timeout=30).text
    assert (
        'Sở Khoa học và Công nghệ</a> <span class="meta" id="former-names">(trước đây: Sở Thông tin và Truyền thông)'
        in page
    )
    assert (
        "(formerly: Department of Information and Communications)"
        in requests.get(f"{url}/dataset/ict_indicators", params={"lang": "en"}, timeout=30).text
    )
    assert "Trước đây: Sở Thông tin và Truyền thông" in requests.get(f"{url}/publisher/skhcn", timeout=30).text
    assert "former-names" not in requests.get(f"{url}/dataset/schools", timeout=30).text
    assert requests.get(f"{url}/dataset/ict_indicators.json", timeout=30).json()["organization"]["former_names"]


def test_ckanapi_errors_have_ckan_shapes(served: tuple[str, Settings]) -> None:
    url, _ = served
    ckan = ckanapi.RemoteCKAN(url)
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no_such_dataset")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(rows="many")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(fq="colour:blue")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.datastore_search(resource_id="schools", fields="school_code,shoe_size")
    raw = requests.get(f"{url}/api/3/action/package_show", params={"id": "nope"}, timeout=10)
    assert raw.status_code == 404 and raw.json()["success"] is False
    assert raw.json()["error"]["__type"] == "Not Found Error"


def test_datastore_search_pages_filters_and_sorts(served: tuple[str, Settings]) -> None:
    url, _ = served
    ckan = ckanapi.RemoteCKAN(url)
    first = ckan.action.datastore_search(resource_id="schools", limit=5)
    assert first["total"] > 700 and [r["_id"] for r in first["records"]] == [1, 2, 3, 4, 5]
    second = ckan.action.datastore_search(resource_id="schools", limit=5, offset=5)
    assert [r["_id"] for r in second["records"]] == [6, 7, 8, 9, 10]
    assert second["_links"]["next"].endswith("offset=10")
    filtered = ckan.action.datastore_search(resource_id="schools", filters={"level": "THPT"}, limit=1000)
    assert filtered["records"] and {r["level"] for r in filtered["records"]} == {"THPT"}
    assert filtered["total"] == len(filtered["records"])
    sorted_ = ckan.action.datastore_search(
        resource_id="schools", sort="pupils desc", fields=["school_code", "pupils"], limit=3
    )
    pupils = [r["pupils"] for r in sorted_["records"]]
    assert pupils == sorted(pupils, reverse=True) and set(sorted_["records"][0]) == {"school_code", "pupils"}
    text = ckan.action.datastore_search(resource_id="schools", q="truong thpt", limit=1000)
    assert 0 < text["total"] <= filtered["total"] + 5


def test_downloads_match_their_checksums_and_support_ranges(served: tuple[str, Settings]) -> None:
    url, hub = served
    release = latest_release(hub.home, "price_observations")
    assert release is not None
    for d in release.distributions:
        # identity: the file as released (gzip on request has the .gz's tag: tests/portal/test_downloads.py)
        response = requests.get(
            f"{url}/releases/price_observations/latest/{d.file}", headers={"accept-encoding": "identity"}, timeout=30
        )
        assert response.status_code == 200 and response.headers["content-type"].startswith(d.media_type)
        assert hashlib.sha256(response.content).hexdigest() == d.sha256 == response.headers["etag"].strip('"')
        again = requests.get(
            f"{url}/releases/price_observations/v1/{d.file}",
            headers={"if-none-match": response.headers["etag"], "accept-encoding": "identity"},
            timeout=30,
        )
        assert again.status_code == 304
    part = requests.get(
        f"{url}/releases/price_observations/v1/price_observations.csv",
        headers={"range": "bytes=0-2", "accept-encoding": "identity"},
        timeout=30,
    )
    assert part.status_code == 206 and part.content == b"\xef\xbb\xbf"
    assert requests.get(f"{url}/catalog.ttl", timeout=30).headers["content-type"].startswith("text/turtle")
    assert requests.get(f"{url}/catalog.jsonld", timeout=30).headers["content-type"] == "application/ld+json"


def test_no_personal_column_and_no_non_open_dataset_is_reachable(served: tuple[str, Settings]) -> None:
    url, _ = served
    forbidden = ["driving_licences", "citizen_id", "full_name", "birth_date"]
    responses = [
        requests.get(f"{url}/api/3/action/package_list", timeout=30),
        requests.get(f"{url}/api/3/action/package_search", params={"rows": 1000}, timeout=30),
        requests.get(f"{url}/api/3/action/organization_list", params={"all_fields": "true"}, timeout=30),
        requests.get(f"{url}/catalog.ttl", timeout=30),
        requests.get(f"{url}/catalog.jsonld", timeout=30),
        requests.get(f"{url}/", params={"lang": "en"}, timeout=30),
        requests.get(f"{url}/dump.zip", timeout=30),
    ]
    for dataset_id in OPEN:
        package = requests.get(f"{url}/api/3/action/package_show", params={"id": dataset_id}, timeout=30).json()[
            "result"
        ]
        responses.append(
            requests.get(
                f"{url}/api/3/action/datastore_search", params={"resource_id": dataset_id, "limit": 32000}, timeout=30
            )
        )
        for resource in package["resources"]:
            responses.append(requests.get(resource["url"].replace("http://localhost:8000", url), timeout=30))
    for response in responses:
        assert response.status_code == 200, response.url
        body = response.content.decode("utf-8", errors="ignore")
        assert not [f for f in forbidden if f in body], response.url
    for path in [
        "/api/3/action/package_show?id=driving_licences",
        "/api/3/action/datastore_search?resource_id=driving_licences",
        "/api/3/action/resource_show?id=driving_licences-v1-csv",
        "/releases/driving_licences/latest/driving_licences.csv",
        "/releases/driving_licences/v1/driving_licences.csv",
        "/dataset/driving_licences",
        "/dataset/driving_licences.json",
        "/publisher/sxd",
        "/api/3/action/datastore_search?resource_id=schools&fields=citizen_id",
    ]:
        response = requests.get(f"{url}{path}", timeout=30)
        if "fields=" in path:  # asking for a column that is not public is a bad request, not data
            assert response.status_code == 409 and response.json()["error"]["fields"]
        else:
            assert response.status_code == 404 and "citizen" not in response.text, path
