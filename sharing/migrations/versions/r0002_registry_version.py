"""registry_version: the one-row change marker every write transaction bumps first.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from lgsp.sharing import tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    tables.registry_version.create(bind, checkfirst=True)
    op.execute(
        "INSERT INTO registry_version (id, version) SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM registry_version)"
    )


def downgrade() -> None:
    op.drop_table("registry_version")
