"""KYC tables on the shared metadata (migration `kyc_0001` creates them with explicit op calls).

Personal data is stored sealed (AES-GCM, see `wcx.kyc.vault`); documents live encrypted on disk under
generated names, and the database keeps only their metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from wcx.store.schema import Id, metadata

kyc_profiles = Table(
    "kyc_profiles",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("tier", Integer, nullable=False),
    # Set while an approved user's re-screening hit waits for review: withdrawals are refused meanwhile.
    Column("review_hold", Boolean, nullable=False, default=False),
    Column("approved_submission_id", Id),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

kyc_submissions = Table(
    "kyc_submissions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("requested_tier", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    Column("personal_data", Text),  # sealed JSON object
    Column("provider", String(32), nullable=False, default="manual"),
    Column("provider_reference", String(128)),
    Column("reviewer", String(128)),
    Column("decision_reason", Text),
    Column("approved_tier", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    Index("ix_kyc_submissions_status_submitted", "status", "submitted_at"),
)

kyc_documents = Table(
    "kyc_documents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "submission_id", Id, ForeignKey("kyc_submissions.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("user_id", Id, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("storage_name", String(64), nullable=False, unique=True),
    Column("original_name", String(255), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

kyc_status_history = Table(
    "kyc_status_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "submission_id", Id, ForeignKey("kyc_submissions.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("from_status", String(24)),
    Column("to_status", String(24), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
)

kyc_screening_lists = Table(
    "kyc_screening_lists",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

kyc_screening_hits = Table(
    "kyc_screening_hits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "submission_id", Id, ForeignKey("kyc_submissions.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("user_id", Id, nullable=False, index=True),
    Column("list_name", String(64), nullable=False),
    Column("list_digest", String(64), nullable=False),
    Column("entry_uid", String(64), nullable=False),
    Column("entry_name", String(350), nullable=False),
    Column("program", String(200), nullable=False, default=""),
    Column("score", Float, nullable=False),
    Column("dob_match", String(8), nullable=False),  # match | mismatch | unknown
    Column("country_match", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # open | cleared | confirmed
    Column("resolved_by", String(128)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("submission_id", "list_name", "entry_uid", name="uq_kyc_screening_hits_entry"),
)

kyc_webhook_events = Table(
    "kyc_webhook_events",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
)

KYC_TABLES = (
    kyc_profiles,
    kyc_submissions,
    kyc_documents,
    kyc_status_history,
    kyc_screening_lists,
    kyc_screening_hits,
    kyc_webhook_events,
)
