"""Deposits: per-user deposit addresses, seen/credited deposits, scanned block hashes, checkpoints.

Revision ID: deposits_0001
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wcx.store.types import Amount

revision = "deposits_0001"
down_revision = "0001"
branch_labels = ("deposits",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the deposit tables."""
    op.create_table(
        "deposit_addresses",
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("address_index", sa.BigInteger, nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain", "user_id", name="pk_deposit_addresses"),
        sa.UniqueConstraint("chain", "address", name="uq_deposit_addresses_chain_address"),
        sa.UniqueConstraint("chain", "address_index", name="uq_deposit_addresses_chain_address_index"),
    )
    op.create_table(
        "deposits",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("tx_hash", sa.String(100), nullable=False),
        sa.Column("log_index", sa.Integer, nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("block_height", sa.BigInteger, nullable=False),
        sa.Column("block_hash", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confirmations_required", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(160), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credited_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("chain", "tx_hash", "log_index", name="uq_deposits_chain_tx_hash_log_index"),
    )
    op.create_index("ix_deposits_user", "deposits", ["user_id", "id"])
    op.create_index("ix_deposits_chain_status", "deposits", ["chain", "status"])
    op.create_table(
        "deposit_blocks",
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("height", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("chain", "height", name="pk_deposit_blocks"),
    )
    op.create_table(
        "deposit_checkpoints",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("height", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the deposit tables."""
    for table in ("deposit_checkpoints", "deposit_blocks", "deposits", "deposit_addresses"):
        op.drop_table(table)
