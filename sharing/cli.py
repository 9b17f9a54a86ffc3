"""`lgsp consumers|grants|requests|audit|staff`: administering agency sharing from the command line.
Secrets are printed once and never stored in clear."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.core.settings import Settings
from lgsp.sharing.errors import RegistryError

console = Console(width=None if sys.stdout.isatty() else 160)
consumers_app = typer.Typer(help="Agencies that read shared data, and their credentials.", no_args_is_help=True)
grants_app = typer.Typer(help="Grants: which consumer may read which dataset, columns and rows.", no_args_is_help=True)
requests_app = typer.Typer(help="Access requests and their 2-working-day answers.", no_args_is_help=True)
audit_app = typer.Typer(help="The exchange log: verify the chain, export, statistics.", no_args_is_help=True)
staff_app = typer.Typer(help="Department staff who log in to the admin pages (/admin).", no_args_is_help=True)
GROUPS = {"consumers": consumers_app, "grants": grants_app, "requests": requests_app, "audit": audit_app,
          "staff": staff_app}  # fmt: skip


def _settings() -> Settings:
    return Settings.from_env()


@contextmanager
def _errors() -> Iterator[None]:
    """A registry refusal is the user's to fix: say it plainly and exit 1."""
    try:
        yield
    except RegistryError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None


def _where(items: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        if "=" not in item:
            raise RegistryError(f"--where {item!r}: give column=value", field="row_filter")
        name, value = item.split("=", 1)
        out.setdefault(name.strip(), []).append(value.strip())
    return out


def _expiry(text: str | None) -> dt.datetime | None:
    from lgsp.sharing.admin import parse_expiry

    return parse_expiry(text or "")


def _show_secret(label: str, value: str) -> None:
    console.print(f"{label}: [bold]{value}[/bold]", soft_wrap=True)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else escape(str(v)) for v in row])  # registry text: never markup
    console.print(table)


# -- consumers ----------------------------------------------------------------------------------


@consumers_app.command("add")
def consumers_add(
    code: Annotated[str, typer.Argument(help="Agency code, e.g. TTPVHCC.")],
    name: Annotated[str, typer.Option(help="Full name of the agency.")],
    contact: Annotated[str, typer.Option(help="Who answers for its use of the data (e-mail, phone).")],
    kind: Annotated[str, typer.Option(help="provincial, commune, ministry, national or other.")] = "other",
    client: Annotated[bool, typer.Option(help="Also make OAuth2 client credentials.")] = False,
) -> None:
    """Register an agency as a consumer and print its API key (shown once)."""
    from lgsp.sharing import consumers

    settings = _settings()
    with _errors():
        consumers.add_consumer(settings, code, name, contact, kind)
        _show_secret("API key (shown once)", consumers.issue_key(settings, code))
        if client:
            client_id, secret = consumers.issue_client(settings, code)
            _show_secret("OAuth2 client_id", client_id)
            _show_secret("OAuth2 client_secret (shown once)", secret)


@consumers_app.command("list")
def consumers_list() -> None:
    """Every consumer with its active API keys and OAuth2 clients."""
    from lgsp.sharing.consumers import list_consumers

    rows = [[c["code"], c["name"], c["kind"], c["contact"], ", ".join(c["keys"]), ", ".join(c["clients"]),
             "revoked" if c["revoked_at"] else "active"] for c in list_consumers(_settings())]  # fmt: skip
    _table("Consumers / Cơ quan khai thác", ["code", "name", "kind", "contact", "keys", "clients", "status"], rows)


@consumers_app.command("rotate-key")
def consumers_rotate_key(code: Annotated[str, typer.Argument(help="Consumer code.")]) -> None:
    """Issue a new API key and revoke the consumer's other keys at once."""
    from lgsp.sharing.consumers import issue_key

    with _errors():
        _show_secret(
            "New API key (shown once; the old keys no longer work)", issue_key(_settings(), code, replace=True)
        )


@consumers_app.command("add-client")
def consumers_add_client(code: Annotated[str, typer.Argument(help="Consumer code.")]) -> None:
    """New OAuth2 client credentials for a consumer (POST /api/share/v1/token)."""
    from lgsp.sharing.consumers import issue_client

    with _errors():
        client_id, secret = issue_client(_settings(), code)
    _show_secret("OAuth2 client_id", client_id)
    _show_secret("OAuth2 client_secret (shown once)", secret)


@consumers_app.command("revoke")
def consumers_revoke(
    what: Annotated[str, typer.Argument(help="A consumer code (everything it has), a key id or a client id.")],
) -> None:
    """Revoke a consumer, an API key or an OAuth2 client (and its tokens), with immediate effect."""
    from lgsp.sharing.consumers import revoke

    with _errors():
        console.print(f"Revoked {revoke(_settings(), what)}")


# -- grants -------------------------------------------------------------------------------------


def _grant_rows(grants: list[Any]) -> list[list[Any]]:
    return [
        [g.id, g.consumer, g.dataset, "non-personal" if g.columns is None else ", ".join(g.columns),
         "; ".join(f"{k} ∈ {{{', '.join(v)}}}" for k, v in g.row_filter.items()) or "all",
         g.purpose, f"{g.expires_at:%Y-%m-%d %H:%M}" if g.expires_at else "",
         "active" if g.active() else ("revoked" if g.revoked_at else "expired")]
        for g in grants
    ]  # fmt: skip


