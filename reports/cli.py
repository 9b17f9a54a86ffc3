"""`lgsp report`: build the province's reports, show one with its disputed cells, send it."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 160)
report_app = typer.Typer(help="The province's indicator reports: build, show, submit.", no_args_is_help=True)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"lgsp: {exc}", err=True)
    return typer.Exit(1)


def _broken(problems: list[str]) -> None:
    """Templates that could not be read: named, and the command exits 1 after doing the others."""
    for problem in problems:
        typer.echo(f"lgsp: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


@report_app.command("list")
def list_reports() -> None:
    """The report templates, with each one's latest version."""
    from lgsp.reports.run import usable
    from lgsp.reports.versions import latest

    settings = Settings.from_env()
    reports, broken = usable(settings)
    table = Table(title="Báo cáo / Reports")
    for column in ("mã / code", "tên / title", "sở / owner", "phiên bản / version", "tranh chấp / disputed",
                   "gửi tới / sends to"):  # fmt: skip
        table.add_column(column)
    for report in reports:
        made = latest(settings.home, report.code)
        table.add_row(
            report.code,
            f"{escape(report.title.vi)}\n[dim]{escape(report.title.en)}[/dim]",
            report.owner,
            str(made.version) if made else "—",
            str(made.disputed) if made else "",
            report.submission.template if report.submission else "",
        )
    console.print(table)
    _broken(broken)


@report_app.command("build")
def build_command(
    codes: Annotated[list[str] | None, typer.Argument(help="Report codes (default: every report).")] = None,
) -> None:
    """Build reports from the warehouse: a new version (HTML, XLSX, PDF, JSON) when the numbers
    changed. Exit 0 even with disputed cells (they are shown as disputed); 1 when a report cannot be built."""
    from lgsp.reports.run import build_reports, usable

    settings = Settings.from_env()
    broken: list[str] = []
    try:
        if not codes:  # every report: a broken template is named, the others are still built
            reports, broken = usable(settings)
            codes = [r.code for r in reports]
        outcomes = build_reports(settings, codes) if codes else []
    except LgspError as exc:
        raise _fail(exc) from None
    for o in outcomes:
        state = "[green]phiên bản mới / new version[/green]" if o.new else "không đổi / unchanged"
        note = f", [red]{o.version.disputed} ô tranh chấp / disputed[/red]" if o.version.disputed else ""
        missing = f", {o.version.missing} ô chưa có số liệu / without data" if o.version.missing else ""
        console.print(
            f"{o.report.code}: phiên bản / version {o.version.version} {state} "
            f"({o.version.cells} ô / cells{note}{missing})"
        )
    _broken(broken)


@report_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="The report's code.")],
    json_out: Annotated[bool, typer.Option("--json", help="The report's cells as JSON, for tools.")] = False,
) -> None:
    """A report's cells as the warehouse holds them now, with each cell's sources; disputed cells in red."""
    from lgsp.reports.html import number
    from lgsp.reports.run import chosen, current

    settings = Settings.from_env()
    try:
        report = chosen(settings, [code])[0]
        built = current(settings, [report])[0]
    except LgspError as exc:
        raise _fail(exc) from None
    if json_out:
        typer.echo(built.canonical().decode("utf-8"), nl=False)
        return
    table = Table(title=f"{report.title.vi} / {report.title.en} — {report.area}")
    for column in ("no.", "indicator", "unit", *(c.label.vi for c in report.columns), "sources"):
        table.add_column(column)
    for line in built.lines:
        if line.indicator is None:
            table.add_row(line.number or "", f"[bold]{line.label.vi}[/bold]")
            continue
        shown = []
        for cell in line.cells:
            if cell.status == "disputed":
                values = " ≠ ".join(f"{number(t.converted)} ({t.publisher or t.dataset})" for t in cell.traces)
                shown.append(f"[red]đang tranh chấp / disputed: {values}[/red]")
            else:
                shown.append(
                    "—" if cell.value is None else number(cell.value) + (" *" if cell.status == "resolved" else "")
                )
        sources = "; ".join(f"{t.source} {t.origin or ''}".strip() for c in line.cells for t in c.traces)
        table.add_row(
            escape(line.number or ""),
            f"{escape(line.label.vi)}\n[dim]{escape(line.indicator)}[/dim]",
            escape(line.unit or ""),
            *shown,
            escape(sources),
        )
    console.print(table)
    if built.disputed:
        console.print(
            f"[red]{len(built.disputed)} ô đang tranh chấp / disputed cells[/red]: "
            "lgsp indicators conflicts, then lgsp indicators resolve"
        )


@report_app.command("submit")
def submit(
    code: Annotated[str, typer.Argument(help="The report's code.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Connection of the reporting system (default: the report's).")
    ] = None,
) -> None:
    """Send the report's latest version to the central reporting system. Exit 0 when accepted, 1
    when rejected (each cell's error is listed) or it could not be sent."""
    from lgsp.core.connections import resolve
    from lgsp.reports.run import chosen
    from lgsp.reports.submit import ACCEPTED, send
    from lgsp.reports.versions import latest

    settings = Settings.from_env()
    try:
        report = chosen(settings, [code])[0]
        if report.submission is None:
            raise _fail(LgspError(f"{code}: báo cáo không có nơi gửi / the report names no reporting system"))
        version = latest(settings.home, code)
        if version is None:
            raise _fail(LgspError(f"{code}: chưa có phiên bản / not built yet: lgsp report build {code}"))
        url = resolve(to or report.submission.connection, settings.sandbox_dir, home=settings.home)
        sent = send(settings.home, version, url)
    except LgspError as exc:
        raise _fail(exc) from None
    if sent.status == ACCEPTED:
        late = " (nộp muộn / late)" if sent.late else ""
        console.print(
            f"{code} phiên bản / version {version.version}: [green]được chấp nhận / accepted[/green] by "
            f"{sent.template}, số tiếp nhận / receipt {sent.receipt}{late}"
        )
        return
    console.print(f"{code} phiên bản / version {version.version}: [red]bị từ chối / rejected[/red] by {sent.template}")
    for e in sent.errors:
        where = f"{e.row or '—'}/{e.column or '—'}" + (f" ({e.indicator})" if e.indicator else "")
        typer.echo(f"  {where}: {e.code}: {e.message.get('vi', '')} / {e.message.get('en', '')}", err=True)
    raise typer.Exit(1)


@report_app.command("sent")
def sent_history(
    code: Annotated[str, typer.Argument(help="The report's code.")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON, for tools.")] = False,
) -> None:
    """Every attempt to send the report: when, which version, accepted or rejected and why."""
    from lgsp.reports.run import chosen
    from lgsp.reports.submit import history

    settings = Settings.from_env()
    try:
        chosen(settings, [code])
    except LgspError as exc:
        raise _fail(exc) from None
    found = history(settings.home, code)
    if json_out:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in found], ensure_ascii=False, indent=2))
        return
    if not found:
        console.print(f"{code}: chưa gửi lần nào / not sent yet")
    for s in found:
        errors = "; ".join(f"{e.row}: {e.code}" for e in s.errors)
        console.print(
            f"{s.at:%Y-%m-%d %H:%M} UTC phiên bản / version {s.version} → {s.template}: {s.status} "
            f"{s.receipt or errors or s.error or ''}"
        )


def register(app: typer.Typer) -> None:
    """Add `report` to the `lgsp` command."""
    app.add_typer(report_app, name="report")
