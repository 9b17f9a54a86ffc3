"""`lgsp indicators`: the indicator register, and each indicator's observations in the warehouse."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lgsp.core.settings import Settings
from lgsp.indicators.observations import observations
from lgsp.schemas.indicators import load_register
from lgsp.warehouse.store import Warehouse

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
            f"{indicator.name.vi}\n[dim]{indicator.name.en}[/dim]",
            indicator.unit,
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
    settings = Settings.from_env()
    register = load_register(settings.indicators_dir)
    if code is not None and code not in register:
        typer.echo(f"không có chỉ tiêu / no indicator '{code}' (known: {', '.join(register)})", err=True)
        raise typer.Exit(1)
    chosen = [register[code]] if code else list(register.values())
    if not settings.warehouse_path.exists():
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
            o.area or "",
            o.period,
            "" if o.value is None else f"{o.value:,.10g}",
            o.unit,
            "" if o.submission is None else str(o.submission),
            o.origin or "",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `indicators` to the `lgsp` command."""
    app.add_typer(indicators_app, name="indicators")
