"""The SQL schema: a projection of the engine's events plus the gateway's own records.

The engine rebuilt from the journal is the source of truth for balances and open orders;
these tables serve history, reports and audit. Alembic migrations in `wcx/store/migrations`
create them; keep the two in step (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from wcx.store.types import Amount

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Integer ids autoincrement on SQLite only as INTEGER PRIMARY KEY; BigInteger on PostgreSQL.
Id = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("email_verified_at", DateTime(timezone=True)),
    Column("frozen", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("totp_secret", String(64)),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    Column("recovery_codes", JSON, nullable=False, default=list),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("password_changed_at", DateTime(timezone=True)),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("family_id", String(36), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("ip", String(45)),
    Column("user_agent", String(255)),
)

email_outbox = Table(
    "email_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # hmac | ed25519
    Column("secret", Text),  # HMAC secret, encrypted at rest; Ed25519 keys keep only the public key
    Column("public_key", Text),
    Column("permissions", JSON, nullable=False),
    Column("ip_allowlist", JSON, nullable=False, default=list),
    Column("label", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("type", String(8), nullable=False),
    Column("tif", String(4), nullable=False),
    Column("price", Amount, nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("quote_amount", Amount, nullable=False),
    Column("client_order_id", String(64), nullable=False, default=""),
    Column("post_only", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),  # open | filled | cancelled | expired
    Column("filled", Amount, nullable=False),
    Column("quote_filled", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("reason", String(32), nullable=False, default=""),
    Column("created_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_orders_account_created", "account_id", "order_id"),
    Index("ix_orders_account_client", "account_id", "client_order_id"),
)

fills = Table(
    "fills",
    metadata,
    Column("trade_id", BigInteger, primary_key=True, autoincrement=False),
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("liquidity", String(5), nullable=False),  # maker | taker
    Column("price", Amount, nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("quote_quantity", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Index("ix_fills_account_trade", "account_id", "trade_id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", Integer, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(12), nullable=False),
    Column("available_delta", Amount, nullable=False),
    Column("held_delta", Amount, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("ref", String(128), nullable=False, default=""),
    Column("ts", DateTime(timezone=True), nullable=False),
    Index("ix_ledger_account_asset", "account_id", "asset", "seq"),
)

market_trades = Table(
    "market_trades",
    metadata,
    Column("trade_id", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", DateTime(timezone=True), primary_key=True),
    Column("symbol", String(32), nullable=False),
    Column("price", Amount, nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("quote_quantity", Amount, nullable=False),
    Column("taker_side", String(4), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Index("ix_market_trades_symbol_ts", "symbol", "ts"),
)

candles = Table(
    "candles",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("interval", String(4), primary_key=True),
    Column("open_time", DateTime(timezone=True), primary_key=True),
    Column("open", Amount, nullable=False),
    Column("high", Amount, nullable=False),
    Column("low", Amount, nullable=False),
    Column("close", Amount, nullable=False),
    Column("volume", Amount, nullable=False),
    Column("quote_volume", Amount, nullable=False),
    Column("trades", Integer, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, default=""),
    Column("details", JSON, nullable=False),
    Column("ip", String(45)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

projector_checkpoints = Table(
    "projector_checkpoints",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
