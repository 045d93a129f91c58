"""Screening in the service: hits stored for manual review, list changes, re-screening approved users."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.kyc import metrics
from wcx.kyc.core import SYSTEM, KycCore, checked_reason, hit_view
from wcx.kyc.errors import KycError, NotFoundError
from wcx.kyc.personal import PersonalData
from wcx.kyc.screening import Screener, ScreeningList, Subject
from wcx.kyc.status import Status
from wcx.kyc.tables import kyc_profiles, kyc_screening_hits, kyc_screening_lists, kyc_submissions
from wcx.kyc.views import HitView
from wcx.store.audit import record_audit

RESCREEN_LOCK = 0x7763786B7963  # "wcxkyc": the PostgreSQL advisory lock key of list refreshes


class Rescreening(KycCore):
    """Screening hits and re-screening."""

    async def _screen(
        self, conn: AsyncConnection, submission_id: int, user_id: int, data: PersonalData, occasion: str
    ) -> int:
        """Screen one submission's person; store new hits (open); return how many are new."""
        if not data.full_name:
            return 0
        countries = frozenset(c for c in (data.country, data.nationality) if c)
        matches = self.screener.screen(Subject(data.full_name, data.date_of_birth, countries))
        known = {
            (r.list_name, r.entry_uid)
            for r in await conn.execute(
                select(kyc_screening_hits.c.list_name, kyc_screening_hits.c.entry_uid).where(
                    kyc_screening_hits.c.submission_id == submission_id
                )
            )
        }
        now = self.clock()
        new = [m for m in matches if (m.list_name, m.entry.uid) not in known]
        for match in new:
            metrics.SCREENING_HITS.labels(match.list_name, occasion).inc()
            await conn.execute(
                insert(kyc_screening_hits).values(
                    submission_id=submission_id,
                    user_id=user_id,
                    list_name=match.list_name,
                    list_digest=match.list_digest,
                    entry_uid=match.entry.uid,
                    entry_name=match.entry.name,
                    program=match.entry.program,
                    score=match.score,
                    dob_match=match.dob,
                    country_match=match.country,
                    status="open",
                    created_at=now,
                )
            )
        return len(new)

    async def rescreen_approved(
        self, conn: AsyncConnection, *, list_names: Sequence[str] | None = None
    ) -> int:
        """Screen every approved user's current submission again; a new hit reopens the case for review
        and pauses withdrawals. Returns how many cases were reopened."""
        rows = await conn.execute(
            select(kyc_submissions.c.id, kyc_submissions.c.user_id)
            .join(kyc_profiles, kyc_profiles.c.approved_submission_id == kyc_submissions.c.id)
            .where(kyc_submissions.c.status == Status.APPROVED)
            .order_by(kyc_submissions.c.id)
        )
        reopened = 0
        for submission_id, user_id in list(rows):
            row = await self._submission(conn, submission_id, lock=True)
            if Status(row.status) is not Status.APPROVED:
                continue
            data = self._unseal(row.id, row.personal_data)
            new = await self._screen(conn, row.id, user_id, data, "rescreen")
            if new:
                lists = ", ".join(list_names) if list_names else "changed lists"
                await self._move(
                    conn, row, Status.IN_REVIEW, SYSTEM, f"re-screening ({lists}): {new} new hit(s)"
                )
                await conn.execute(
                    update(kyc_profiles)
                    .where(kyc_profiles.c.user_id == user_id)
                    .values(review_hold=True, updated_at=self.clock())
                )
                await record_audit(
                    conn,
                    actor=SYSTEM,
                    action="kyc.rescreen_hit",
                    target=f"user:{user_id}",
                    before={"submission": row.id, "status": Status.APPROVED.value},
                    after={
                        "submission": row.id,
                        "status": Status.IN_REVIEW.value,
                        "new_hits": new,
                        "lists": list(list_names or []),
                        "withdrawals": "paused",
                    },
                    at=self.clock(),
                )
                reopened += 1
        return reopened

    async def resolve_hit(
        self, conn: AsyncConnection, hit_id: int, *, reviewer: str, confirmed: bool, reason: str
    ) -> HitView:
        """Mark a screening hit cleared (false positive) or confirmed (a true match; then reject the case)."""
        reason = checked_reason(reason, required=True)
        hit = (
            await conn.execute(select(kyc_screening_hits).where(kyc_screening_hits.c.id == hit_id))
        ).first()
        if hit is None:
            raise NotFoundError("KYC_HIT_NOT_FOUND", f"no screening hit {hit_id}")
        if hit.status != "open":
            raise KycError("KYC_HIT_RESOLVED", f"hit {hit_id} is already {hit.status}", kind="conflict")
        now = self.clock()
        status = "confirmed" if confirmed else "cleared"
        await conn.execute(
            update(kyc_screening_hits)
            .where(kyc_screening_hits.c.id == hit_id)
            .values(status=status, resolved_by=reviewer, resolved_at=now)
        )
        submission = await self._submission(conn, hit.submission_id)
        await self._history(
            conn,
            submission.id,
            Status(submission.status),
            Status(submission.status),
            reviewer,
            f"screening hit {hit_id} ({hit.entry_name}) {status}: {reason}",
            now,
        )
        updated = (
            await conn.execute(select(kyc_screening_hits).where(kyc_screening_hits.c.id == hit_id))
        ).one()
        return hit_view(updated)

    async def use_lists(self, conn: AsyncConnection, lists: Sequence[ScreeningList]) -> list[str]:
        """Screen with `lists` from now on; record their digests; return the names new or changed."""
        self.screener = Screener(lists, self.screener.threshold)
        known = {r.name: r.digest for r in await conn.execute(select(kyc_screening_lists))}
        now = self.clock()
        changed = []
        for item in lists:
            if known.get(item.name) == item.digest:
                continue
            changed.append(item.name)
            values = {"digest": item.digest, "entries": len(item.entries), "loaded_at": now}
            if item.name in known:
                await conn.execute(
                    update(kyc_screening_lists)
                    .where(kyc_screening_lists.c.name == item.name)
                    .values(**values)
                )
            else:
                await conn.execute(insert(kyc_screening_lists).values(name=item.name, **values))
        return changed

    async def refresh_lists(
        self, conn: AsyncConnection, lists: Sequence[ScreeningList]
    ) -> tuple[list[str], int]:
        """Load lists; if any changed, re-screen approved users: (changed names, cases reopened).

        Serialised across processes (engine nodes starting together, `wcx kyc rescreen`): on PostgreSQL
        by a transaction-scoped advisory lock, on SQLite by its single writer.
        """
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RESCREEN_LOCK})
        changed = await self.use_lists(conn, lists)
        reopened = await self.rescreen_approved(conn, list_names=changed) if changed else 0
        return changed, reopened
