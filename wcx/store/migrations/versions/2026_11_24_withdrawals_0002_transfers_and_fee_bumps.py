"""Withdrawals: hot-to-cold transfers executed from the back office, and every transaction a payout
signed (the first and its fee-bumped replacements).

Revision ID: withdrawals_0002
Revises: withdrawals_0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wcx.store.types import Amount

revision = "withdrawals_0002"
down_revision = "withdrawals_0001"
branch_labels = None
depends_on = None

TRANSFER_COLUMNS = (
    "approval_id",
    "chain",
    "address",
    "from_address",
    "nonce",
    "raw_tx",
    "tx_hash",
    "confirmations",
    "attempts",
    "last_error",
    "updated_at",
    "broadcast_height",
)


def upgrade() -> None:
    """Add the transfer columns, withdrawals.broadcast_height and payout_transactions."""
    with op.batch_alter_table("withdrawals") as batch:
        batch.add_column(sa.Column("broadcast_height", sa.BigInteger))
    with op.batch_alter_table("wallet_rebalances") as batch:
        batch.add_column(sa.Column("approval_id", sa.BigInteger))
        batch.add_column(sa.Column("chain", sa.String(32)))
        batch.add_column(sa.Column("address", sa.String(128)))
        batch.add_column(sa.Column("from_address", sa.String(128)))
        batch.add_column(sa.Column("nonce", sa.BigInteger))
        batch.add_column(sa.Column("raw_tx", sa.Text))
        batch.add_column(sa.Column("tx_hash", sa.String(80)))
        batch.add_column(sa.Column("confirmations", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("broadcast_height", sa.BigInteger))
    op.create_table(
        "payout_transactions",
        sa.Column("payout", sa.String(64), primary_key=True),
        sa.Column("txid", sa.String(80), primary_key=True),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("raw_tx", sa.Text, nullable=False),
        sa.Column("fee", Amount()),
        sa.Column("psbt", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("payout_transactions")
    with op.batch_alter_table("wallet_rebalances") as batch:
        for name in TRANSFER_COLUMNS:
            batch.drop_column(name)
    with op.batch_alter_table("withdrawals") as batch:
        batch.drop_column("broadcast_height")
