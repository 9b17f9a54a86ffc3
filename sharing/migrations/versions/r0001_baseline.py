"""The registry as the SQLite-only versions made it (their SCHEMA text): created where missing, and
an older file adopted as it is, with the columns added since it was made.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lgsp.sharing import tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LATER = {"registry_version", "exchange_log", "exchange_log_head", "exchange_log_checkpoints"}  # 0002, 0004
BASELINE = [t for t in tables.metadata.sorted_tables if t.name not in LATER]
# Columns added to the SCHEMA text after some registries were made (the old _ADDED list).
ADDED = (("staff", "session_version"), ("staff", "disabled_at"), ("login_failures", "address"))


def upgrade() -> None:
    bind = op.get_bind()
    # tables.py keeps these tables' 0001 shape: a later change to one of them is a new revision.
    tables.metadata.create_all(bind, tables=BASELINE, checkfirst=True)
    inspector = sa.inspect(bind)
    for table_name, column_name in ADDED:
        if column_name not in {c["name"] for c in inspector.get_columns(table_name)}:
            column = tables.metadata.tables[table_name].c[column_name]
            op.add_column(table_name, sa.Column(column.name, column.type, nullable=column.nullable,
                                                server_default=column.server_default))  # fmt: skip
    for table in BASELINE:  # an index added since (login_failures_by_address)
        present = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in present:
                index.create(bind)


def downgrade() -> None:
    for table in reversed(BASELINE):
        op.drop_table(table.name)
