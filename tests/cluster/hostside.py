"""What tests/cluster/test_province.py runs on its test hosts: the root namespace never sends to a
test host's address, so whatever talks to the servers runs inside a host's namespace, as
`python -m tests.cluster.hostside <command> …` from the checkout, printing one JSON line last.

setup   the operator's first steps: the buckets, the lake's catalog (and its extensions), the
        consumers, grants, keys and a department's staff login in the registry
twin    every contract run on an embedded home (a DuckDB file) built from the same province
check   the lake's run records and tables, and the release store's pointers
revoke  a grant revoked through one replica's admin pages, the other's refusal timed
load    share-API requests against both replicas, each marked, until told to stop
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROWS = "/api/share/v1/datasets/schools/rows"


def released(home: Path, datasets: list[str]) -> dict[str, dict[str, str]]:
    """Each dataset's latest release under `home`: its files and their SHA-256 (as its manifest says)."""
    from lgsp.publishing.versions import latest_release

    return {
        d: {x.file: x.sha256 for x in made.distributions}
        for d in datasets
        if (made := latest_release(home, d)) is not None
    }


def counts(run: Any) -> dict[str, Any]:
    """A run record's status and counts, as both profiles are compared on them."""
    keys = ("status", "rows_extracted", "rows_published", "rows_quarantined", "rows_rejected", "rows_superseded")
    return {k: str(getattr(run, k)) if k == "status" else getattr(run, k) for k in keys}


def _wait_for(url: str, seconds: float = 120, answered: tuple[int, ...] = (200,)) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=5).status_code in answered:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} never answered")
        time.sleep(0.2)


def setup(national: str) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    from lgsp.core.settings import Settings
    from lgsp.sharing import consumers
    from lgsp.sharing.grants import add_grant
    from lgsp.sharing.staff import add_staff
    from lgsp.warehouse import lake

    settings = Settings.from_env()
    assert settings.s3_secret is not None and settings.release_store and settings.lake_data_path
    s3 = boto3.client(
        "s3", endpoint_url=f"http://{settings.s3_endpoint}", aws_access_key_id=settings.s3_key_id,
        aws_secret_access_key=settings.s3_secret.get_secret_value(), region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    for url in (settings.lake_data_path, settings.release_store):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            s3.create_bucket(Bucket=url.removeprefix("s3://").split("/")[0])
    # The lake's first connection makes its catalog and installs the extensions: once, here, not by
    # the first tasks at the same moment.
    lake.Lake(settings).connect().close()
    made = {"password": add_staff(settings, "sgddt", "SGDDT")}
    for role, code in (("load", "TTPVHCC"), ("revoke", "CATINH")):
        consumers.add_consumer(settings, code, f"Agency {code}", f"{code.lower()}@example.gov.vn", "provincial")
        grant = add_grant(settings, code, "schools", purpose="tra cứu", granted_by="sgddt")
        made[role] = {"key": consumers.issue_key(settings, code), "grant": grant.id}
    _wait_for(f"{national}/_admin/stats", answered=(200, 403))  # 403: its admin API is for loopback
    return made


def twin(home: str, order: list[str]) -> dict[str, Any]:
    """Every contract in `order` on an embedded home (its connections already made)."""
    from lgsp.core.settings import Settings
    from lgsp.pipeline import Pipeline
    from lgsp.publishing.counts import ensure_store
    from tests.paths import REPO_ROOT

    settings = Settings(home=Path(home), contracts_dir=REPO_ROOT / "schemas" / "datasets")
    assert not settings.lake
    ensure_store(settings.home)
    pipeline = Pipeline(settings)
    runs = {d: counts(pipeline.run(d)) for d in order}
    return {"runs": runs, "released": released(settings.home, order)}


def check(datasets: list[str]) -> dict[str, Any]:
    """The lake's run records, each table's rows and doubled keys, and the store's pointers."""
    from lgsp.core import duck
    from lgsp.core.settings import Settings
    from lgsp.publishing.store_client import release_store
    from lgsp.schemas.loader import load_contracts
    from lgsp.warehouse.store import Warehouse

    settings = Settings.from_env()
    contracts = load_contracts(settings.contracts_dir)
    warehouse = Warehouse(settings)
    records = warehouse.runs(limit=10_000)
    runs = [dict(counts(r), dataset=r.dataset_id, run_id=r.run_id) for r in records]
    # What each validation spent importing Great Expectations (0 on a worker that imported it at start).
    reports = [Path(str(r.report)).with_suffix(".json") for r in records if r.report]
    imports = {
        p.name: json.loads(p.read_text(encoding="utf-8")).get("great_expectations_import_seconds")
        for p in reports
        if p.exists()
    }
    tables = {}
    with warehouse.reader() as con:
        for d in datasets:
            if not duck.table_exists(con, "main", d):
                continue
            key = ", ".join(duck.quote(k) for k in contracts[d].primary_key)
            rows = con.execute(f"SELECT count(*) FROM main.{d}").fetchone()
            doubled = con.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM main.{d} GROUP BY {key} HAVING count(*) > 1)"
            ).fetchone()
            assert rows is not None and doubled is not None
            tables[d] = {"rows": rows[0], "doubled": doubled[0]}
    store = release_store(settings)
    assert store is not None
    pointers = {}
    for d in datasets:
        found, _ = store.pointer(d)
        if found is not None:
            pointers[d] = {"version": found.version, "files": {x.file: x.sha256 for x in found.distributions}}
    local = {d: r.version for d in datasets if (r := _latest(settings.home, d)) is not None}
    return {"runs": runs, "tables": tables, "pointers": pointers, "local": local, "imports": imports}


