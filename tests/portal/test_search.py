"""Ranked search (issue 16): the same engine behind CKAN's package_search and the home page,
over a hub that has released price, education, environment and ICT datasets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ckanapi
import pytest
import requests

from lgsp.core.settings import Settings
from lgsp.core.text import without_diacritics
from lgsp.pipeline import Pipeline
from tests.conftest import CONTRACTS, make_home, serve

RELEASED = ("schools", "schools_by_commune", "price_observations", "price_index_monthly", "env_readings",
            "env_readings_monthly", "ict_indicators")  # fmt: skip
EDUCATION = {"schools", "schools_by_commune"}
PRICES = {"price_observations", "price_index_monthly"}
ENVIRONMENT = {"env_readings", "env_readings_monthly"}


@pytest.fixture(scope="module")
def catalogue_hub(
    tmp_path_factory: pytest.TempPathFactory, sandbox_dir: Path, catalogue: Path
) -> Iterator[tuple[str, Settings]]:
    home = tmp_path_factory.mktemp("search") / "home"
    make_home(home, sandbox_dir, catalogue)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LGSP_HOME", str(home))
        mp.setenv("LGSP_CONTRACTS", str(CONTRACTS))
        mp.delenv("LGSP_BASE_URL", raising=False)
        settings = Settings.from_env()
        pipeline = Pipeline(settings)
        for dataset_id in RELEASED:
            assert pipeline.run(dataset_id).status == "published", dataset_id
        for url, _app in serve(settings):
            yield url, settings


def _search(url: str, **params: Any) -> dict[str, Any]:
    return dict(ckanapi.RemoteCKAN(url).action.package_search(**params))


def _names(url: str, **params: Any) -> list[str]:
    return [p["name"] for p in _search(url, **params)["results"]]


def _home(url: str, **params: str) -> list[str]:
    """The dataset links of the home page's results, in order."""
    page = requests.get(f"{url}/", params=params, timeout=30)
    assert page.status_code == 200
    return re.findall(r'<h2><a href="/dataset/(\w+)\?', page.text)


def test_exact_diacritics_rank_prices_above_education(catalogue_hub: tuple[str, Settings]) -> None:
    url, _ = catalogue_hub
    names = _names(url, q="giá", rows=20)
    assert set(names[:2]) == PRICES, names  # `giá` (price), not `giáo` (education) nor `giá trị` (value) first
    assert not EDUCATION & set(names[:2])
    assert _home(url, q="giá")[:2] == names[:2]  # the page asks the same engine
    assert set(_names(url, q="GIÁ CẢ", rows=2)) == PRICES  # case does not matter


def test_typing_without_diacritics(catalogue_hub: tuple[str, Settings]) -> None:
    url, _ = catalogue_hub
    names = _names(url, q="giao duc", rows=20)
    assert set(names[:2]) == EDUCATION, names
    assert set(_home(url, q="giao duc")[:2]) == EDUCATION
    water = _names(url, q="chat luong nuoc", rows=20)
    assert water and set(water) <= ENVIRONMENT and "env_readings" in water, water  # words across fields
    environment = _names(url, q="moi truong", rows=20)
    assert set(environment[:2]) == ENVIRONMENT, environment  # not the price observations beside them
    assert _home(url, q="moi truong")[:2] == environment[:2]


def test_columns_publishers_and_former_names_are_searched(catalogue_hub: tuple[str, Settings]) -> None:
    url, _ = catalogue_hub
    assert _names(url, q="station_code")[:1] in (["env_readings"], ["env_readings_monthly"])  # a column name
    assert set(_names(url, q="tai nguyen va moi truong", rows=5)[:2]) == ENVIRONMENT  # a publisher's former name
    assert _names(url, q="zzqx nothing like this") == []
    assert _search(url, q="zzqx")["count"] == 0


