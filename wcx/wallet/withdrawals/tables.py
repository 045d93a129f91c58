"""The withdrawal pipeline's tables on the shared metadata (migrations `withdrawals_0001` and `0002`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from wcx.store.schema import Id, metadata
from wcx.store.types import Amount


def sending_columns() -> list[Column[Any]]:
    """What the chain steps record on a payout (withdrawals and hot-to-cold transfers alike)."""
    return [
        Column("from_address", String(128)),
        Column("nonce", BigInteger),
        Column("raw_tx", Text),
        Column("tx_hash", String(80)),
        Column("confirmations", Integer, nullable=False, default=0),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", String(255), nullable=False, default=""),
        Column("broadcast_height", BigInteger),  # the tip when last sent (Bitcoin fee bumping)
    ]


withdrawals = Table(
    "withdrawals",
    metadata,
    # The id doubles as the engine's withdrawal id (hold/settle/release reference).
    Column("id", String(40), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("chain", String(32), nullable=False),
    Column("address", String(128), nullable=False),
    Column("memo", String(128), nullable=False, default=""),
    Column("amount", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("state", String(24), nullable=False),
    Column("reason", String(64), nullable=False, default=""),
    Column("approvals_required", Integer, nullable=False),
    Column("api_key_id", BigInteger),
    Column("ip", String(45)),
    *sending_columns(),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_withdrawals_user_id_created_at", "user_id", "created_at"),
    Index("ix_withdrawals_state", "state"),
)

withdrawal_approvals = Table(
    "withdrawal_approvals",
    metadata,
    Column("withdrawal_id", String(40), ForeignKey("withdrawals.id"), primary_key=True),
    Column("admin_id", String(64), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("reason", String(255), nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
)

withdrawal_addresses = Table(
    "withdrawal_addresses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("address", String(128), nullable=False),
    Column("label", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("usable_from", DateTime(timezone=True), nullable=False),
    Index("ix_withdrawal_addresses_user_id_asset_address", "user_id", "asset", "address", unique=True),
)

wallet_nonces = Table(
    "wallet_nonces",
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("address", String(128), primary_key=True),
    Column("next_nonce", BigInteger, nullable=False),
)

wallet_rebalances = Table(
    "wallet_rebalances",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("asset", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("hot_balance", Amount, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Set when the back office approves a hot-to-cold transfer (withdrawals_0002): the row then
    # moves through the withdrawal states approved -> signed -> broadcast -> confirmed (or failed).
    Column("approval_id", BigInteger),
    Column("chain", String(32)),
    Column("address", String(128)),
    *sending_columns(),
    Column("updated_at", DateTime(timezone=True)),
    Index("ix_wallet_rebalances_asset_state", "asset", "state"),
)

payout_transactions = Table(
    "payout_transactions",
    metadata,
    # Every transaction a payout signed, in order: the first, then each fee-bumped replacement.
    Column("payout", String(64), primary_key=True),  # "withdrawal:<id>" or "transfer:<id>"
    Column("txid", String(80), primary_key=True),
    Column("sequence", Integer, nullable=False),  # 0 for the first, n for the n-th replacement
    Column("raw_tx", Text, nullable=False),
    Column("fee", Amount),
    Column("psbt", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
