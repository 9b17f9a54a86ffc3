"""The `lgsp` command: run, check and inspect datasets; `demo` builds the sandbox province and runs it."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.core.settings import Settings

if TYPE_CHECKING:  # the commands import what they use when they run, so `lgsp --help` stays quick
    from lgsp.pipeline import Pipeline
    from lgsp.warehouse.runs import RunRecord

app = typer.Typer(help="lgsp-hub: the provincial data-sharing and integration hub.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160)


def _settings() -> Settings:
    return Settings.from_env()


@app.callback()
def _before_every_command() -> None:
    from lgsp.core.files import keep_private

    keep_private(_settings())  # the hub's files are readable by its user only


@app.command()
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Contract, indicator or report files (default: every contract, the indicator register and the reports)."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too (a connection not configured here).")
    ] = False,
) -> None:
    """Validate dataset contracts (fields, references, Great Expectations arguments and file
    headers), the indicator register against them and the report templates against the register;
    warn about connections not configured here and file contracts that no longer fit the files
    their department sends."""
    from lgsp.checks import (
        check_contracts,
        connection_warnings,
        register_problems,
        report_problems_all,
        submission_warnings,
    )
    from lgsp.schemas.indicators import indicator_files
    from lgsp.schemas.loader import contract_files, problems_in
    from lgsp.schemas.reports import report_files

    settings = _settings()
    register = settings.indicators_dir.resolve()
    templates = settings.report_templates_dir.resolve()
    given = paths or [
        *sorted(settings.contracts_dir.glob("*.yaml")),
        *indicator_files(register),
        *report_files(templates),
    ]
    indicators = [p for p in given if p.resolve().parent == register]
    reports = [p for p in given if p.resolve().parent == templates]
    files = [p for p in given if p not in indicators and p not in reports]
    problems = check_contracts(files)
    if indicators or reports:  # checked against every contract, those checked here included
        beside = [c for c in (problems_in(p)[0] for p in [*files, *contract_files(settings.contracts_dir)]) if c]
        problems += register_problems(indicators, beside) if indicators else []
        problems += report_problems_all(reports, register, beside) if reports else []
    valid = [c for c in (problems_in(path)[0] for path in files) if c is not None]
    warnings = connection_warnings(valid, settings) + submission_warnings(valid, settings)
    ids = {path: contract.id for path in files if (contract := problems_in(path)[0]) is not None}
    for path in [*files, *indicators, *reports]:
        mine = [p for p in problems if p.startswith(f"{path}:")]
        warned = [w for w in warnings if path in ids and w.startswith(f"{ids[path]}:")]
        status = "[red]invalid[/red]" if mine else "[yellow]ok[/yellow]" if warned else "[green]ok[/green]"
        console.print(f"{status}  {path}", soft_wrap=True)
    if problems:
        typer.echo("\n".join(problems), err=True)
    if warnings:
        typer.echo("\n".join(f"warning: {w}" for w in warnings), err=True)
    if problems or (strict and warnings):
        raise typer.Exit(1)


@app.command()
def run(
    datasets: Annotated[list[str], typer.Argument(help="Dataset ids (contract file names).")],
    full: Annotated[
        bool, typer.Option("--full", help="Derived datasets recompute everything, not only the groups that changed.")
    ] = False,
) -> None:
    """Extract, validate and publish datasets now, in this process."""
    from lgsp.pipeline import Pipeline

    pipeline = Pipeline(_settings())
    results = []
    for dataset_id in datasets:
        with console.status(f"{escape(dataset_id)}: extract → validate → publish"):
            started = time.monotonic()
            record = pipeline.run(dataset_id, full=full)
            record.seconds = time.monotonic() - started
        results.append(record)
    _summary(results, pipeline)
    raise typer.Exit(exit_code(results))


def exit_code(results: list[Any]) -> int:
    """0: everything published (or nothing new); 1: a run failed or published nothing it was sent;
    3: a run published, but a file was rejected or the run waits for review."""
    if any(r.status in ("failed", "rejected") for r in results):
        return 1
    if any(not r.succeeded for r in results):
        return 3
    return 0


@app.command()
def datasets() -> None:
    """Every contract with its last run, its latest release and Decree 47 compliance."""
    from lgsp.publishing.compliance import check
    from lgsp.publishing.versions import latest_release
    from lgsp.schemas.loader import contract_files, problems_in
    from lgsp.warehouse.store import Warehouse

    settings = _settings()
    latest = Warehouse(settings).latest_runs()
    table = Table(title="Datasets / Bộ dữ liệu")
    for column in (
        "dataset",
        "publisher",
        "classification",
        "schedule",
        "last run",
        "status",
        "published",
        "quarantined",
        "release",
        "Decree 47",
    ):
        table.add_column(column)
    for path in contract_files(settings.contracts_dir):
        contract, _problems = problems_in(path)
        if contract is None:
            table.add_row(path.stem, "", "", "", "", "[red]invalid contract[/red]", "", "", "", "")
            continue
        run = latest.get(contract.id)
        release, compliance = "", ""
        if contract.classification.value == "open":
            released = latest_release(settings.home, contract.id)
            release = f"v{released.version}" if released else ""
            verdict = check(contract, released.created_at if released else None)
            compliance = f"[{'green' if verdict.ok else 'red'}]{verdict.label()}[/]"
        table.add_row(
            contract.id,
            contract.publisher.code,
            contract.classification.value,
            contract.schedule or "manual",
            f"{run.ended_at:%Y-%m-%d %H:%M}" if run and run.ended_at else "never",
            _status(run.status if run and run.status else ""),
            _n(run.rows_published if run else None),
            _n(run.rows_quarantined if run else None),
            release,
            compliance,
        )
    console.print(table)


@app.command()
def demo(
    scale: Annotated[int, typer.Option(help="Rows of environmental readings in the sandbox.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the sandbox generator.")] = 2026,
    dirty_share: Annotated[float, typer.Option(help="Share of deliberately dirty rows.")] = 0.02,
) -> None:
    """Build the sandbox province, run every dataset's Airflow DAG in-process, print the summary."""
    from lgsp.demo import run_demo

    results, reported = run_demo(_settings(), scale=scale, seed=seed, dirty_share=dirty_share, console=console)
    from lgsp.pipeline import Pipeline

    _summary(results, Pipeline(_settings()))
    if not reported:
        typer.echo("lgsp: báo cáo mẫu không chạy đúng / the reports demo did not come out as expected", err=True)
    raise typer.Exit(exit_code(results) or (0 if reported else 1))