def _latest(home: Path, dataset: str) -> Any:
    from lgsp.publishing.versions import latest_release

    return latest_release(home, dataset)


def revoke(web1: str, web2: str, key: str, password: str, grant: str) -> dict[str, Any]:
    """Read through both replicas, revoke the grant on web1's admin pages, time web2's refusal."""
    import httpx

    for base in (web1, web2):
        _wait_for(f"{base}/api/3/action/status_show")
    before = [
        httpx.get(f"{b}{ROWS}", params={"limit": 5}, headers={"X-API-Key": key}).status_code for b in (web1, web2)
    ]
    with httpx.Client(base_url=web1, follow_redirects=True) as browser:
        csrf = browser.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
        browser.post("/admin/login", data={"csrf": csrf, "username": "sgddt", "password": password})
        csrf = browser.get("/admin/").text.split('name="csrf" value="')[1].split('"')[0]
        revoked = browser.post(f"/admin/grants/{grant}/revoke", data={"csrf": csrf})
        done = time.monotonic()
    after = []
    while time.monotonic() - done < 5:
        status = httpx.get(f"{web2}{ROWS}", headers={"X-API-Key": key}).status_code
        after.append((round(time.monotonic() - done, 3), status))
        if status == 403:
            break
        time.sleep(0.05)
    web1_after = httpx.get(f"{web1}{ROWS}", headers={"X-API-Key": key}).status_code
    return {"before": before, "revoked": f"revoked: grant #{grant}" in revoked.text, "after": after,
            "web1_after": web1_after}  # fmt: skip


def load(web1: str, web2: str, key: str, threads: int, stop_file: str) -> dict[str, Any]:
    """`threads` clients on each replica, each request's filter carrying a marker of its own
    (`zz-<replica>-<n>`, a school code no school has, beside one that exists) that the exchange log
    records as sent, until `stop_file` exists. Prints `loading` once every client has answers.
    A client whose replica stops answering stops too."""
    import httpx

    for base in (web1, web2):
        _wait_for(f"{base}/api/3/action/status_show")
    first = httpx.get(f"{web2}{ROWS}", params={"limit": 1000, "fields": "school_code"}, headers={"X-API-Key": key})
    codes = [r["school_code"] for r in first.json()["rows"]]
    counter = itertools.count()
    answered: list[tuple[str, str, int | None, float]] = []
    started = threading.Barrier(2 * threads + 1)

    def client(name: str, base: str) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
            waiting = True
            while not Path(stop_file).exists():
                n = next(counter)
                marker = f"zz-{name}-{n}"
                filters = json.dumps({"school_code": [codes[n % len(codes)], marker]})
                try:
                    status: int | None = http.get(
                        ROWS, params={"filters": filters, "fields": "school_code"}
                    ).status_code
                except httpx.TransportError:
                    status = None
                answered.append((name, marker, status, time.time()))
                if waiting:
                    waiting = False
                    started.wait()
                if status is None:
                    break

    workers = [
        threading.Thread(target=client, args=(name, base), daemon=True)
        for name, base in (("web1", web1), ("web2", web2))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    started.wait(timeout=60)
    print("loading", flush=True)
    for worker in workers:
        worker.join(timeout=60)
    return {"answered": answered}


COMMANDS = {"setup": setup, "twin": twin, "check": check, "revoke": revoke, "load": load}


def main(argv: list[str]) -> None:
    command, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = COMMANDS[command](**args)  # type: ignore[operator]
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
