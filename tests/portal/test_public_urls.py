"""Resource URLs point where the request came to (its Host header), or at $LGSP_BASE_URL when it
is set; X-Forwarded-Proto/-Host are believed only from the addresses in $LGSP_TRUSTED_PROXIES."""

from __future__ import annotations

import json
import re

import ckanapi
import rdflib
import requests

from lgsp.core.settings import Settings
from tests.conftest import serve

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "data.quangtri.gov.vn"}


def _urls(url: str, headers: dict[str, str] | None = None) -> list[str]:
    """Every resource URL, the dataset URL and the help link of a package_show and a package_search."""
    shown = requests.get(f"{url}/api/3/action/package_show", params={"id": "schools"}, headers=headers, timeout=30)
    found = requests.get(f"{url}/api/3/action/package_search", params={"q": "giao duc"}, headers=headers, timeout=30)
    out = [shown.json()["help"], shown.json()["result"]["url"]]
    for package in (shown.json()["result"], found.json()["result"]["results"][0]):
        out += [r["url"] for r in package["resources"]]
    resource = requests.get(
        f"{url}/api/3/action/resource_show", params={"id": "schools-v1-csv"}, headers=headers, timeout=30
    )
    out += [
        resource.json()["result"]["url"],
        requests.get(f"{url}/dataset/schools.json", headers=headers, timeout=30).json()["url"],
    ]
    page = requests.get(f"{url}/dataset/schools", headers=headers, timeout=30).text
    found_ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert found_ld, "the dataset page has no schema.org JSON-LD"
    schema = json.loads(found_ld.group(1))
    out += [schema["url"], *(d["contentUrl"] for d in schema["distribution"])]
    for query in ("", "?page=1&per_page=5"):  # the whole DCAT catalogue and one Hydra page of it
        g = rdflib.Graph().parse(
            data=requests.get(f"{url}/catalog.ttl{query}", headers=headers, timeout=30).text, format="turtle"
        )
        downloads = [str(o) for o in g.objects(None, rdflib.URIRef("http://www.w3.org/ns/dcat#downloadURL"))]
        assert downloads
        out += downloads + [
            str(s) for s in g.subjects(rdflib.RDF.type, rdflib.URIRef("http://www.w3.org/ns/dcat#Dataset"))
        ]
    return out


def test_urls_follow_the_host_header_and_ignore_untrusted_forwarding(served: tuple[str, Settings]) -> None:
    url, hub = served
    assert "base_url" not in hub.model_fields_set  # LGSP_BASE_URL is not set
    assert all(u.startswith(f"{url}/") for u in _urls(url)), _urls(url)
    assert all(u.startswith("http://open.example.vn:8080/") for u in _urls(url, {"Host": "open.example.vn:8080"}))
    # No proxy is trusted: a client cannot make the hub print another host's links.
    assert all(u.startswith(f"{url}/") for u in _urls(url, FORWARDED))
    assert ckanapi.RemoteCKAN(url).action.status_show()["site_url"] == url
    csv = _urls(url)[2]
    assert requests.get(csv, timeout=30).status_code == 200  # the link works as given


def test_a_trusted_proxys_forwarded_host_and_proto(hub: Settings) -> None:
    trusted = hub.model_copy(update={"trusted_proxies": ("127.0.0.1",)})
    from lgsp.pipeline import Pipeline

    assert Pipeline(hub).run("schools").status == "published"
    for url, _app in serve(trusted):
        assert all(u.startswith("https://data.quangtri.gov.vn/") for u in _urls(url, FORWARDED)), _urls(url, FORWARDED)
        only_proto = _urls(url, {"X-Forwarded-Proto": "https"})
        assert all(u.startswith(f"https://{url.removeprefix('http://')}/") for u in only_proto)
        bad = _urls(url, {"X-Forwarded-Host": "evil.example/<script>"})  # not a host: ignored
        assert all(u.startswith(f"{url}/") for u in bad)
    other = hub.model_copy(update={"trusted_proxies": ("10.0.0.1",)})  # a proxy, but not this client
    for url, _app in serve(other):
        assert all(u.startswith(f"{url}/") for u in _urls(url, FORWARDED))


def test_a_configured_public_url_wins(hub: Settings) -> None:
    configured = Settings.model_validate({**hub.model_dump(), "base_url": "https://opendata.quangtri.gov.vn"})
    assert "base_url" in configured.model_fields_set
    from lgsp.pipeline import Pipeline

    assert Pipeline(hub).run("schools").status == "published"
    for url, _app in serve(configured):
        assert all(u.startswith("https://opendata.quangtri.gov.vn/") for u in _urls(url, {"Host": "elsewhere:1"}))
