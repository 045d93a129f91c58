"""Deposit tables on the shared metadata (migration `deposits_0001` creates them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from wcx.store.schema import Id, metadata
from wcx.store.types import Amount

deposit_addresses = Table(
    "deposit_addresses",
    metadata,
    Column("chain", String(32), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    # The BIP32 child index under the chain's account key (the user id; see wcx.wallet.addresses).
    Column("address_index", BigInteger, nullable=False),
    Column("address", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("chain", "user_id"),
    UniqueConstraint("chain", "address"),
    UniqueConstraint("chain", "address_index"),
)

deposits = Table(
    "deposits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("chain", String(32), nullable=False),
    Column("tx_hash", String(100), nullable=False),
    # ERC-20 log index, Bitcoin output index, or -1 for a native Ethereum transfer.
    Column("log_index", Integer, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("address", String(128), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("block_height", BigInteger, nullable=False),
    Column("block_hash", String(100), nullable=False),
    # pending (waiting for confirmations) -> credited, or -> held (a gate such as a KYC deposit limit
    # refused it for now; re-checked every round) -> credited; credited -> reorged (alert: left the chain)
    Column("status", String(16), nullable=False),
    Column("note", String(64), nullable=False, server_default=""),
    Column("confirmations_required", Integer, nullable=False),
    Column("reference", String(160), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Column("credited_at", DateTime(timezone=True)),
    UniqueConstraint("chain", "tx_hash", "log_index"),
    Index("ix_deposits_user", "user_id", "id"),
    Index("ix_deposits_chain_status", "chain", "status"),
)

deposit_blocks = Table(
    "deposit_blocks",
    metadata,
    # The hashes of recently scanned blocks: a changed one marks a reorg and where it forked.
    Column("chain", String(32), nullable=False),
    Column("height", BigInteger, nullable=False),
    Column("hash", String(100), nullable=False),
    PrimaryKeyConstraint("chain", "height"),
)

deposit_checkpoints = Table(
    "deposit_checkpoints",
    metadata,
    # The newest block scanned per chain: a restart resumes after it.
    Column("chain", String(32), primary_key=True),
    Column("height", BigInteger, nullable=False),
    Column("hash", String(100), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
