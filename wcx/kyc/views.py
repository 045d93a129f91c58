"""What the KYC service returns: plain pydantic models the API and the admin views can answer with."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from wcx.kyc.personal import PersonalData
from wcx.kyc.status import Status


class DocumentView(BaseModel):
    """A stored document's metadata (the bytes come from `read_document`)."""

    id: int
    submission_id: int
    user_id: int
    kind: str
    content_type: str
    size: int
    original_name: str
    created_at: datetime


class HistoryView(BaseModel):
    """One status change."""

    from_status: Status | None
    to_status: Status
    actor: str
    reason: str
    at: datetime


class HitView(BaseModel):
    """A screening hit awaiting (or past) manual review."""

    id: int
    submission_id: int
    user_id: int
    list_name: str
    entry_uid: str
    entry_name: str
    program: str
    score: float
    dob_match: str
    country_match: str
    status: str
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class SubmissionView(BaseModel):
    """A submission as its owner sees it."""

    id: int
    user_id: int
    requested_tier: int
    status: Status
    personal_data: PersonalData
    documents: list[DocumentView]
    decision_reason: str | None
    approved_tier: int | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None


class CaseView(SubmissionView):
    """A submission as a reviewer sees it: plus history, screening hits and the provider."""

    history: list[HistoryView]
    hits: list[HitView]
    provider: str
    provider_reference: str | None
    reviewer: str | None
    current_tier: int


class QueueItem(BaseModel):
    """One line of the review queue."""

    submission_id: int
    user_id: int
    full_name: str | None
    requested_tier: int
    current_tier: int
    status: Status
    submitted_at: datetime | None
    open_hits: int
    documents: int


class LimitsView(BaseModel):
    """A tier's limits on the wire: decimal strings of the reference asset, None = unlimited."""

    tier: int
    name: str
    trading: bool
    reference_asset: str
    withdrawal_daily: str | None
    withdrawal_monthly: str | None
    deposit_daily: str | None
    deposit_monthly: str | None
    required_personal_data: list[str]
    required_documents: list[str]
