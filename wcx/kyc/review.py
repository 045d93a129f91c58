"""Review, the back office's side: the queue, cases, and decisions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.kyc.core import KycCore, aware, checked_reason, hit_view
from wcx.kyc.errors import KycError
from wcx.kyc.status import QUEUED, Status
from wcx.kyc.tables import (
    kyc_documents,
    kyc_profiles,
    kyc_screening_hits,
    kyc_status_history,
    kyc_submissions,
)
from wcx.kyc.views import CaseView, HistoryView, QueueItem


class Decision(StrEnum):
    """What a reviewer (or a provider) decides on a case in review."""

    APPROVE = "approve"
    REJECT = "reject"
    MORE_INFO = "more_info"


_DECISION_STATUS = {
    Decision.APPROVE: Status.APPROVED,
    Decision.REJECT: Status.REJECTED,
    Decision.MORE_INFO: Status.MORE_INFO_NEEDED,
}


class Review(KycCore):
    """The review queue and decisions."""

    async def list_queue(
        self, conn: AsyncConnection, *, status: Status | None = None, limit: int = 50, after_id: int = 0
    ) -> list[QueueItem]:
        """Submissions waiting for review (submitted or in review), oldest submission first."""
        statuses = [status] if status is not None else list(QUEUED)
        open_hits = (
            select(func.count())
            .where(
                kyc_screening_hits.c.submission_id == kyc_submissions.c.id,
                kyc_screening_hits.c.status == "open",
            )
            .scalar_subquery()
        )
        documents = (
            select(func.count())
            .where(kyc_documents.c.submission_id == kyc_submissions.c.id)
            .scalar_subquery()
        )
        rows = await conn.execute(
            select(
                kyc_submissions,
                open_hits.label("open_hits"),
                documents.label("documents"),
                kyc_profiles.c.tier,
            )
            .outerjoin(kyc_profiles, kyc_profiles.c.user_id == kyc_submissions.c.user_id)
            .where(and_(kyc_submissions.c.status.in_(statuses), kyc_submissions.c.id > after_id))
            .order_by(kyc_submissions.c.submitted_at, kyc_submissions.c.id)
            .limit(max(1, min(limit, 500)))
        )
        return [
            QueueItem(
                submission_id=row.id,
                user_id=row.user_id,
                full_name=self._unseal(row.id, row.personal_data).full_name,
                requested_tier=row.requested_tier,
                current_tier=self.default_tier if row.tier is None else row.tier,
                status=Status(row.status),
                submitted_at=aware(row.submitted_at),
                open_hits=row.open_hits,
                documents=row.documents,
            )
            for row in rows
        ]

    async def start_review(self, conn: AsyncConnection, submission_id: int, reviewer: str) -> CaseView:
        """Take a submitted case into review (submitted → in_review)."""
        row = await self._submission(conn, submission_id, lock=True)
        await self._move(conn, row, Status.IN_REVIEW, reviewer, "review started", reviewer=reviewer)
        return await self.get_case(conn, submission_id)

    async def decide(
        self,
        conn: AsyncConnection,
        submission_id: int,
        decision: Decision,
        *,
        reviewer: str,
        reason: str = "",
        tier: int | None = None,
    ) -> CaseView:
        """Approve (with a tier, default the requested one), reject, or ask for more information.

        A case still `submitted` is taken into review first. Approval is refused while screening hits are
        open; rejecting and asking for more information need a reason. Approval sets the user's tier;
        rejecting a case that had been approved (re-screening) drops the user to tier 0.
        """
        reason = checked_reason(reason, required=decision is not Decision.APPROVE)
        row = await self._submission(conn, submission_id, lock=True)
        if Status(row.status) is Status.SUBMITTED:
            await self._move(conn, row, Status.IN_REVIEW, reviewer, "review started", reviewer=reviewer)
            row = await self._submission(conn, submission_id)
        was_approved = row.approved_tier is not None
        values: dict[str, Any] = {"reviewer": reviewer, "decision_reason": reason, "decided_at": self.clock()}
        if decision is Decision.APPROVE:
            granted = int(row.requested_tier) if tier is None else tier
            self._check_requested(granted)
            if granted > row.requested_tier:  # the submission only meets the requested tier's requirements
                raise KycError(
                    "KYC_INVALID_TIER", f"this submission supports at most tier {row.requested_tier}"
                )
            open_hits = await self._open_hits(conn, row.id)
            if open_hits:
                raise KycError(
                    "KYC_OPEN_SCREENING_HITS",
                    f"resolve the {open_hits} open screening hit(s) first",
                    kind="conflict",
                )
            values["approved_tier"] = granted
        await self._move(conn, row, _DECISION_STATUS[decision], reviewer, reason, **values)
        if decision is Decision.APPROVE:
            # An approval never lowers a tier the user already holds (an older, higher approval stands).
            held = await self.tier_of(conn, row.user_id)
            tier = max(values["approved_tier"], held) if not was_approved else values["approved_tier"]
            await self.set_tier(conn, row.user_id, tier, review_hold=False, submission_id=row.id)
        elif decision is Decision.REJECT and was_approved:
            await self.set_tier(conn, row.user_id, 0, review_hold=False)
        return await self.get_case(conn, submission_id)

    async def get_case(self, conn: AsyncConnection, submission_id: int) -> CaseView:
        """Everything a reviewer needs: data, documents, history, screening hits, the user's tier."""
        row = await self._submission(conn, submission_id)
        history = await conn.execute(
            select(kyc_status_history)
            .where(kyc_status_history.c.submission_id == row.id)
            .order_by(kyc_status_history.c.id)
        )
        hits = await conn.execute(
            select(kyc_screening_hits)
            .where(kyc_screening_hits.c.submission_id == row.id)
            .order_by(kyc_screening_hits.c.id)
        )
        return CaseView(
            **self._submission_fields(row, await self._documents(conn, row.id)),
            history=[
                HistoryView(
                    from_status=Status(h.from_status) if h.from_status else None,
                    to_status=Status(h.to_status),
                    actor=h.actor,
                    reason=h.reason,
                    at=aware(h.at),
                )
                for h in history
            ],
            hits=[hit_view(h) for h in hits],
            provider=row.provider,
            provider_reference=row.provider_reference,
            reviewer=row.reviewer,
            current_tier=await self.tier_of(conn, row.user_id),
        )
