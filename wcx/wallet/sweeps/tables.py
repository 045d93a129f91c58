"""Sweep tables on the shared metadata (migration `sweeps_0001` creates them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from wcx.store.schema import metadata
from wcx.store.types import Amount

wallet_sweeps = Table(
    "wallet_sweeps",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("chain", String(32), nullable=False),
    Column("asset", String(16), nullable=False),
    # native (ETH), token (ERC-20 transfer), consolidation (Bitcoin: every input in one transaction)
    # or gas_topup (the hot wallet paying a token sweep's gas, signed by the HSM)
    Column("kind", String(16), nullable=False),
    Column("from_address", String(128), nullable=False),
    Column("to_address", String(128), nullable=False),
    # What reaches `to_address`, and the most the transaction can pay the chain (gas limit x max fee,
    # or the Bitcoin fee).
    Column("amount", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("nonce", BigInteger),
    # The transaction to sign: Ethereum fields as JSON, or a base64 PSBT ("" for a top-up until the
    # processor builds it with the hot wallet's next nonce).
    Column("unsigned_tx", Text, nullable=False),
    Column("raw_tx", Text),
    Column("tx_hash", String(80)),
    # A token sweep is broadcast only once its gas top-up is confirmed.
    Column("depends_on", String(40)),
    Column("state", String(16), nullable=False),
    Column("confirmations", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_wallet_sweeps_state", "state"),
)

wallet_sweep_inputs = Table(
    "wallet_sweep_inputs",
    metadata,
    # What a sweep spends: the deposit address and its key index (the user id); on Bitcoin one row
    # per unspent output (txid, vout), on Ethereum one row with txid "" and vout -1.
    Column("sweep_id", String(40), ForeignKey("wallet_sweeps.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("address", String(128), nullable=False),
    Column("key_index", BigInteger, nullable=False),
    Column("txid", String(80), nullable=False),
    Column("vout", Integer, nullable=False),
    Column("amount", Amount, nullable=False),
    Index("ix_wallet_sweep_inputs_address", "address"),
)
