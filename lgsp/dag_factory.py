"""One Airflow DAG per dataset contract: extract → validate → publish, passing only the run id.

Imported by the file in dags/ at parse time, so it imports nothing heavy: the tasks import the
pipeline (DuckDB, Great Expectations) only when they run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import operator
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, get_current_context, task

from lgsp.airflow_env import WAREHOUSE_POOL
from lgsp.schemas.contract import Contract, DerivedSource
from lgsp.schemas.loader import contract_files, problems_in
from lgsp.schemas.reports import Report
from lgsp.warehouse.runs import Step

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "lgsp",
    "retries": 3,
    "retry_delay": dt.timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
}


def asset_for(contract: Contract) -> Asset:
    """The published table as an Airflow Asset, so downstream DAGs can run when it changes."""
    return Asset(name=f"lgsp.{contract.id}", uri=f"lgsp://warehouse/main/{contract.id}", group="lgsp")


def schedule_for(contract: Contract, contracts: dict[str, Contract]) -> Any:
    """The contract's schedule; for a derived dataset, any of its inputs' Assets (`a | b`): one
    run each time an input publishes (events that arrive during a run make one run after it).
    An input with no contract has no Asset to wait on (`lgsp check` reports it)."""
    if not isinstance(contract.source, DerivedSource):
        return contract.schedule
    assets = [asset_for(contracts[i]) for i in contract.source.inputs if i in contracts]
    return functools.reduce(operator.or_, assets) if assets else None


def _step(step: Step, dataset_id: str, **options: Any) -> dict[str, Any]:
    """Run one pipeline step for the current DAG run.

    A terminal error (bad contract, wrong password) fails the task without retries; a transient
    one is retried by Airflow, and its last try records the failed run. A rejected run fails the
    publish task too, so the DAG run shows red and the Asset does not announce new data; an
    unchanged run skips it, so the Asset announces nothing either.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from lgsp.core.files import keep_private
    from lgsp.core.settings import Settings
    from lgsp.pipeline import Pipeline
    from lgsp.warehouse.runs import RunRecord, RunStatus

    context = get_current_context()
    run_id = context["run_id"]
    settings = Settings.from_env()
    keep_private(settings)
    pipeline = Pipeline(settings)
    try:
        result = pipeline.step(step)(dataset_id, run_id, **options)
    except Exception as exc:
        transient = bool(getattr(exc, "transient", False)) or not hasattr(exc, "transient")
        ti = context["ti"]
        if not transient or ti.try_number > ti.max_tries:
            pipeline.fail(dataset_id, run_id, exc)
        if not transient:
            raise AirflowFailException(str(exc)) from exc
        raise
    if isinstance(result, RunRecord) and result.status is RunStatus.UNCHANGED:
        # Nothing new was published: skipped, the task announces no Asset event, so nothing
        # downstream (the release, a derived dataset, a report) recomputes for nothing.
        raise AirflowSkipException(f"{dataset_id}: nothing new to publish (run {result.status})")
    if isinstance(result, RunRecord) and not result.succeeded:
        if result.status is RunStatus.PARTIAL and result.published:
            # What was published is released now: a failed task announces no Asset event.
            with contextlib.suppress(Exception):
                pipeline.release(dataset_id)
        raise AirflowFailException(f"{dataset_id}: run {result.status}: {_why(result)}")
    # What the task shows in Airflow (XCom): counts, never data.
    summary = ("status", "rows_extracted", "rows_published", "rows_quarantined")
    return result.model_dump(mode="json", include={k for k in summary if k in type(result).model_fields})


def _why(run: Any) -> str:
    """What the failed task says: the run's own reason, or its counts."""
    if run.error:
        return str(run.error)
    return (
        f"{run.rows_published} rows published, {run.rows_quarantined} quarantined, "
        f"{run.rows_rejected} in rejected files (lgsp submissions {run.dataset_id})"
    )


def build_dag(contract: Contract, contracts: dict[str, Contract] | None = None) -> DAG:
    """The dataset's DAG; `contracts` (by id) gives a derived dataset the Assets of its inputs."""
    dataset_id = contract.id
    with DAG(
        dag_id=f"lgsp_{dataset_id}",
        description=f"{contract.title.vi} / {contract.title.en}",
        schedule=schedule_for(contract, contracts or {}),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lgsp", contract.publisher.code, contract.classification.value],
        doc_md=f"**{contract.title.vi}** ({contract.publisher.name.vi})\n\n{contract.description.vi}\n\n"
        f"Contract: `schemas/datasets/{dataset_id}.yaml`",
    ) as dag:

        @task(task_id="extract")
        def extract() -> dict[str, Any]:
            return _step(Step.EXTRACT, dataset_id)

        @task(task_id="validate")
        def validate() -> dict[str, Any]:
            return _step(Step.VALIDATE, dataset_id)

        @task(task_id="publish", pool=WAREHOUSE_POOL, outlets=[asset_for(contract)])
        def publish() -> dict[str, Any]:
            return _step(Step.PUBLISH, dataset_id, release=False)  # the Asset triggers the release

        extract() >> validate() >> publish()
    return dag