GRANT_COLUMNS = ["id", "consumer", "dataset", "columns", "rows", "purpose", "expires (UTC)", "status"]


@grants_app.command("add")
def grants_add(
    consumer: Annotated[str, typer.Argument(help="Consumer code.")],
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    purpose: Annotated[str, typer.Option(help="Why the consumer needs the data.")],
    by: Annotated[str, typer.Option(help="Who grants it (the owner's staff).")],
    column: Annotated[
        list[str] | None, typer.Option(help="A granted column (repeat); default: all non-personal.")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="Row filter column=value (repeat; same column = any of).")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Last day of the grant (YYYY-MM-DD).")] = None,
) -> None:
    """Grant a consumer a dataset (replaces its earlier grant on it). Personal-data columns must be named."""
    from lgsp.sharing.grants import add_grant

    with _errors():
        grant = add_grant(_settings(), consumer, dataset, purpose=purpose, granted_by=by, columns=column,
                          row_filter=_where(where), expires_at=_expiry(expires))  # fmt: skip
    _table("Grant / Quyền khai thác", GRANT_COLUMNS, _grant_rows([grant]))


@grants_app.command("list")
def grants_list(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked and expired grants.")] = False,
) -> None:
    """Grants in force (or all of them)."""
    from lgsp.sharing.grants import list_grants

    grants = list_grants(_settings(), consumer=consumer, dataset=dataset, include_inactive=all_)
    _table("Grants / Quyền khai thác", GRANT_COLUMNS, _grant_rows(grants))


@grants_app.command("revoke")
def grants_revoke(grant_id: Annotated[int, typer.Argument(help="Grant id.")]) -> None:
    """Revoke a grant, with immediate effect."""
    from lgsp.sharing.grants import revoke_grant

    with _errors():
        grant = revoke_grant(_settings(), grant_id)
    console.print(f"Revoked grant {grant.id}: {grant.consumer} → {grant.dataset}")


# -- access requests ----------------------------------------------------------------------------


def _request_rows(found: list[Any]) -> list[list[Any]]:
    return [
        [r.id, r.consumer, r.dataset, r.purpose, f"{r.requested_at:%Y-%m-%d %H:%M}", r.due_on.isoformat(),
         r.status + (f": {r.reason}" if r.reason else ""), "[red]OVERDUE[/red]" if r.overdue() else ""]
        for r in found
    ]  # fmt: skip


REQUEST_COLUMNS = ["id", "consumer", "dataset", "purpose", "requested (UTC)", "answer due", "status", ""]


@requests_app.command("add")
def requests_add(
    consumer: Annotated[str, typer.Argument(help="Consumer code.")],
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    purpose: Annotated[str, typer.Option(help="Why the data is needed.")],
    column: Annotated[list[str] | None, typer.Option(help="A column asked for (repeat).")] = None,
) -> None:
    """Record a consumer's access request; the answer is due within 2 working days."""
    from lgsp.sharing.requests import add_request

    with _errors():
        made = add_request(_settings(), consumer, dataset, purpose, column)
    _table("Access request / Yêu cầu truy cập", REQUEST_COLUMNS, _request_rows([made]))


@requests_app.command("list")
def requests_list(status: Annotated[str | None, typer.Option(help="pending, approved or refused.")] = None) -> None:
    """Access requests with their due dates; overdue ones are flagged."""
    from lgsp.sharing.requests import list_requests

    _table(
        "Access requests / Yêu cầu truy cập", REQUEST_COLUMNS, _request_rows(list_requests(_settings(), status=status))
    )


@requests_app.command("approve")
def requests_approve(
    request_id: Annotated[int, typer.Argument(help="Request id.")],
    by: Annotated[str, typer.Option(help="Who answers (the owner's staff).")],
    where: Annotated[list[str] | None, typer.Option(help="Row filter column=value (repeat).")] = None,
    expires: Annotated[str | None, typer.Option(help="Last day of the grant (YYYY-MM-DD).")] = None,
) -> None:
    """Approve a request: the grant is made with its purpose and columns."""
    from lgsp.sharing.requests import approve

    with _errors():
        grant = approve(_settings(), request_id, by, row_filter=_where(where), expires_at=_expiry(expires))
    _table("Grant / Quyền khai thác", GRANT_COLUMNS, _grant_rows([grant]))


@requests_app.command("refuse")
def requests_refuse(
    request_id: Annotated[int, typer.Argument(help="Request id.")],
    by: Annotated[str, typer.Option(help="Who answers.")],
    reason: Annotated[str, typer.Option(help="Why it is refused (the consumer reads this).")],
) -> None:
    """Refuse a request with a reason."""
    from lgsp.sharing.requests import refuse

    with _errors():
        refused = refuse(_settings(), request_id, by, reason)
    _table("Access request / Yêu cầu truy cập", REQUEST_COLUMNS, _request_rows([refused]))


