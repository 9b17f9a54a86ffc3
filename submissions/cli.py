"""`lgsp submissions` and `lgsp inbox`: what departments sent, what became of it, and what waits."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.core.connections import resolve
from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.schemas.contract import FileSource
from lgsp.schemas.loader import find_contract, load_contracts

console = Console(width=None if sys.stdout.isatty() else 160)
submissions_app = typer.Typer(help="Files departments sent, each with its receipt.", no_args_is_help=True)


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@submissions_app.command("list")
def list_submissions(
    dataset: Annotated[str | None, typer.Argument(help="Only this dataset's submissions.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """The latest submissions: who sent which file, when, and what was published from it."""
    from lgsp.submissions import ledger  # here, so `lgsp --help` stays quick
    from lgsp.warehouse.store import Warehouse

    settings = Settings.from_env()
    with Warehouse(settings).reader() as con:
        found = ledger.listing(con, dataset_ids=[dataset] if dataset else None, limit=limit)
    table = Table(title="Submissions / Lần nộp")
    for column in (
        "id",
        "dataset",
        "file",
        "sent by",
        "received (UTC)",
        "status",
        "published",
        "quarantined",
        "rejected",
    ):
        table.add_column(
            column, justify="right" if column in ("id", "published", "quarantined", "rejected") else "left"
        )
    for s in found:
        table.add_row(
            str(s.id),
            s.dataset_id,
            escape(s.name),  # a department's file name and sender: their text, never markup
            escape(s.sender),
            f"{s.received_at:%Y-%m-%d %H:%M}",
            s.status.value,
            _n(s.rows_published),
            _n(s.rows_quarantined),
            _n(s.rows_rejected),
        )
    console.print(table)


@submissions_app.command("show")
def show(
    submission_id: Annotated[int, typer.Argument(help="The submission's id (lgsp submissions list).")],
    as_json: Annotated[bool, typer.Option("--json", help="The receipt as JSON.")] = False,
) -> None:
    """A submission's receipt: its rows published, quarantined (with the reasons) or rejected."""
    from lgsp.submissions import ledger, receipts
    from lgsp.warehouse.store import Warehouse

    settings = Settings.from_env()
    with Warehouse(settings).reader() as con:
        submission = ledger.get(con, submission_id)
        if submission is None:
            console.print(f"[red]không có lần nộp / no submission {submission_id}[/red]")
            raise typer.Exit(1)
        rows = receipts.quarantined_rows(con, submission)
    if as_json:
        typer.echo(json.dumps(receipts.as_json(submission, rows), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(receipts.text(submission, rows), nl=False)


@submissions_app.command("corrections")
def correction_sheet(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the XLSX sheet.")],
    submission_id: Annotated[int | None, typer.Argument(help="The submission whose open rows to take.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Every open row of this dataset, of any submission.")] = None,
) -> None:
    """Write the correction sheet: the quarantined rows still open, with their reasons and refs, for the
    department to fix and send back (only those rows are read again)."""
    from lgsp.submissions import correction_sheet, corrections, ledger
    from lgsp.warehouse.store import Warehouse

    if (submission_id is None) == (dataset is None):
        console.print("[red]cho một mã lần nộp hoặc --dataset / give one submission id or --dataset[/red]")
        raise typer.Exit(2)
    settings = Settings.from_env()
    with Warehouse(settings).reader() as con:
        if submission_id is not None:
            submission = ledger.get(con, submission_id)
            if submission is None:
                console.print(f"[red]không có lần nộp / no submission {submission_id}[/red]")
                raise typer.Exit(1)
            dataset = submission.dataset_id
        assert dataset is not None
        try:
            contract = find_contract(settings.contracts_dir, dataset)
        except LgspError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        if not isinstance(contract.source, FileSource):
            console.print(f"[red]{dataset}: không phải tập dữ liệu nộp tệp / not a file-drop dataset[/red]")
            raise typer.Exit(1)
        rows = corrections.open_rows(con, dataset, submission_id)
    if not rows:
        console.print("không còn dòng nào chờ sửa / no quarantined row waits for a correction: nothing written")
        raise typer.Exit(1)
    output.write_bytes(correction_sheet.workbook(contract, rows, submission_id=submission_id))
    console.print(
        f"{len(rows)} dòng chờ sửa / rows to correct → {output} "
        f"(gửi lại với tên như / send it back named like {correction_sheet.file_name(contract, submission_id)})"
    )


def inbox(
    unmatched_only: Annotated[bool, typer.Option("--unmatched", help="Only files no contract takes.")] = False,
) -> None:
    """Files waiting in the departments' inbox folders, and the ones no contract's pattern matches."""
    from lgsp.submissions import inbox as inboxes

    settings = Settings.from_env()
    folders: dict[str, list[tuple[str, list[str]]]] = {}
    problems = []
    for contract in load_contracts(settings.contracts_dir).values():
        source = contract.source
        if not isinstance(source, FileSource):
            continue
        try:
            url = resolve(source.connection, settings.sandbox_dir, home=settings.home).get_secret_value()
        except Exception as exc:
            problems.append(f"{contract.id}: {exc}")
            continue
        try:
            where = inboxes.inbox_path(url)
        except ValueError as exc:
            problems.append(f"{contract.id}: {exc}")
            continue
        folders.setdefault(str(where), []).append((contract.id, source.pattern))
    table = Table(title="Inbox / Hộp thư")
    for column in ("folder", "file", "dataset"):
        table.add_column(column)
    unmatched = 0
    for folder, takers in sorted(folders.items()):
        for path in inboxes.drops(Path(folder)):
            datasets = [d for d, patterns in takers if inboxes.matches(path.name, patterns)]
            unmatched += not datasets
            if datasets and unmatched_only:
                continue
            label = ", ".join(datasets) or "[yellow]không khớp hợp đồng nào / unmatched[/yellow]"
            table.add_row(escape(folder), escape(path.name), label)
    console.print(table)
    for problem in problems:
        console.print(f"[red]{problem}[/red]")
    if unmatched:
        console.print(
            f"{unmatched} tệp không khớp mẫu tên của hợp đồng nào / file(s) match no contract's pattern: "
            "they stay in the inbox until renamed or a contract takes them"
        )


def register(app: typer.Typer) -> None:
    """Add `submissions` and `inbox` to the `lgsp` command."""
    app.add_typer(submissions_app, name="submissions")
    app.command("inbox")(inbox)
