"""Sweeps: transactions moving deposit-address funds to the hot wallet (and their gas top-ups), with
the deposit addresses and outputs each one spends.

Revision ID: sweeps_0001
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wcx.store.types import Amount

revision = "sweeps_0001"
down_revision = "0001"
branch_labels = ("sweeps",)
depends_on = None


def upgrade() -> None:
    """Create the sweep tables."""
    op.create_table(
        "wallet_sweeps",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_address", sa.String(128), nullable=False),
        sa.Column("to_address", sa.String(128), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("fee", Amount(), nullable=False),
        sa.Column("nonce", sa.BigInteger),
        sa.Column("unsigned_tx", sa.Text, nullable=False),
        sa.Column("raw_tx", sa.Text),
        sa.Column("tx_hash", sa.String(80)),
        sa.Column("depends_on", sa.String(40)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("confirmations", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_wallet_sweeps_state", "wallet_sweeps", ["state"])
    op.create_table(
        "wallet_sweep_inputs",
        sa.Column("sweep_id", sa.String(40), sa.ForeignKey("wallet_sweeps.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("key_index", sa.BigInteger, nullable=False),
        sa.Column("txid", sa.String(80), nullable=False),
        sa.Column("vout", sa.Integer, nullable=False),
        sa.Column("amount", Amount(), nullable=False),
    )
    op.create_index("ix_wallet_sweep_inputs_address", "wallet_sweep_inputs", ["address"])


def downgrade() -> None:
    """Drop the sweep tables."""
    op.drop_table("wallet_sweep_inputs")
    op.drop_table("wallet_sweeps")
