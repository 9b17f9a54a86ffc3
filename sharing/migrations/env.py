"""The Alembic environment of the sharing registry. `lgsp.sharing.registry.upgrade` hands it the
connection to migrate (config.attributes["connection"]); run by the `alembic` command instead (an
alembic.ini whose script_location is this folder, e.g. for `alembic revision --autogenerate`), it
uses the registry the `LGSP_*` settings name."""

from __future__ import annotations

from typing import Any

from alembic import context

from lgsp.sharing import tables


def _migrate(connection: Any) -> None:
    # render_as_batch: SQLite changes a table by copying it (ALTER COLUMN is PostgreSQL's alone)
    context.configure(connection=connection, target_metadata=tables.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _migrate(given)
else:
    from lgsp.core.settings import Settings
    from lgsp.sharing import registry

    with registry.engine(Settings.from_env()).begin() as connection:
        _migrate(connection)
