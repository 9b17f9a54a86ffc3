"""`lgsp db upgrade`: bring the hub's state database (the sharing registry, and in the cluster
profile the exchange log) to the newest schema.

Every command that uses the registry upgrades it on first use too; this command does it on its own,
e.g. once before starting several `lgsp serve` replicas against one PostgreSQL."""

from __future__ import annotations

import typer
from sqlalchemy import make_url

from lgsp.sharing.cli import _settings, console

db_app = typer.Typer(help="The hub's state database (the sharing registry): migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Run the registry's migrations it lacks (an older SQLite registry is adopted as it is)."""
    from lgsp.sharing import registry

    settings = _settings()
    revision = registry.upgrade(registry.engine(settings))
    where = make_url(settings.registry_url).render_as_string(hide_password=True)
    console.print(f"Sổ đăng ký ở phiên bản / Registry at revision {revision}: {where}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
