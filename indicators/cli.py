"""`lgsp indicators`: the indicator register, and each indicator's observations in the warehouse."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.core.settings import Settings
from lgsp.schemas.indicators import Indicator, load_register

console = Console(width=None if sys.stdout.isatty() else 160)
indicators_app = typer.Typer(help="The province's indicators and their observations.", no_args_is_help=True)


@indicators_app.command("list")
def list_indicators(json_out: Annotated[bool, typer.Option("--json", help="JSON, for tools.")] = False) -> None:
    """The indicator register: code, name, unit, period, owning department and sources."""
    register = load_register(Settings.from_env().indicators_dir)
    if json_out:
        typer.echo(json.dumps([i.model_dump(mode="json") for i in register.values()], ensure_ascii=False, indent=2))
        return
    table = Table(title="Chỉ tiêu / Indicators")
    for column in ("code", "tên / name", "unit", "period", "owner", "sources"):
        table.add_column(column)
    for indicator in register.values():
        table.add_row(
            indicator.code,
            f"{escape(indicator.name.vi)}\n[dim]{escape(indicator.name.en)}[/dim]",
            escape(indicator.unit),
            indicator.period.value,
            indicator.owner,
            ", ".join(s.dataset for s in indicator.sources),
        )
    console.print(table)


@indicators_app.command("observations")
def list_observations(
    code: Annotated[str | None, typer.Argument(help="Only this indicator's observations.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON, for tools.")] = False,
) -> None:
    """Each indicator's observations: source dataset, area, period, value, unit, and the
    submission and file line it came from."""
    from lgsp.indicators.observations import (
        observations,  # the warehouse only when it is used: `lgsp --help` stays quick
    )
    from lgsp.warehouse.store import Warehouse

    settings = Settings.from_env()
    register = load_register(settings.indicators_dir)
    if code is not None and code not in register:
        typer.echo(f"không có chỉ tiêu / no indicator '{code}' (known: {', '.join(register)})", err=True)
        raise typer.Exit(1)
    chosen = [register[code]] if code else list(register.values())
    if not Warehouse(settings).exists():
        found = []
    else:
        with Warehouse(settings).reader() as con:
            found = observations(con, chosen)
    if json_out:
        typer.echo(json.dumps([o.as_dict() for o in found], ensure_ascii=False, indent=2))
        return
    table = Table(title="Quan sát / Observations")
    for column in ("indicator", "dataset", "area", "period", "value", "unit", "submission", "origin"):
        table.add_column(column, justify="right" if column in ("value", "submission") else "left")
    for o in found:
        table.add_row(
            o.indicator,
            o.dataset,
            escape(o.area or ""),
            escape(o.period),
            "" if o.value is None else f"{o.value:,.10g}",
            escape(o.unit),
            "" if o.submission is None else str(o.submission),
            escape(o.origin or ""),
        )
    console.print(table)


def _chosen(code: str | None) -> tuple[Settings, dict[str, Indicator]]:
    settings = Settings.from_env()
    register = load_register(settings.indicators_dir)
    if code is not None and code not in register:
        typer.echo(f"không có chỉ tiêu / no indicator '{code}' (known: {', '.join(register)})", err=True)
        raise typer.Exit(1)
    return settings, register


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,.10g}"


@indicators_app.command("conflicts")
def list_conflicts(
    code: Annotated[str | None, typer.Argument(help="Only this indicator's conflicts.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON, for tools.")] = False,
) -> None:
    """Indicators, areas and periods whose sources differ beyond the register's tolerance: every
    value with its dataset, submission and file line, and whether it is resolved."""
    from lgsp.indicators import reconcile
    from lgsp.warehouse.store import Warehouse

    settings, register = _chosen(code)
    found: list[reconcile.Group] = []
    answered: dict[tuple[str, str, str], reconcile.Resolution] = {}
    if Warehouse(settings).exists():
        with Warehouse(settings).reader() as con:
            found = reconcile.conflicts(con, register, code)
            answered = reconcile.resolutions(con)

    def status(g: reconcile.Group) -> str:
        r = answered.get((g.indicator.code, g.area, g.period))
        return reconcile.RESOLVED if r is not None and r.fingerprint == g.fingerprint else reconcile.DISPUTED

    if json_out:
        out = [{**g.as_dict(), "status": status(g)} for g in found]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    table = Table(title="Xung đột / Conflicts")
    for column in ("indicator", "area", "period", "status", "value", "unit", "source", "origin"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for g in found:
        for i, o in enumerate(g.observations):
            first = i == 0
            table.add_row(
                g.indicator.code if first else "",
                g.area if first else "",
                g.period if first else "",
                status(g) if first else "",
                _number(o.value),
                escape(o.unit),
                escape(reconcile.source_of(o)),
                escape(o.origin or ""),
            )
    console.print(table)


@indicators_app.command("resolve")
def resolve(
    code: Annotated[str, typer.Argument(help="The indicator's code.")],
    area: Annotated[str, typer.Argument(help="The area, as the conflict shows it ('' for none).")],
    period: Annotated[str, typer.Argument(help="The period, as the conflict shows it.")],
    why: Annotated[str | None, typer.Option("--why", help="Why (required).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who decides: staff:<user> or the operator.")] = None,
    value: Annotated[float | None, typer.Option("--value", help="The chosen value (with --source).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="The chosen observation: DATASET:SUBMISSION.")] = None,
    explain: Annotated[str | None, typer.Option("--explain", help="An explanation instead of a pick.")] = None,
) -> None:
    """The owning department's answer to a conflict: pick one observation, or explain; exit 1 when refused."""
    from lgsp.indicators import reconcile
    from lgsp.warehouse.store import Warehouse

    settings, register = _chosen(code)
    try:
        with Warehouse(settings).writer() as con:
            done = reconcile.resolve(
                con, register, code, area, period, why=why, by=by, value=value, source=source, explain=explain
            )
    except reconcile.ReconcileError as exc:
        typer.echo(f"lgsp: {exc}", err=True)
        raise typer.Exit(1) from None
    picked = f"{done.dataset}:{done.submission} {done.origin or ''}".strip() if done.dataset else done.explanation
    typer.echo(
        f"đã giải quyết / resolved {code} {area} {period}: {_number(done.value) or '—'} ({picked}), by {done.by}"
    )


@indicators_app.command("values")
def list_values(
    code: Annotated[str | None, typer.Argument(help="Only this indicator's values.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON, for tools.")] = False,
) -> None:
    """Each indicator's value by area and period: agreed, resolved, or disputed (no value)."""
    from lgsp.indicators import reconcile
    from lgsp.warehouse.store import Warehouse

    settings, register = _chosen(code)
    found: list[reconcile.Value] = []
    if Warehouse(settings).exists():
        with Warehouse(settings).reader() as con:
            found = reconcile.values(con, register, code)
    if json_out:
        typer.echo(json.dumps([v.as_dict() for v in found], ensure_ascii=False, indent=2, default=str))
        return
    table = Table(title="Giá trị chỉ tiêu / Indicator values")
    for column in ("indicator", "area", "period", "value", "unit", "status", "sources"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for v in found:
        shown = {"disputed": "[red]disputed / đang tranh chấp[/red]"}.get(v.status, v.status)
        table.add_row(v.indicator, v.area, v.period, _number(v.value), v.unit, shown, "\n".join(v.sources))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `indicators` to the `lgsp` command."""
    app.add_typer(indicators_app, name="indicators")
