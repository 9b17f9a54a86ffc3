"""How the `lgsp` command shows runs: one table of counts and statuses, then each file a run took
in and what became of it. Shared by `lgsp run`, `demo`, `review` and the other commands."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from lgsp.pipeline import Pipeline
    from lgsp.warehouse.runs import RunRecord

console = Console(width=None if sys.stdout.isatty() else 160)


def num(value: Any) -> str:
    return "" if value is None else f"{value:,}"


def status_markup(status: str) -> str:
    colour = {
        "published": "green",
        "unchanged": "green",
        "partial": "yellow",
        "held": "yellow",
        "rejected": "red",
        "failed": "red",
    }.get(status, "white")
    return f"[{colour}]{status}[/{colour}]" if status else ""


def run_summary(results: list[RunRecord], pipeline: Pipeline) -> None:
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
            num(r.rows_extracted),
            num(r.rows_published),
            num(r.rows_quarantined),
            num(r.rows_rejected),
            status_markup(r.status or ""),
            f"v{r.release}" if isinstance(r.release, int) else "",
            f"{r.seconds or 0:.1f} s",
        )
    console.print(table)
    _submissions_of(results, pipeline)
    for r in results:
        if r.rows_deleted:
            console.print(
                f"{r.dataset_id}: gỡ {num(r.rows_deleted)} dòng đã bị xoá ở nguồn / removed {num(r.rows_deleted)} "
                "rows deleted at the source",
                soft_wrap=True,
            )
        if r.error:
            typer.echo(f"{r.dataset_id}: {r.error}", err=True)
        if isinstance(r.release, str):
            typer.echo(f"{r.dataset_id}: {r.release}", err=True)
        if r.release_store:
            typer.echo(f"{r.dataset_id}: {r.release_store}", err=True)
        elif r.report:
            console.print(f"[dim]{escape(r.dataset_id)}: report {escape(r.report)}[/dim]", soft_wrap=True)


def _submissions_of(results: list[RunRecord], pipeline: Pipeline) -> None:
    """One line per file a run took in: what became of it, and where its receipt is."""
    from lgsp.submissions import ledger

    with pipeline.warehouse.reader() as con:
        taken = [s for r in results for s in ledger.of_run(con, r.dataset_id, r.run_id)]
    for s in taken:
        counts = (
            f"{num(s.rows_published)} published, {num(s.rows_quarantined)} quarantined, "
            f"{num(s.rows_rejected)} rejected, {num(s.rows_superseded)} superseded"
        )
        console.print(
            f"{s.dataset_id}: submission {s.id} {s.name}: {status_markup(s.status.value)} ({counts})", soft_wrap=True
        )
        for reason in s.reasons[:5]:
            typer.echo(f"    {reason['reason']}", err=True)
        if s.receipt:
            console.print(f"[dim]    receipt {s.receipt}[/dim]", soft_wrap=True)