def build_release_dag(contract: Contract) -> DAG:
    """For an open dataset: when its Asset changes, release it and regenerate the catalogue."""
    dataset_id = contract.id
    with DAG(
        dag_id=f"lgsp_release_{dataset_id}",
        description=f"Open-data release of {dataset_id}",
        schedule=[asset_for(contract)],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lgsp", "release", contract.publisher.code],
        doc_md=f"Releases **{contract.title.vi}** (CSV, Parquet, JSON, datapackage.json) and regenerates the "
        "DCAT catalogue whenever the published table changes. Unchanged data makes no new release.",
    ) as dag:

        @task(task_id="release", pool=WAREHOUSE_POOL)
        def release() -> dict[str, Any]:
            from lgsp.core.files import keep_private
            from lgsp.core.settings import Settings
            from lgsp.pipeline import Pipeline

            settings = Settings.from_env()
            keep_private(settings)
            made = Pipeline(settings).release(dataset_id)
            return {"version": made.version, "rows": made.rows}

        release()
    return dag


def build_report_dag(report: Report, inputs: list[Contract]) -> DAG:
    """A report is rebuilt when any dataset it reads publishes (any of their Assets): a new
    version only when its numbers change. Without inputs it runs only when triggered."""
    assets = [asset_for(c) for c in inputs]
    code = report.code
    with DAG(
        dag_id=f"lgsp_report_{code}",
        description=f"Report {code}",
        schedule=functools.reduce(operator.or_, assets) if assets else None,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lgsp", "report", report.owner],
        doc_md=f"Builds the report **{report.title.vi}** (HTML, PDF, XLSX, JSON) "
        + (f"whenever {', '.join(c.id for c in inputs)} publishes" if inputs else "when triggered")
        + ". Unchanged numbers make no new version.",
    ) as dag:

        @task(task_id="build", pool=WAREHOUSE_POOL)
        def build() -> dict[str, Any]:
            from lgsp.core.files import keep_private
            from lgsp.core.settings import Settings
            from lgsp.reports.run import build_reports

            settings = Settings.from_env()
            keep_private(settings)
            made = build_reports(settings, [code])[0]
            return {"version": made.version.version, "new": made.new, "disputed": made.version.disputed}

        build()
    return dag


def build_report_dags(templates: Path, register: Path, directory: Path) -> dict[str, DAG]:
    """A DAG for every valid report template, scheduled on the datasets its indicators read
    (invalid templates and indicators are `lgsp check`'s to report; they get no DAG)."""
    from lgsp.schemas.indicators import indicator_files, indicator_problems, needed
    from lgsp.schemas.reports import report_files, report_problems

    indicators = {i.code: i for i in (indicator_problems(p)[0] for p in indicator_files(register)) if i}
    contracts = {c.id: c for c in (problems_in(p)[0] for p in contract_files(directory)) if c}
    dags = {}
    for path in report_files(templates):
        report = report_problems(path)[0]
        if report is None:
            continue
        wanted = [r.indicator for r in report.rows if r.indicator and r.indicator in indicators]
        read = {s.dataset for code in needed(indicators, wanted) for s in indicators[code].sources}
        dag = build_report_dag(report, [contracts[d] for d in sorted(read) if d in contracts])
        dags[dag.dag_id] = dag
    return dags


def build_maintenance_dag(schedule: str, keep_days: float) -> DAG:
    """On a DuckLake, the upkeep a publish leaves for later (lgsp.warehouse.maintenance), on a
    schedule: it holds the whole warehouse's lock, so publishes wait for it and it for them."""
    with DAG(
        dag_id="lgsp_maintenance",
        description="Bảo trì hồ dữ liệu / Upkeep of the DuckLake warehouse",
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["lgsp", "maintenance"],
        doc_md=f"Prunes what publishes left in `meta`, expires snapshots older than {keep_days:g} days "
        "(LGSP_LAKE_KEEP_DAYS), merges small files and deletes the files no snapshot needs. "
        "The same as `lgsp maintain`.",
    ) as dag:

        @task(task_id="maintain")
        def maintain() -> dict[str, int]:
            from lgsp.core.settings import Settings
            from lgsp.warehouse.maintenance import maintain as upkeep

            done = upkeep(Settings.from_env(), dt.timedelta(days=keep_days))
            return {
                "meta_rows": done.meta_rows,
                "snapshots": done.snapshots,
                "files_deleted": done.files_deleted,
                "orphans_deleted": done.orphans_deleted,
            }

        maintain()
    return dag


def broken_dag(path: Path, problems: list[str]) -> DAG:
    """An invalid contract still shows up in Airflow, as an unscheduled DAG whose task says why,
    rather than taking the other datasets' DAGs down with an import error."""
    text = "\n".join(problems)
    with DAG(
        dag_id=f"lgsp_{path.stem}",
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["lgsp", "invalid-contract"],
        doc_md=f"**Invalid contract** `{path.name}`:\n\n```\n{text}\n```",
    ) as dag:

        @task(task_id="invalid_contract", retries=0)
        def invalid_contract() -> None:
            from lgsp.schemas.errors import ContractError

            raise ContractError("invalid contract:\n  " + text.replace("\n", "\n  "), file=str(path))

        invalid_contract()
    return dag


def build_dags(directory: Path) -> dict[str, DAG]:
    """A DAG for every contract file in `directory`."""
    dags = {}
    parsed = [(path, *problems_in(path)) for path in contract_files(directory)]
    contracts = {c.id: c for _, c, _ in parsed if c is not None}
    for path, contract, problems in parsed:
        dag = build_dag(contract, contracts) if contract else broken_dag(path, [str(p) for p in problems])
        dags[dag.dag_id] = dag
        if contract is not None and contract.classification.value == "open":
            releasing = build_release_dag(contract)
            dags[releasing.dag_id] = releasing
    return dags
