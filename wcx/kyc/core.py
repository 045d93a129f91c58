"""The KYC service's shared core: its parts, the one status writer, sealing, row helpers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.kyc import metrics
from wcx.kyc.errors import KycError, NotFoundError
from wcx.kyc.personal import PersonalData
from wcx.kyc.providers import KycProvider, ManualReview
from wcx.kyc.screening import Screener
from wcx.kyc.status import Status, check_transition
from wcx.kyc.tables import (
    kyc_documents,
    kyc_profiles,
    kyc_screening_hits,
    kyc_status_history,
    kyc_submissions,
)
from wcx.kyc.tiers import KycConfig, TierLimits
from wcx.kyc.vault import DocumentVault, Sealer, VaultError
from wcx.kyc.views import DocumentView, HitView
from wcx.ttl_cache import TtlCache

log = logging.getLogger(__name__)

SYSTEM = "system:kyc"
TIER_CACHE_S = 2.0
"""How long a process trusts a tier it read; other processes' decisions apply within this time."""
TIER_CACHE_SIZE = 100_000
MAX_REASON = 2000


def utc_now() -> datetime:
    """The wall clock in UTC (the default clock)."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def checked_reason(reason: str, *, required: bool) -> str:
    """A decision's reason, stripped; refused when required and empty, or too long."""
    reason = (reason or "").strip()
    if required and not reason:
        raise KycError("KYC_REASON_REQUIRED", "give a reason for this decision")
    if len(reason) > MAX_REASON:
        raise KycError("KYC_REASON_TOO_LONG", f"a reason has at most {MAX_REASON} characters")
    return reason


def document_view(row: Row[Any]) -> DocumentView:
    """A documents row as its view."""
    return DocumentView(
        id=row.id,
        submission_id=row.submission_id,
        user_id=row.user_id,
        kind=row.kind,
        content_type=row.content_type,
        size=row.size,
        original_name=row.original_name,
        created_at=aware(row.created_at),
    )


def hit_view(row: Row[Any]) -> HitView:
    """A screening-hits row as its view."""
    return HitView(
        id=row.id,
        submission_id=row.submission_id,
        user_id=row.user_id,
        list_name=row.list_name,
        entry_uid=row.entry_uid,
        entry_name=row.entry_name,
        program=row.program,
        score=row.score,
        dob_match=row.dob_match,
        country_match=row.country_match,
        status=row.status,
        resolved_by=row.resolved_by,
        resolved_at=aware(row.resolved_at),
        created_at=aware(row.created_at),
    )


class KycCore:
    """What every part of the KYC service shares: configuration, vault, clock, the status writer."""

    def __init__(
        self,
        config: KycConfig,
        vault: DocumentVault,
        sealer: Sealer,
        *,
        default_tier: int,
        screener: Screener | None = None,
        provider: KycProvider | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.vault = vault
        self.sealer = sealer
        self.default_tier = default_tier
        self.screener = screener or Screener([])
        self.provider: KycProvider = provider or ManualReview()
        self.clock = clock
        # user id -> (monotonic expiry, tier): order entry reads the tier without a query per order.
        self._tiers: TtlCache[int] = TtlCache(time.monotonic, TIER_CACHE_S, TIER_CACHE_SIZE)

    def tier_limits(self, tier: int) -> TierLimits:
        """What tier `tier` requires and allows."""
        return self.config.tier(tier)

    async def _profile(self, conn: AsyncConnection, user_id: int) -> Row[Any] | None:
        return (await conn.execute(select(kyc_profiles).where(kyc_profiles.c.user_id == user_id))).first()

    def _seal(self, submission_id: int, data: PersonalData) -> str:
        payload = data.model_dump_json(exclude_none=True).encode()
        return self.sealer.seal(payload, f"kyc-submission:{submission_id}")

    def _unseal(self, submission_id: int, sealed: str | None) -> PersonalData:
        if not sealed:
            return PersonalData()
        try:
            raw = self.sealer.open(sealed, f"kyc-submission:{submission_id}")
        except VaultError:
            raise KycError(
                "KYC_DATA_UNREADABLE", "stored personal data does not authenticate", kind="unavailable"
            ) from None
        return PersonalData.model_validate(json.loads(raw))

    async def _submission(
        self, conn: AsyncConnection, submission_id: int, *, user_id: int | None = None, lock: bool = False
    ) -> Row[Any]:
        query = select(kyc_submissions).where(kyc_submissions.c.id == submission_id)
        if user_id is not None:
            query = query.where(kyc_submissions.c.user_id == user_id)
        if lock:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError("KYC_SUBMISSION_NOT_FOUND", f"no submission {submission_id}")
        return row

    async def _history(
        self,
        conn: AsyncConnection,
        submission_id: int,
        before: Status | None,
        after: Status,
        actor: str,
        reason: str,
        at: datetime,
    ) -> None:
        await conn.execute(
            insert(kyc_status_history).values(
                submission_id=submission_id,
                from_status=before,
                to_status=after,
                actor=actor,
                reason=reason,
                at=at,
            )
        )

    async def _move(
        self,
        conn: AsyncConnection,
        row: Row[Any],
        target: Status,
        actor: str,
        reason: str = "",
        **values: Any,
    ) -> None:
        """The one place a status changes: check the table, update, write the history row."""
        current = Status(row.status)
        check_transition(current, target)
        now = self.clock()
        result = await conn.execute(
            update(kyc_submissions)
            .where(kyc_submissions.c.id == row.id, kyc_submissions.c.status == current)
            .values(status=target, updated_at=now, **values)
        )
        if result.rowcount != 1:  # someone else moved it since we read it
            raise KycError(
                "KYC_CONCURRENT_CHANGE", "the submission changed meanwhile; retry", kind="conflict"
            )
        await self._history(conn, row.id, current, target, actor, reason, now)
        metrics.TRANSITIONS.labels(target.value).inc()

    def _check_requested(self, tier: int) -> None:
        if tier not in range(1, len(self.config.tiers)):
            raise KycError("KYC_INVALID_TIER", f"a submission asks for tier 1–{len(self.config.tiers) - 1}")

    async def _documents(self, conn: AsyncConnection, submission_id: int) -> list[DocumentView]:
        rows = await conn.execute(
            select(kyc_documents)
            .where(kyc_documents.c.submission_id == submission_id)
            .order_by(kyc_documents.c.id)
        )
        return [document_view(r) for r in rows]

    def _submission_fields(self, row: Row[Any], documents: list[DocumentView]) -> dict[str, Any]:
        return {
            "id": row.id,
            "user_id": row.user_id,
            "requested_tier": row.requested_tier,
            "status": Status(row.status),
            "personal_data": self._unseal(row.id, row.personal_data),
            "documents": documents,
            "decision_reason": row.decision_reason,
            "approved_tier": row.approved_tier,
            "created_at": aware(row.created_at),
            "updated_at": aware(row.updated_at),
            "submitted_at": aware(row.submitted_at),
            "decided_at": aware(row.decided_at),
        }

    async def _open_hits(self, conn: AsyncConnection, submission_id: int) -> int:
        return int(
            (
                await conn.execute(
                    select(func.count()).where(
                        kyc_screening_hits.c.submission_id == submission_id,
                        kyc_screening_hits.c.status == "open",
                    )
                )
            ).scalar_one()
        )
