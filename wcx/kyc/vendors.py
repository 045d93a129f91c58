"""External verification vendors in the service: handing cases over, applying their verdicts."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.kyc.core import KycCore, log
from wcx.kyc.errors import NotFoundError, WebhookRejectedError
from wcx.kyc.providers import ManualReview, Outcome, ProviderCase, ProviderDocument, VendorEvent
from wcx.kyc.review import Decision
from wcx.kyc.status import Status
from wcx.kyc.tables import kyc_submissions, kyc_webhook_events
from wcx.kyc.views import CaseView
from wcx.store.audit import record_audit


class Vendors(KycCore):
    """Cases to and verdicts from the provider."""

    async def dispatch(self, db: AsyncEngine, submission_id: int) -> str | None:
        """Hand a submitted case to the provider (after the submit committed); its reference, if any.

        A provider that fails leaves the case in the manual queue: nothing is lost, a person decides.
        """
        if isinstance(self.provider, ManualReview):
            return None
        async with db.connect() as conn:
            case = await self.provider_case(conn, submission_id)
        try:
            reference = await self.provider.start(case)
        except Exception:
            log.warning(
                "KYC provider %s failed; case %s stays in manual review",
                self.provider.name,
                submission_id,
                exc_info=True,
            )
            return None
        async with db.begin() as conn:
            await self.set_provider_reference(conn, submission_id, self.provider.name, reference)
        return reference

    async def provider_case(self, conn: AsyncConnection, submission_id: int) -> ProviderCase:
        """A case with its decrypted personal data and documents, for a provider."""
        row = await self._submission(conn, submission_id)
        documents = []
        for view in await self._documents(conn, row.id):
            _, data = await self.read_document(conn, view.id)
            documents.append(ProviderDocument(view.kind, view.content_type, data))
        return ProviderCase(
            row.id, row.user_id, row.requested_tier, self._unseal(row.id, row.personal_data), tuple(documents)
        )

    async def apply_vendor_event(self, conn: AsyncConnection, provider: str, event: VendorEvent) -> CaseView:
        """Record a verified callback once (a repeated event id is a replay) and apply its verdict.

        Approval by a vendor still waits for a person while screening hits are open.
        """
        seen = (
            await conn.execute(
                select(kyc_webhook_events.c.event_id).where(
                    kyc_webhook_events.c.provider == provider, kyc_webhook_events.c.event_id == event.event_id
                )
            )
        ).first()
        if seen is not None:
            raise WebhookRejectedError(
                "KYC_WEBHOOK_REPLAYED", f"event {event.event_id} was already received", kind="conflict"
            )
        await conn.execute(
            insert(kyc_webhook_events).values(
                provider=provider,
                event_id=event.event_id,
                received_at=self.clock(),
                payload=event.model_dump(mode="json"),
            )
        )
        submission_id = await self.submission_by_reference(conn, provider, event.reference)
        actor = f"provider:{provider}"
        row = await self._submission(conn, submission_id, lock=True)
        if Status(row.status) is Status.SUBMITTED:
            await self._move(conn, row, Status.IN_REVIEW, actor, "review started by the provider")
        if event.outcome is Outcome.REVIEW:
            return await self.get_case(conn, submission_id)
        if event.outcome is Outcome.APPROVED:
            open_hits = await self._open_hits(conn, submission_id)
            if open_hits:
                await self._history(
                    conn,
                    submission_id,
                    Status.IN_REVIEW,
                    Status.IN_REVIEW,
                    actor,
                    f"provider approved; {open_hits} open screening hit(s) need manual review",
                    self.clock(),
                )
                return await self.get_case(conn, submission_id)
        decision = {
            Outcome.APPROVED: Decision.APPROVE,
            Outcome.REJECTED: Decision.REJECT,
            Outcome.MORE_INFO: Decision.MORE_INFO,
        }[event.outcome]
        reason = event.reason or f"{event.outcome.value} by {provider}"
        before = await self.tier_of(conn, row.user_id)
        case = await self.decide(conn, submission_id, decision, reviewer=actor, reason=reason)
        # No admin acts here, so the audit record is written by KYC itself.
        await record_audit(
            conn,
            actor=actor,
            action="kyc.decision",
            target=f"user:{row.user_id}",
            before={"submission": submission_id, "tier": before},
            after={
                "submission": submission_id,
                "status": case.status.value,
                "tier": case.current_tier,
                "event_id": event.event_id,
                "reason": reason,
            },
            at=self.clock(),
        )
        return case

    async def set_provider_reference(
        self, conn: AsyncConnection, submission_id: int, provider: str, reference: str | None
    ) -> None:
        """Remember which provider handles a case and its reference there."""
        await conn.execute(
            update(kyc_submissions)
            .where(kyc_submissions.c.id == submission_id)
            .values(provider=provider, provider_reference=reference)
        )

    async def submission_by_reference(self, conn: AsyncConnection, provider: str, reference: str) -> int:
        """The submission a provider knows by `reference`."""
        row = (
            await conn.execute(
                select(kyc_submissions.c.id).where(
                    kyc_submissions.c.provider == provider, kyc_submissions.c.provider_reference == reference
                )
            )
        ).first()
        if row is None:
            raise NotFoundError("KYC_SUBMISSION_NOT_FOUND", f"no {provider} case {reference!r}")
        return int(row.id)
