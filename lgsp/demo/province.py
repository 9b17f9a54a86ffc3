"""`lgsp demo`: build the sandbox province and run every dataset's Airflow DAG in this process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rich.console import Console

from lgsp import airflow_env
from lgsp.core.errors import ConfigError
from lgsp.core.settings import Settings

if TYPE_CHECKING:
    from lgsp.warehouse.runs import RunRecord

DEMO_ENTERPRISES = 20_000


def run_dags(
    settings: Settings, dataset_ids: list[str] | None = None, console: Console | None = None
) -> list[RunRecord]:
    """Run the generated DAGs with `dag.test()` and return each run's meta.runs record."""
    airflow_env.prepare(settings)
    from lgsp.dag_factory import build_dags
    from lgsp.publishing.versions import latest_release
    from lgsp.warehouse.runs import RunRecord, RunStatus
    from lgsp.warehouse.store import Warehouse

    dags = build_dags(settings.contracts_dir)
    warehouse = Warehouse(settings)
    results = []
    for dag_id, dag in sorted(dags.items(), key=lambda item: _order(settings, item[0])):
        if dag_id.startswith("lgsp_release_"):
            continue  # run below, as Airflow would when the Asset changes
        dataset_id = dag_id.removeprefix("lgsp_")
        if dataset_ids and dataset_id not in dataset_ids:
            continue
        started = time.monotonic()
        if console:
            console.print(f"[bold]{dag_id}[/bold]: extract → validate → publish")
        dag_run = dag.test()
        record = warehouse.run(dataset_id, dag_run.run_id) or RunRecord(
            dataset_id=dataset_id, run_id=dag_run.run_id, status=RunStatus.FAILED,
            error=f"DAG run ended {dag_run.state} without a run record",
        )  # fmt: skip
        releasing = dags.get(f"lgsp_release_{dataset_id}")
        if releasing is not None and record.status == RunStatus.PUBLISHED:
            releasing.test()
            made = latest_release(settings.home, dataset_id)
            record.release = made.version if made else "release failed: see the lgsp_release DAG's log"
        record.seconds = time.monotonic() - started
        results.append(record)
    return results


def _order(settings: Settings, dag_id: str) -> tuple[int, str]:
    """Catalogues first: datasets with administrative-unit columns are standardised against them.
    Derived datasets after their inputs (Airflow would run them when their inputs' Assets change)."""
    from lgsp.schemas.contract import DerivedSource
    from lgsp.schemas.loader import load_contracts

    contracts = load_contracts(settings.contracts_dir)
    catalogues = {c.admin_unit.catalogue for contract in contracts.values() for c in contract.columns if c.admin_unit}

    def depth(dataset_id: str, trail: frozenset[str] = frozenset()) -> int:
        source = contracts[dataset_id].source if dataset_id in contracts else None
        if not isinstance(source, DerivedSource) or dataset_id in trail:  # a cycle is `lgsp check`'s to report
            return 0
        return 1 + max(depth(i, trail | {dataset_id}) for i in source.inputs)

    dataset_id = dag_id.removeprefix("lgsp_")
    return (0 if dataset_id in catalogues else 1 + depth(dataset_id), dag_id)


def national_connections(simulator: Any) -> dict[str, str]:
    """Connection URLs of the simulated national systems: OAuth2 client id and secret as login
    and password, the API key as the password."""
    base = simulator.base_url.split("://", 1)[1]
    oauth = f"http://{quote(simulator.client_id, safe='')}:{quote(simulator.client_secret, safe='')}@{base}"
    return {
        "national_dvhc": oauth,
        "national_dkkd": oauth,
        "national_vbpl": f"http://:{quote(simulator.api_key, safe='')}@{base}",
        "national_reporting": oauth,
    }


def run_demo(
    settings: Settings, *, scale: int, seed: int, dirty_share: float, console: Console
) -> tuple[list[RunRecord], bool]:
    """Every dataset's run, and whether the reports' story (built, refused, resolved, accepted) held."""
    try:
        from lgsp_sandbox.build import add_connections, build_province
        from lgsp_sandbox.national_api.server import Simulator
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "Tỉnh mẫu là một gói riêng, chưa được cài đặt / the demo province is a separate distribution "
            f"and is not installed ({exc.name}): `pip install lgsp-sandbox`, or run `make demo` in a checkout"
        ) from None

    with console.status(f"Building the sandbox province ({scale:,} environmental readings)…"):
        started = time.monotonic()
        urls = build_province(settings.sandbox_dir, seed=seed, scale=scale, dirty_share=dirty_share)
    console.print(
        f"Sandbox: {len(urls)} departmental databases in {settings.sandbox_dir} ({time.monotonic() - started:.1f} s)"
    )
    with console.status("Preparing Airflow (metadata database, pool)…"):
        airflow_env.prepare(settings)
    from lgsp.demo import reports as reports_demo
    from lgsp.demo import sharing as sharing_demo
    from lgsp.publishing.counts import ensure_store
    from lgsp.schemas.loader import load_contracts

    with console.status("Starting the national-API simulator…"):
        api = Simulator(enterprises=DEMO_ENTERPRISES, seed=seed)
        api.start()
    try:
        add_connections(settings.sandbox_dir, national_connections(api))
        console.print(f"National-API simulator at {api.base_url} (administrative units, enterprises, legal documents)")
        # The exchange statistics and the log's anchors are published from the exchange log:
        # sample exchanges come first.
        contracts = load_contracts(settings.contracts_dir)
        ensure_store(settings.home)  # download_stats publishes the portal's counts: none yet, an empty table
        from_the_log = sorted(k for k, c in contracts.items() if c.source.connection == "exchange_stats")
        results = run_dags(settings, [d for d in contracts if d not in from_the_log], console=console)
        reported = reports_demo.run(settings, console)
    finally:
        api.stop()
    sharing_demo.run(settings, console)
    if from_the_log:
        results += run_dags(settings, from_the_log, console=console)
    return results, reported
