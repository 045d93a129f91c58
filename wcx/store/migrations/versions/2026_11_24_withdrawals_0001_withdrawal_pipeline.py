"""Withdrawal pipeline: withdrawals, approvals, address book, hot-wallet nonces, hot/cold rebalances.

Revision ID: withdrawals_0001
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wcx.store.types import Amount

revision = "withdrawals_0001"
down_revision = "0001"
branch_labels = ("withdrawals",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the pipeline's tables."""
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("memo", sa.String(128), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("fee", Amount(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("approvals_required", sa.Integer, nullable=False),
        sa.Column("api_key_id", sa.BigInteger),
        sa.Column("ip", sa.String(45)),
        sa.Column("from_address", sa.String(128)),
        sa.Column("nonce", sa.BigInteger),
        sa.Column("raw_tx", sa.Text),
        sa.Column("tx_hash", sa.String(80)),
        sa.Column("confirmations", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_withdrawals_user_id_created_at", "withdrawals", ["user_id", "created_at"])
    op.create_index("ix_withdrawals_state", "withdrawals", ["state"])
    op.create_table(
        "withdrawal_approvals",
        sa.Column("withdrawal_id", sa.String(40), sa.ForeignKey("withdrawals.id"), primary_key=True),
        sa.Column("admin_id", sa.String(64), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "withdrawal_addresses",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usable_from", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_withdrawal_addresses_user_id_asset_address",
        "withdrawal_addresses",
        ["user_id", "asset", "address"],
        unique=True,
    )
    op.create_table(
        "wallet_nonces",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("next_nonce", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "wallet_rebalances",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("hot_balance", Amount(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_wallet_rebalances_asset_state", "wallet_rebalances", ["asset", "state"])


def downgrade() -> None:
    """Drop the pipeline's tables."""
    for name in ("wallet_rebalances", "wallet_nonces", "withdrawal_addresses"):
        op.drop_table(name)
    op.drop_table("withdrawal_approvals")
    op.drop_table("withdrawals")
