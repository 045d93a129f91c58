"""KYC review from the back office: the queue, a case with its documents and screening hits, decisions.

The KYC service (`runtime.kyc`) owns the cases; this module adds what the admin context owns:
permissions (checked by the routes), the reviewer's name and the audit record, written in the same
transaction as the decision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.admin.accounts import Actor
from wcx.admin.state import admin_state
from wcx.api.errors import ApiError
from wcx.kyc import CaseView, Decision, DocumentView, HitView, KycError, QueueItem, SubmissionView

__all__ = ["Decision", "DecisionIn", "HitResolutionIn", "case", "decide", "document", "queue", "resolve_hit"]
from wcx.runtime import Runtime
from wcx.store.audit import record_audit

_STATUS = {"invalid": 400, "not_found": 404, "conflict": 409, "forbidden": 403, "too_large": 413}


class DecisionIn(BaseModel):
    """A reviewer's decision; rejecting or asking for more information needs a reason."""

    decision: Decision
    reason: str = Field("", max_length=500)
    tier: int | None = Field(None, ge=0, le=9)


class HitResolutionIn(BaseModel):
    """A screening hit cleared (false positive) or confirmed (a true match)."""

    confirmed: bool
    reason: str = Field(min_length=1, max_length=500)


def api_error(exc: KycError) -> ApiError:
    """The KYC refusal as the admin API answers it."""
    return ApiError(_STATUS.get(exc.kind, 503 if exc.kind == "unavailable" else 400), exc.code, exc.message)


@asynccontextmanager
async def _kyc(runtime: Runtime, *, write: bool) -> AsyncIterator[AsyncConnection]:
    """A connection (a transaction when writing) with KYC refusals turned into API errors."""
    try:
        if write:
            async with runtime.db.begin() as conn:
                yield conn
        else:
            async with runtime.db.connect() as conn:
                yield conn
    except KycError as exc:
        raise api_error(exc) from None


async def queue(runtime: Runtime, limit: int = 100) -> list[QueueItem]:
    """Cases waiting for review, oldest first."""
    async with _kyc(runtime, write=False) as conn:
        return await runtime.kyc.list_queue(conn, limit=limit)


async def case(runtime: Runtime, submission_id: int) -> CaseView:
    """One case: personal data, documents, history, screening hits."""
    async with _kyc(runtime, write=False) as conn:
        return await runtime.kyc.get_case(conn, submission_id)


async def document(runtime: Runtime, document_id: int) -> tuple[DocumentView, bytes]:
    """A document's metadata and decrypted bytes for the viewer."""
    async with _kyc(runtime, write=False) as conn:
        return await runtime.kyc.read_document(conn, document_id)


async def decide(runtime: Runtime, actor: Actor, submission_id: int, body: DecisionIn) -> CaseView:
    """Approve, reject or ask for more information; the audit record commits with the decision."""
    async with _kyc(runtime, write=True) as conn:
        before = await runtime.kyc.get_case(conn, submission_id)
        after = await runtime.kyc.decide(
            conn, submission_id, body.decision, reviewer=actor.name, reason=body.reason, tier=body.tier
        )
        await record_audit(
            conn,
            actor=actor.name,
            action=f"kyc.{body.decision.value}",
            target=f"user:{after.user_id}",
            ip=actor.ip,
            before={"submission": submission_id, "status": before.status.value, "tier": before.current_tier},
            after={
                "submission": submission_id,
                "status": after.status.value,
                "tier": after.current_tier,
                "reason": body.reason,
            },
            at=admin_state(runtime).now(),
        )
        return after


async def resolve_hit(runtime: Runtime, actor: Actor, hit_id: int, body: HitResolutionIn) -> HitView:
    """Clear or confirm a screening hit (audited)."""
    async with _kyc(runtime, write=True) as conn:
        hit = await runtime.kyc.resolve_hit(
            conn, hit_id, reviewer=actor.name, confirmed=body.confirmed, reason=body.reason
        )
        await record_audit(
            conn,
            actor=actor.name,
            action="kyc.hit_confirmed" if body.confirmed else "kyc.hit_cleared",
            target=f"user:{hit.user_id}",
            ip=actor.ip,
            after={"hit": hit_id, "list": hit.list_name, "entry": hit.entry_name, "reason": body.reason},
            at=admin_state(runtime).now(),
        )
        return hit


async def user_kyc(runtime: Runtime, user_id: int) -> dict[str, Any]:
    """The user view's KYC section: tier, its limits and the submissions."""
    async with _kyc(runtime, write=False) as conn:
        tier = await runtime.kyc.tier_of(conn, user_id)
        submissions: list[SubmissionView] = await runtime.kyc.cases_of_user(conn, user_id)
    return {
        "tier": tier,
        "limits": runtime.kyc.limits_view(tier).model_dump(mode="json"),
        "submissions": [
            {
                "id": s.id,
                "status": s.status.value,
                "requested_tier": s.requested_tier,
                "approved_tier": s.approved_tier,
                "documents": len(s.documents),
                "decision_reason": s.decision_reason,
                "submitted_at": s.submitted_at.isoformat() if s.submitted_at else None,
            }
            for s in submissions
        ],
    }