@app.command()
def release(dataset: Annotated[str, typer.Argument(help="Dataset id of an open dataset.")]) -> None:
    """Make the open-data release of a published dataset now (a no-op when the data is unchanged)
    and regenerate the DCAT catalogue."""
    from lgsp.pipeline import Pipeline

    settings = _settings()
    made = Pipeline(settings).release(dataset)
    console.print(f"{dataset}: release v{made.version} ({made.rows:,} rows)")
    _print_releases(settings, dataset)


@app.command()
def maintain(
    keep_days: Annotated[
        float | None, typer.Option(help="Days of snapshots kept for time travel [default: $LGSP_LAKE_KEEP_DAYS, 30].")
    ] = None,
) -> None:
    """Upkeep of the warehouse on DuckLake (the `lgsp_maintenance` DAG runs it at LGSP_LAKE_MAINTENANCE): prune what a publish left,
    expire snapshots older than --keep-days, merge small files, delete files no snapshot needs."""
    import datetime as dt

    from lgsp.warehouse.maintenance import maintain as upkeep

    settings = _settings()
    keep_days = settings.lake_keep_days if keep_days is None else keep_days
    if not keep_days > 0:  # 0 would expire the snapshots the releases name: no time travel at all
        typer.echo(
            "--keep-days phải lớn hơn 0: các bản phát hành trỏ tới snapshot của chúng / "
            "--keep-days must be more than 0: the releases name their snapshots",
            err=True,
        )
        raise typer.Exit(2)
    done = upkeep(settings, dt.timedelta(days=keep_days))
    console.print(
        f"{done.snapshots} snapshot hết hạn, {done.files_deleted} tệp đã xoá, {done.meta_rows} dòng meta / "
        f"{done.snapshots} snapshots expired, {done.files_deleted} files deleted, {done.meta_rows} meta rows pruned"
    )


@app.command()
def dump(target: Annotated[Path, typer.Argument(help="Where to write the archive, e.g. lgsp-open-data.zip.")]) -> None:
    """Write the bulk dump (the catalogue and every open dataset's latest release, the archive
    `/dump.zip` serves at LGSP_BASE_URL) to a file, for a mirror or a copy carried to another network."""
    from lgsp.portal.access import OpenCatalogue
    from lgsp.portal.bulk import BulkDump
    from lgsp.publishing.dump import write_dump

    settings = _settings()
    archive = BulkDump(OpenCatalogue(settings)).archive(settings.base_url)
    size = write_dump(archive.parts, target)
    datasets = len({m.name.split("/")[0] for m in archive.parts if "/" in m.name})
    console.print(f"{target}: {datasets} bộ dữ liệu, {size:,} byte / {datasets} datasets, {size:,} bytes")


