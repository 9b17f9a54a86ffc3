"""The exchange log's tables for the cluster profile: its entries, its one-row head (the lock that
orders every replica's appends) and its signed checkpoints.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from lgsp.sharing import tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # lgsp.sharing.exchange_log.GENESIS: the hash before the first entry


def upgrade() -> None:
    bind = op.get_bind()
    for table in (tables.exchange_log, tables.exchange_log_head, tables.exchange_log_checkpoints):
        table.create(bind, checkfirst=True)
    op.execute(
        "INSERT INTO exchange_log_head (id, count, hash) "
        f"SELECT 1, 0, '{GENESIS}' WHERE NOT EXISTS (SELECT 1 FROM exchange_log_head)"
    )


def downgrade() -> None:
    for name in ("exchange_log_checkpoints", "exchange_log_head", "exchange_log"):
        op.drop_table(name)
