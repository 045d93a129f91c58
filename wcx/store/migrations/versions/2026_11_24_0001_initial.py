"""Initial schema: users, credentials, sessions, API keys, orders, fills, ledger, trades, candles, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

from wcx.store import schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A frozen copy would be the textbook way; at the first revision the live metadata *is* the schema.
# Later revisions must use explicit op.* calls so history never changes under an existing database.
TABLES = [
    schema.users,
    schema.credentials,
    schema.sessions,
    schema.email_outbox,
    schema.api_keys,
    schema.orders,
    schema.fills,
    schema.ledger_entries,
    schema.market_trades,
    schema.candles,
    schema.audit_events,
    schema.projector_checkpoints,
]


def upgrade() -> None:
    """Create every table; on PostgreSQL with TimescaleDB, trades and candles become hypertables."""
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)
    if bind.dialect.name == "postgresql":
        available = bind.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).scalar()
        if available:
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS timescaledb")
            bind.exec_driver_sql("SELECT create_hypertable('market_trades', 'ts', migrate_data => true)")
            bind.exec_driver_sql("SELECT create_hypertable('candles', 'open_time', migrate_data => true)")


def downgrade() -> None:
    """Drop every table."""
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
