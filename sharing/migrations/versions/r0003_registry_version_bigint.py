"""registry_version.version as a 64-bit integer: every write transaction bumps it (each token
issued, each webhook event), so a busy hub would run through 32 bits in months.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":  # SQLite's integers are 64-bit already
        op.alter_column("registry_version", "version", type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("registry_version", "version", type_=sa.Integer(), existing_nullable=False)
