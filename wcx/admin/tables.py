"""The admin context's tables: admin accounts, their sessions, and four-eyes approval requests.

Admin accounts are not users: they live in their own tables, never trade, and sign in on the admin
listener only. Migration `admin_0001` creates these tables (its own Alembic branch).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from wcx.store.schema import Id, metadata

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("totp_secret", Text, nullable=False),  # sealed (AES-GCM); TOTP is mandatory for admins
    Column("role", String(16), nullable=False),
    Column("ip_allowlist", JSON, nullable=False, default=list),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False, default=""),
    Column("last_login_at", DateTime(timezone=True)),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("admin_id", Id, ForeignKey("admin_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("ip", String(45)),
    Column("user_agent", String(255)),
)

admin_approvals = Table(
    "admin_approvals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("summary", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # pending | executing | approved | rejected | failed
    Column("requested_by", Integer, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", Integer),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", String(255), nullable=False, default=""),
    Column("result", JSON),
    Index("ix_admin_approvals_status_id", "status", "id"),
)