def test_facets_filters_and_sorts(catalogue_hub: tuple[str, Settings]) -> None:
    url, _ = catalogue_hub
    fields = ["organization", "groups", "res_format", "license_id", "classification", "update_frequency"]
    found = _search(url, q="*:*", rows=0, **{"facet.field": fields})
    assert found["count"] == len(RELEASED) and found["results"] == []
    assert found["facets"]["groups"]["envi"] == 2 and found["facets"]["classification"] == {"open": len(RELEASED)}
    assert found["facets"]["organization"]["snnmt"] == 2 and sum(found["facets"]["license_id"].values()) == len(
        RELEASED
    )
    assert {i["name"] for i in found["search_facets"]["update_frequency"]["items"]} >= {"hourly"}
    envi = _search(url, fq="groups:envi", **{"facet.field": ["organization"]})
    assert {p["name"] for p in envi["results"]} == ENVIRONMENT and envi["facets"]["organization"] == {"snnmt": 2}
    assert _names(url, q="giá", fq="-groups:econ") == [n for n in _names(url, q="giá", rows=20) if n not in PRICES]
    assert _names(url, q="moi truong organization:snnmt", rows=20) == _names(
        url, q="moi truong", fq="organization:snnmt"
    )
    by_name = _names(url, sort="name asc", rows=20)
    assert by_name == sorted(RELEASED)
    assert _names(url, sort="name desc", rows=3) == sorted(RELEASED, reverse=True)[:3]
    newest = _search(url, sort="metadata_modified desc", rows=20)["results"]
    stamps = [p["metadata_modified"] for p in newest]
    assert stamps == sorted(stamps, reverse=True)
    assert _names(url, sort="name asc", rows=2, start=2) == sorted(RELEASED)[2:4]  # paging
    ranked = _search(url, q="moi truong", sort="score desc, metadata_modified desc")
    assert ranked["sort"] == "score desc, metadata_modified desc" and ranked["count"] >= 2


def test_home_page_facets_sorting_and_paging(catalogue_hub: tuple[str, Settings]) -> None:
    url, _ = catalogue_hub
    page = requests.get(f"{url}/", params={"q": "moi truong", "licence": "CC-BY-4.0"}, timeout=30).text
    assert "Giấy phép" in page and "Phân loại" in page and "Dữ liệu mở" in page
    assert 'option value="name"' in page and "Phù hợp nhất" in page
    english = requests.get(f"{url}/", params={"lang": "en"}, timeout=30).text
    assert "Classification" in english and "Open data" in english and "Sort by" in english
    named = requests.get(f"{url}/", params={"sort": "name"}, timeout=30).text
    titles = re.findall(r'<h2><a href="/dataset/\w+\?lang=vi">([^<]+)</a>', named)
    assert len(titles) == len(RELEASED)
    assert titles == sorted(titles, key=lambda t: without_diacritics(t).lower())  # by title, as people read it
    assert _home(url, q="giao duc", theme="educ")[:2] and set(_home(url, q="giao duc", theme="envi")) == set()
    assert requests.get(f"{url}/", params={"page": "abc"}, timeout=30).status_code == 200  # a bad page is page 1
    assert requests.get(f"{url}/", params={"format": "json", "q": "giá"}, timeout=30).json()["count"] >= 2


def test_bad_requests_are_ckan_validation_errors(catalogue_hub: tuple[str, Settings]) -> None:
    url, _ = catalogue_hub
    ckan = ckanapi.RemoteCKAN(url)
    for params in ({"sort": "shoe_size asc"}, {"sort": "name sideways"}, {"fq": "colour:blue"}, {"fq": 'name:"open'},
                   {"facet.field": ["colour"]}, {"facet.field": "not json"}, {"rows": "-1"}, {"start": "x"}):  # fmt: skip
        with pytest.raises(ckanapi.ValidationError):
            ckan.action.package_search(**params)
    raw = requests.get(f"{url}/api/3/action/package_search", params={"sort": "colour asc"}, timeout=30)
    assert raw.status_code == 409 and raw.json()["error"]["__type"] == "Validation Error"
