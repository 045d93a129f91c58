"""KYC tables: profiles (tier), submissions, documents, status history, screening lists and hits,
provider webhook events.

Revision ID: kyc_0001
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kyc_0001"
down_revision = "0001"
branch_labels = ("kyc",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _owned_by(table: str, column: str, target: str) -> sa.Column[int]:
    """A NOT NULL reference to `target.id` that cascades deletes (named as the metadata names it)."""
    return sa.Column(
        column,
        Id,
        sa.ForeignKey(f"{target}.id", ondelete="CASCADE", name=f"fk_{table}_{column}_{target}"),
        nullable=False,
    )


def upgrade() -> None:
    """Create the KYC tables."""
    op.create_table(
        "kyc_profiles",
        _owned_by("kyc_profiles", "user_id", "users"),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("review_hold", sa.Boolean, nullable=False),
        sa.Column("approved_submission_id", Id),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_kyc_profiles"),
    )
    op.create_table(
        "kyc_submissions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _owned_by("kyc_submissions", "user_id", "users"),
        sa.Column("requested_tier", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("personal_data", sa.Text),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_reference", sa.String(128)),
        sa.Column("reviewer", sa.String(128)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("approved_tier", sa.Integer),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("submitted_at", When),
        sa.Column("decided_at", When),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_submissions"),
    )
    op.create_index("ix_kyc_submissions_user_id", "kyc_submissions", ["user_id"])
    op.create_index("ix_kyc_submissions_status_submitted", "kyc_submissions", ["status", "submitted_at"])
    op.create_table(
        "kyc_documents",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _owned_by("kyc_documents", "submission_id", "kyc_submissions"),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("storage_name", sa.String(64), nullable=False),
        sa.Column("original_name", sa.String(255), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_documents"),
        sa.UniqueConstraint("storage_name", name="uq_kyc_documents_storage_name"),
    )
    op.create_index("ix_kyc_documents_submission_id", "kyc_documents", ["submission_id"])
    op.create_table(
        "kyc_status_history",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _owned_by("kyc_status_history", "submission_id", "kyc_submissions"),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_status_history"),
    )
    op.create_index("ix_kyc_status_history_submission_id", "kyc_status_history", ["submission_id"])
    op.create_table(
        "kyc_screening_lists",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("loaded_at", When, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_kyc_screening_lists"),
    )
    op.create_table(
        "kyc_screening_hits",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        _owned_by("kyc_screening_hits", "submission_id", "kyc_submissions"),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("list_name", sa.String(64), nullable=False),
        sa.Column("list_digest", sa.String(64), nullable=False),
        sa.Column("entry_uid", sa.String(64), nullable=False),
        sa.Column("entry_name", sa.String(350), nullable=False),
        sa.Column("program", sa.String(200), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("dob_match", sa.String(8), nullable=False),
        sa.Column("country_match", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("resolved_at", When),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_screening_hits"),
        sa.UniqueConstraint("submission_id", "list_name", "entry_uid", name="uq_kyc_screening_hits_entry"),
    )
    op.create_index("ix_kyc_screening_hits_submission_id", "kyc_screening_hits", ["submission_id"])
    op.create_index("ix_kyc_screening_hits_user_id", "kyc_screening_hits", ["user_id"])
    op.create_table(
        "kyc_webhook_events",
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("received_at", When, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name="pk_kyc_webhook_events"),
    )


def downgrade() -> None:
    """Drop the KYC tables."""
    for name in (
        "kyc_webhook_events",
        "kyc_screening_hits",
        "kyc_screening_lists",
        "kyc_status_history",
        "kyc_documents",
        "kyc_submissions",
        "kyc_profiles",
    ):
        op.drop_table(name)
