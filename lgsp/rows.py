"""`lgsp rows`: retract or correct a published row, list a dataset's edits, undo one.

Each edit is recorded with who and why, is a run in the dataset's history, triggers the open-data
release, and stays in force over later runs until it is undone (lgsp.warehouse.edits).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings

if TYPE_CHECKING:  # imported when a command runs, so `lgsp --help` stays quick
    from lgsp.pipeline import Pipeline
    from lgsp.warehouse.edits import RowEdit

console = Console(width=None if sys.stdout.isatty() else 160)
rows_app = typer.Typer(
    help="Retract or correct published rows (kept in the dataset's history with who and why).", no_args_is_help=True
)
KEY_HELP = "A primary-key column and its value, column=value (once per key column)."
BY_DEFAULT = os.environ.get("USER", "operator")


def _pipeline() -> Pipeline:
    from lgsp.pipeline import Pipeline

    return Pipeline(Settings.from_env())


@contextmanager
def _refused() -> Iterator[None]:
    """A refused edit (or an unknown dataset) is the user's to fix: say it plainly, exit 1."""
    try:
        yield
    except LgspError as exc:
        console.print(f"[red]lgsp: {exc}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None


def pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """`col=value` options as a dict; EditError for one without `=` or a column given twice."""
    from lgsp.warehouse.errors import EditError

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise EditError(f"{option} {item!r}: ghi cột=giá trị / give column=value", field=option.lstrip("-"))
        if name in out:
            raise EditError(f"{option}: cột {name} ghi hai lần / column {name} given twice", field=name)
        out[name] = value
    return out


def _done(edit: RowEdit, what: str) -> None:
    release = edit.release
    made = f"; phiên bản / release v{release}" if isinstance(release, int) else ""
    console.print(f"{edit.dataset_id}: sửa đổi / edit #{edit.id} {what}{made}", soft_wrap=True, highlight=False)
    if isinstance(release, str):
        typer.echo(f"{edit.dataset_id}: {release}", err=True)
    if edit.release_store:
        typer.echo(f"{edit.dataset_id}: {edit.release_store}", err=True)


@rows_app.command()
def retract(
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    key: Annotated[list[str], typer.Option("--key", help=KEY_HELP)],
    why: Annotated[str, typer.Option(help="Why the row is retracted (kept in the history).")],
    by: Annotated[str, typer.Option(help="Who retracts it (kept in the history).")] = BY_DEFAULT,
) -> None:
    """Take a published row out of the dataset now and from every later run until undone."""
    with _refused():
        edit = _pipeline().retract(dataset, pairs(key, "--key"), by=by, why=why)
    _done(edit, "rút lại dòng / retracted the row")


@rows_app.command()
def correct(
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    key: Annotated[list[str], typer.Option("--key", help=KEY_HELP)],
    why: Annotated[str, typer.Option(help="Why the row is corrected (kept in the history).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="A column and its new value, column=value (repeatable).")
    ] = None,
    null: Annotated[list[str] | None, typer.Option("--null", help="A column to empty (repeatable).")] = None,
    by: Annotated[str, typer.Option(help="Who corrects it (kept in the history).")] = BY_DEFAULT,
) -> None:
    """Replace values of a published row, now and in every later run until undone."""
    with _refused():
        values: dict[str, str | None] = dict(pairs(set_, "--set"))
        values.update(dict.fromkeys(null or []))
        edit = _pipeline().correct(dataset, pairs(key, "--key"), values, by=by, why=why)
    _done(edit, "sửa dòng / corrected the row")


@rows_app.command()
def undo(
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    edit_id: Annotated[int, typer.Argument(help="The edit's number (lgsp rows history).")],
    by: Annotated[str, typer.Option(help="Who undoes it (kept in the history).")] = BY_DEFAULT,
) -> None:
    """End an edit; the row is not restored now: the next run brings it back from the source."""
    with _refused():
        edit = _pipeline().undo_edit(dataset, edit_id, by=by)
    _done(edit, "đã hoàn tác; dòng trở lại ở lần chạy sau / undone: the row returns with the next run")


@rows_app.command()
def history(
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The edits as stored, as JSON (personal data included).")
    ] = False,
) -> None:
    """A dataset's retractions and corrections: key, new values, who, why, when, undone (personal data hidden)."""
    from lgsp.warehouse.edits import shown

    with _refused():
        pipeline = _pipeline()
        contract = pipeline.contract(dataset)
        found = pipeline.edit_history(dataset)
    if as_json:
        data = [e.model_dump(mode="json", exclude={"release"}) for e in found]
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Edits / Sửa đổi: {dataset}")
    for column in ("id", "action", "key", "new values", "why", "by", "at (UTC)", "undone"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for e in found:
        undone = f"{e.undone_at:%Y-%m-%d %H:%M} {e.undone_by}" if e.undone_at else ""
        table.add_row(
            str(e.id),
            e.action.value,
            escape(shown(contract, e.key)),  # data values and a person's reason: their text, never markup
            escape(shown(contract, e.values)),
            escape(e.why),
            escape(e.by),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            undone,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `rows` to the `lgsp` command."""
    app.add_typer(rows_app, name="rows")
