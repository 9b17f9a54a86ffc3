"""`lgsp release|releases|dump|maintain|review`: what staff do with published data after a run
(cut a release, look at the releases, write the bulk dump, upkeep of a lake, decide held runs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lgsp.cli.output import console, num, run_summary
from lgsp.core.settings import Settings


def register(app: typer.Typer) -> None:
    """Add the commands to `app` (the `lgsp` command)."""
    for command in (release, maintain, dump, releases, review):
        app.command()(command)


def release(dataset: Annotated[str, typer.Argument(help="Dataset id of an open dataset.")]) -> None:
    """Make the open-data release of a published dataset now (a no-op when the data is unchanged)
    and regenerate the DCAT catalogue."""
    from lgsp.pipeline import Pipeline

    settings = Settings.from_env()
    pipeline = Pipeline(settings)
    made = pipeline.release(dataset, upload=False)
    console.print(f"{dataset}: release v{made.version} ({made.rows:,} rows)")
    _print_releases(settings, dataset)
    pipeline.upload(dataset)  # a store that does not take it fails the command, the release made all the same


def maintain(
    keep_days: Annotated[
        float | None, typer.Option(help="Days of snapshots kept for time travel [default: $LGSP_LAKE_KEEP_DAYS, 30].")
    ] = None,
) -> None:
    """Upkeep of the warehouse on DuckLake (the `lgsp_maintenance` DAG runs it at LGSP_LAKE_MAINTENANCE):
    prune what a publish left, expire snapshots older than --keep-days, merge small files, delete
    files no snapshot needs."""
    import datetime as dt

    from lgsp.warehouse.maintenance import maintain as upkeep

    settings = Settings.from_env()
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
        f"{done.snapshots} snapshot hết hạn, {done.files_deleted} tệp đã xoá, {done.orphans_deleted} tệp mồ côi đã xoá, "
        f"{done.meta_rows} dòng meta / {done.snapshots} snapshots expired, {done.files_deleted} files deleted, "
        f"{done.orphans_deleted} orphaned files deleted, {done.meta_rows} meta rows pruned"
    )


def dump(target: Annotated[Path, typer.Argument(help="Where to write the archive, e.g. lgsp-open-data.zip.")]) -> None:
    """Write the bulk dump (the catalogue and every open dataset's latest release, the archive
    `/dump.zip` serves at LGSP_BASE_URL) to a file, for a mirror or a copy carried to another network."""
    from lgsp.portal.access import OpenCatalogue
    from lgsp.portal.bulk import BulkDump
    from lgsp.publishing.dump import write_dump

    settings = Settings.from_env()
    archive = BulkDump(OpenCatalogue(settings)).archive(settings.base_url)
    size = write_dump(archive.parts, target)
    datasets = len({m.name.split("/")[0] for m in archive.parts if "/" in m.name})
    console.print(f"{target}: {datasets} bộ dữ liệu, {size:,} byte / {datasets} datasets, {size:,} bytes")


def releases(dataset: Annotated[str, typer.Argument(help="Dataset id.")]) -> None:
    """Every release of a dataset: version, rows, files with sizes and SHA-256."""
    _print_releases(Settings.from_env(), dataset)


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

    pipeline = Pipeline(Settings.from_env())
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
                num(r.rows_extracted),
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
    run_summary([record], pipeline)
