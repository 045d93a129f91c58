"""Deposits: a note on each deposit (why it is held, e.g. a KYC deposit limit code).

Revision ID: deposits_0002
Revises: deposits_0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "deposits_0002"
down_revision = "deposits_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add deposits.note."""
    with op.batch_alter_table("deposits") as batch:
        batch.add_column(sa.Column("note", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop deposits.note."""
    with op.batch_alter_table("deposits") as batch:
        batch.drop_column("note")
