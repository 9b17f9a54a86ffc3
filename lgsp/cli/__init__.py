"""The `lgsp` command: run, check and inspect datasets; `demo` builds the sandbox province and runs it."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.cli.output import console, num, run_summary, status_markup
from lgsp.core.settings import Settings

app = typer.Typer(help="lgsp-hub: the provincial data-sharing and integration hub.", no_args_is_help=True)


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
    run_summary(results, pipeline)
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
            status_markup(run.status if run and run.status else ""),
            num(run.rows_published if run else None),
            num(run.rows_quarantined if run else None),
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

    run_summary(results, Pipeline(_settings()))
    if not reported:
        typer.echo("lgsp: báo cáo mẫu không chạy đúng / the reports demo did not come out as expected", err=True)
    raise typer.Exit(exit_code(results) or (0 if reported else 1))


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


def _command_groups() -> None:
    from lgsp.cli.upkeep import register as upkeep
    from lgsp.indicators.cli import register as indicators
    from lgsp.reports.cli import register as reports
    from lgsp.rows import register as rows
    from lgsp.sharing.cli import register as sharing
    from lgsp.sharing.db_cli import register as db
    from lgsp.sharing.webhooks_cli import register as webhooks
    from lgsp.submissions.cli import register as submissions

    for register in (upkeep, sharing, webhooks, db, submissions, indicators, reports, rows):
        register(app)


_command_groups()  # lgsp release|releases|dump|maintain|review, consumers|grants|requests|audit|staff, webhooks, db, submissions|inbox, indicators, report, rows


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
