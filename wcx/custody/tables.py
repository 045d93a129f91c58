"""Proof-of-reserves tables on the shared metadata (migration `custody_0001` creates them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table

from wcx.store.schema import Id, metadata
from wcx.store.types import Amount

por_rounds = Table(
    "por_rounds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The engine sequence number the liabilities were read at (the round is that instant's state).
    Column("engine_seq", BigInteger, nullable=False),
)

por_roots = Table(
    "por_roots",
    metadata,
    Column("round_id", Id, ForeignKey("por_rounds.id"), primary_key=True),
    Column("asset", String(16), primary_key=True),
    Column("scale", Integer, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("total", Amount, nullable=False),
    Column("leaf_count", Integer, nullable=False),
)

por_leaves = Table(
    "por_leaves",
    metadata,
    Column("round_id", Id, ForeignKey("por_rounds.id"), primary_key=True),
    Column("asset", String(16), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("user_id", Id, nullable=False),
    Column("salt", String(32), nullable=False),
    Column("balance", Amount, nullable=False),
    Index("ix_por_leaves_round_id_user_id", "round_id", "user_id"),
)

por_reserves = Table(
    "por_reserves",
    metadata,
    Column("round_id", Id, ForeignKey("por_rounds.id"), primary_key=True),
    Column("asset", String(16), primary_key=True),
    Column("tier", String(8), primary_key=True),
    Column("address", String(128), primary_key=True),
    Column("balance", Amount, nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
)
