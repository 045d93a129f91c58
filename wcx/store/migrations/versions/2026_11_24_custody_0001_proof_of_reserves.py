"""Proof of reserves: rounds, per-asset roots, salted leaves, on-chain reserves per round.

Revision ID: custody_0001
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wcx.store.types import Amount

revision = "custody_0001"
down_revision = "0001"
branch_labels = ("custody",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the proof-of-reserves tables."""
    op.create_table(
        "por_rounds",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("engine_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "por_roots",
        sa.Column("round_id", Id, sa.ForeignKey("por_rounds.id"), primary_key=True),
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("scale", sa.Integer, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("total", Amount(), nullable=False),
        sa.Column("leaf_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "por_leaves",
        sa.Column("round_id", Id, sa.ForeignKey("por_rounds.id"), primary_key=True),
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("balance", Amount(), nullable=False),
    )
    op.create_index("ix_por_leaves_round_id_user_id", "por_leaves", ["round_id", "user_id"])
    op.create_table(
        "por_reserves",
        sa.Column("round_id", Id, sa.ForeignKey("por_rounds.id"), primary_key=True),
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("tier", sa.String(8), primary_key=True),
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("balance", Amount(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_por_leaves_round_id_user_id", table_name="por_leaves")
    for name in ("por_reserves", "por_leaves", "por_roots", "por_rounds"):
        op.drop_table(name)