# -- audit --------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    anchors: Annotated[
        Path | None,
        typer.Option(help="Published anchors to check against (the exchange_log_anchors release, CSV or JSON)."),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(help="A published verifying key (again for each key the log was signed with, after a rotation)."),
    ] = None,
) -> None:
    """Check the exchange log's chain and head, its signed checkpoints and any published anchors;
    exit 1 naming the first problem."""
    from lgsp.core.files import existing_secret
    from lgsp.sharing import checkpoints
    from lgsp.sharing.audit import verify
    from lgsp.sharing.log_database import log_checkpoints

    settings = _settings()
    seed = existing_secret(settings, checkpoints.KEY_NAME)
    verifying = [checkpoints.verifying_key(k) for k in key or []]
    if seed:
        verifying.append(checkpoints.private_key(seed).public_key())
    signed_before = log_checkpoints(settings)
    if signed_before and not verifying:  # the key was deleted: the signatures must not go unchecked
        console.print("[red]the log has signed checkpoints but no key to check them: the audit key is gone; "
                      "give the published one with --key (lgsp audit public-key printed it)[/red]")  # fmt: skip
        raise typer.Exit(1)
    claims = checkpoints.read(anchors) if anchors else None
    if anchors and not claims:
        console.print(f"[red]{anchors}: no anchors found[/red]")
        raise typer.Exit(1)
    verdict = verify(settings, key=verifying or None, anchors=claims)
    if verdict.ok:
        signed = "; every checkpoint signed by the hub's key" if verifying else ""
        anchored = f"; {len(claims)} published anchors agree" if claims else ""
        console.print(f"[green]{verdict}{signed}{anchored}[/green]")
        return
    console.print(f"[red]{verdict}[/red]", soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the verifying key of the exchange log's signatures, to publish beside the anchors."""
    from lgsp.sharing import checkpoints, registry

    seed = registry.hub_secret(_settings(), checkpoints.KEY_NAME)
    typer.echo(checkpoints.public_text(checkpoints.private_key(seed)))


@audit_app.command("export")
def audit_export(
    publisher: Annotated[str, typer.Option(help="Department code: its datasets' entries are exported.")],
    output: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = None,
) -> None:
    """Export the exchange-log entries of one department's datasets (JSON Lines) for an audit."""
    from lgsp.sharing import audit, registry
    from lgsp.sharing.grants import Grants

    settings = _settings()
    datasets = {k for k, c in Grants(settings, None).contracts().items() if c.publisher.code == publisher}
    header = {"publisher": publisher, "exported_at": registry.stamp(registry.now())}
    if output is None:
        written = audit.export(settings, datasets, sys.stdout.buffer, header)
        sys.stdout.flush()
        return
    with output.open("wb") as handle:
        written = audit.export(settings, datasets, handle, header)
    console.print(f"{written:,} entries about {', '.join(sorted(datasets)) or 'no dataset'} → {output}")


@audit_app.command("stats")
def audit_stats() -> None:
    """Requests, rows, errors and p95 latency per consumer and dataset; also rewrites the anonymised
    statistics that the open `exchange_stats` dataset publishes."""
    from lgsp.sharing.grants import Grants
    from lgsp.sharing.stats import nameable, operational, stats_path, write_open_stats

    settings = _settings()
    found = operational(settings)
    _table(
        "Exchange statistics / Thống kê khai thác",
        ["consumer", "dataset", "requests", "rows", "not permitted", "errors", "p50 ms", "p95 ms"],
        [[s["consumer"], s["dataset"], f"{s['requests']:,}", f"{s['rows']:,}", s["not_permitted"], s["errors"],
          s["p50_ms"], s["p95_ms"]] for s in found],
    )  # fmt: skip
    written = write_open_stats(settings, nameable(Grants(settings, None).contracts()))
    console.print(f"Anonymised daily statistics: {written:,} rows → {stats_path(settings)} (lgsp run exchange_stats)")


# -- staff --------------------------------------------------------------------------------------


@staff_app.command("add")
def staff_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    department: Annotated[str, typer.Option(help="Department (publisher) code, e.g. SXD.")],
) -> None:
    """Add a staff login for the admin pages, or reset one (password, department; enabled again; its
    open sessions end); the password is shown once."""
    from lgsp.sharing.staff import add_staff

    with _errors():
        _show_secret(f"Password for {username} (shown once)", add_staff(_settings(), username, department))


@staff_app.command("disable")
def staff_disable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Refuse a staff login from now on; its open sessions end at their next request."""
    from lgsp.sharing.staff import disable_staff

    with _errors():
        disable_staff(_settings(), username)
    typer.echo(f"{username}: disabled / đã khóa")


@staff_app.command("list")
def staff_list() -> None:
    """Staff logins and their departments."""
    from lgsp.sharing.staff import list_staff

    _table("Staff / Cán bộ", ["username", "department"], [[s.username, s.department] for s in list_staff(_settings())])


def register(app: typer.Typer) -> None:
    """Add the sharing command groups to the `lgsp` command."""
    for name, group in GROUPS.items():
        app.add_typer(group, name=name)