@app.command()
def releases(dataset: Annotated[str, typer.Argument(help="Dataset id.")]) -> None:
    """Every release of a dataset: version, rows, files with sizes and SHA-256."""
    _print_releases(_settings(), dataset)


def _print_releases(settings: Settings, dataset: str) -> None:
    from lgsp.publishing.versions import list_releases

    table = Table(title=f"Releases / Phiên bản: {dataset}")
    for column in ("version", "created", "rows", "file", "bytes", "sha256"):
        table.add_column(column, justify="right" if column in ("version", "rows", "bytes") else "left")
    for r in reversed(list_releases(settings.home, dataset)):
        for i, d in enumerate(r.distributions):
            first = i == 0
            table.add_row(
                f"v{r.version}" if first else "",
                f"{r.created_at:%Y-%m-%d %H:%M}" if first else "",
                f"{r.rows:,}" if first else "",
                f"v{r.version}/{d.file}",
                f"{d.bytes:,}",
                d.sha256,
            )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM): serve HTTPS.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM, mode 0600).")] = None,
    uds: Annotated[
        Path | None,
        typer.Option(
            help="Listen on this Unix socket (mode 0660) instead of a port: for a reverse proxy on this host."
        ),
    ] = None,
) -> None:
    """Serve the CKAN-compatible API, the DCAT catalogue, the release downloads, the sharing API
    (/api/share/v1) and the admin pages (/admin), over HTTPS with a certificate and key, or behind
    a reverse proxy whose address is in $LGSP_TRUSTED_PROXIES (or on a Unix socket, --uds)."""
    import uvicorn

    from lgsp.app import create_app
    from lgsp.portal.sendfile import SendfileHttpProtocol

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise typer.BadParameter("give both --ssl-certfile and --ssl-keyfile, or neither")
    settings = _settings()
    scheme = "https" if ssl_certfile else "http"
    listener = None
    if uds is not None:
        from lgsp.web.unix import SocketInUse, unix_listener

        try:
            listener = unix_listener(uds)
        except (SocketInUse, OSError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--uds") from None
        inode = uds.lstat().st_ino
    where = f"unix:{uds}" if uds is not None else f"{scheme}://{host}:{port}"
    console.print(
        f"Serving {settings.home} on {where} (CKAN API at /api/3/action/, sharing API at "
        "/api/share/v1/, admin pages at /admin/)"
    )
    try:
        uvicorn.run(
            create_app(settings), host=host, port=port, log_level="warning",
            fd=listener.fileno() if listener is not None else None,
            # Forwarded headers are the app's to believe, from $LGSP_TRUSTED_PROXIES only (lgsp.web.forwarded).
            proxy_headers=False,
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
            http=SendfileHttpProtocol,  # release files leave by the kernel's sendfile (lgsp.portal.sendfile)
        )  # fmt: skip
    finally:
        if listener is not None and uds is not None:
            from lgsp.web.unix import remove_if_ours

            remove_if_ours(uds, listener, inode)


@app.command("airflow-setup")
def airflow_setup() -> None:
    """Prepare Airflow for the hub (migrate its metadata database, create the warehouse pool) and
    print the variables that point Airflow at the hub's DAGs."""
    from lgsp import airflow_env

    settings = _settings()
    airflow_env.prepare(settings)
    for key, value in airflow_env.defaults(settings).items():
        typer.echo(f"export {key}={shlex.quote(os.environ.get(key, value))}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of dataset contracts (for editor autocompletion)."""
    from lgsp.schemas.contract import Contract

    sys.stdout.write(json.dumps(Contract.model_json_schema(by_alias=True), ensure_ascii=False, indent=2) + "\n")


def _n(value: Any) -> str:
    return "" if value is None else f"{value:,}"


def _status(status: str) -> str:
    colour = {
        "published": "green",
        "unchanged": "green",
        "partial": "yellow",
        "held": "yellow",
        "rejected": "red",
        "failed": "red",
    }.get(status, "white")
    return f"[{colour}]{status}[/{colour}]" if status else ""


def _summary(results: list[RunRecord], pipeline: Pipeline) -> None:
    table = Table(title="Runs / Lần chạy")
    counts = ("extracted", "published", "quarantined", "rejected", "time")
    for column in ("dataset", "publisher", *counts[:-1], "status", "release", "time"):
        table.add_column(column, justify="right" if column in counts else "left")
    for r in results:
        try:
            publisher = pipeline.contract(r.dataset_id).publisher.code
        except Exception:
            publisher = "?"
        table.add_row(
            escape(r.dataset_id),  # as typed: `lgsp run` names datasets that may not exist
            publisher,
            _n(r.rows_extracted),
            _n(r.rows_published),
            _n(r.rows_quarantined),
            _n(r.rows_rejected),
            _status(r.status or ""),
            f"v{r.release}" if isinstance(r.release, int) else "",
            f"{r.seconds or 0:.1f} s",
        )
    console.print(table)
    _submissions_of(results, pipeline)
    for r in results:
        if r.rows_deleted:
            console.print(
                f"{r.dataset_id}: gỡ {_n(r.rows_deleted)} dòng đã bị xoá ở nguồn / removed {_n(r.rows_deleted)} "
                "rows deleted at the source",
                soft_wrap=True,
            )
        if r.error:
            typer.echo(f"{r.dataset_id}: {r.error}", err=True)
        if isinstance(r.release, str):
            typer.echo(f"{r.dataset_id}: {r.release}", err=True)
        elif r.report:
            console.print(f"[dim]{escape(r.dataset_id)}: report {escape(r.report)}[/dim]", soft_wrap=True)


def _submissions_of(results: list[RunRecord], pipeline: Pipeline) -> None:
    """One line per file a run took in: what became of it, and where its receipt is."""
    from lgsp.submissions import ledger

    with pipeline.warehouse.reader() as con:
        taken = [s for r in results for s in ledger.of_run(con, r.dataset_id, r.run_id)]
    for s in taken:
        counts = (
            f"{_n(s.rows_published)} published, {_n(s.rows_quarantined)} quarantined, "
            f"{_n(s.rows_rejected)} rejected, {_n(s.rows_superseded)} superseded"
        )
        console.print(
            f"{s.dataset_id}: submission {s.id} {s.name}: {_status(s.status.value)} ({counts})", soft_wrap=True
        )
        for reason in s.reasons[:5]:
            typer.echo(f"    {reason['reason']}", err=True)
        if s.receipt:
            console.print(f"[dim]    receipt {s.receipt}[/dim]", soft_wrap=True)


def _command_groups() -> None:
    from lgsp.indicators.cli import register as indicators
    from lgsp.reports.cli import register as reports
    from lgsp.rows import register as rows
    from lgsp.sharing.cli import register as sharing
    from lgsp.sharing.db_cli import register as db
    from lgsp.sharing.webhooks_cli import register as webhooks
    from lgsp.submissions.cli import register as submissions

    for register in (sharing, webhooks, db, submissions, indicators, reports, rows):
        register(app)


_command_groups()  # lgsp consumers|grants|requests|audit|staff, webhooks, db, submissions|inbox, indicators, report, rows


@app.command()
def review(
    dataset: Annotated[str | None, typer.Argument(help="Dataset id (default: every dataset).")] = None,
    run_id: Annotated[str | None, typer.Argument(help="The held run to decide.")] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the held run: its rows replace the dataset's.")
    ] = False,
    discard: Annotated[bool, typer.Option("--discard", help="Drop the held run; the dataset stays as it is.")] = False,
    by: Annotated[str, typer.Option(help="Who decides (kept in the run's history).")] = os.environ.get(
        "USER", "operator"
    ),
) -> None:
    """Runs held because they would remove too many published rows: list them, publish or discard one."""
    from lgsp.pipeline import Pipeline

    pipeline = Pipeline(_settings())
    if run_id is None:
        if publish or discard:
            typer.echo("give the dataset and the run id to decide", err=True)
            raise typer.Exit(2)
        held = pipeline.held(dataset)
        table = Table(title="Held for review / Chờ xem xét")
        for column in ("dataset", "run", "ended (UTC)", "would publish", "why"):
            table.add_column(column)
        for r in held:
            table.add_row(
                r.dataset_id,
                escape(r.run_id),
                f"{r.ended_at:%Y-%m-%d %H:%M}" if r.ended_at else "",
                _n(r.rows_extracted),
                escape(r.error or ""),  # free text (a source's own error, a reviewer's reason): never markup
            )
        console.print(table)
        return
    if publish == discard:
        typer.echo("choose --publish or --discard", err=True)
        raise typer.Exit(2)
    if dataset is None:
        raise typer.Exit(2)
    record = pipeline.review(dataset, run_id, publish=publish, by=by)
    _summary([record], pipeline)


def main() -> None:
    """The `lgsp` command: an error the hub raises on purpose is said plainly (what, which file or
    field, what to do), with exit code 1; anything else shows its traceback."""

    from lgsp.core.errors import LgspError

    try:
        app()
    except LgspError as exc:
        # the message may quote another tool's output ([error], [/opt/airflow]): never read as markup
        Console(stderr=True, width=console.width).print(
            f"[red]lgsp: {escape(str(exc))}[/red]", soft_wrap=True, highlight=False
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
