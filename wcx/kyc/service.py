"""The KYC service: profiles and tiers, submissions and documents, the review queue and decisions.

Every method takes the caller's connection (`conn`) and works inside the caller's transaction, so an
endpoint commits a decision, its history row and its audit record together. Use one `KycService`
per process (`runtime.kyc`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.kyc import metrics
from wcx.kyc.documents import check_document
from wcx.kyc.errors import KycError, NotFoundError, WebhookRejectedError
from wcx.kyc.limits import (
    LimitExceeded,
    PriceSource,
    check_against,
    deposit_usage,
    withdrawal_usage,
)
from wcx.kyc.personal import PersonalData
from wcx.kyc.providers import (
    KycProvider,
    ManualReview,
    Outcome,
    ProviderCase,
    ProviderDocument,
    VendorEvent,
)
from wcx.kyc.screening import Screener, ScreeningList, Subject
from wcx.kyc.status import EDITABLE, OPEN, QUEUED, Status, check_transition
from wcx.kyc.tables import (
    kyc_documents,
    kyc_profiles,
    kyc_screening_hits,
    kyc_screening_lists,
    kyc_status_history,
    kyc_submissions,
    kyc_webhook_events,
)
from wcx.kyc.tiers import DOCUMENT_KINDS, KycConfig, TierLimits
from wcx.kyc.vault import DocumentVault, Sealer, VaultError
from wcx.kyc.views import (
    CaseView,
    DocumentView,
    HistoryView,
    HitView,
    LimitsView,
    QueueItem,
    SubmissionView,
)
from wcx.primitives import format_amount
from wcx.store.audit import record_audit
from wcx.store.schema import users

log = logging.getLogger(__name__)

SYSTEM = "system:kyc"
TIER_CACHE_S = 2.0
"""How long a process trusts a tier it read; other processes' decisions apply within this time."""
TIER_CACHE_SIZE = 100_000
MAX_REASON = 2000


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


def utc_now() -> datetime:
    """The wall clock in UTC (the default clock)."""
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class KycService:
    """Tiers, submissions, documents, screening and review decisions over the caller's connection."""

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
        self._tiers: dict[int, tuple[float, int]] = {}

    # --- tiers and limits ------------------------------------------------------------------------

    def tier_limits(self, tier: int) -> TierLimits:
        """What tier `tier` requires and allows."""
        return self.config.tier(tier)

    def limits_view(self, tier: int) -> LimitsView:
        """A tier's limits as decimal strings of the reference asset."""
        limits = self.tier_limits(tier)
        scale = self.config.reference_scale

        def text(units: int | None) -> str | None:
            return None if units is None else format_amount(units, scale)

        return LimitsView(
            tier=tier,
            name=limits.name,
            trading=limits.trading,
            reference_asset=self.config.reference_asset,
            withdrawal_daily=text(limits.withdrawal_daily),
            withdrawal_monthly=text(limits.withdrawal_monthly),
            deposit_daily=text(limits.deposit_daily),
            deposit_monthly=text(limits.deposit_monthly),
            required_personal_data=sorted(limits.personal_data),
            required_documents=sorted(limits.documents),
        )

    async def _profile(self, conn: AsyncConnection, user_id: int) -> Row[Any] | None:
        return (await conn.execute(select(kyc_profiles).where(kyc_profiles.c.user_id == user_id))).first()

    async def tier_of(self, conn: AsyncConnection, user_id: int) -> int:
        """The user's verified tier (the configured default for a user never approved)."""
        profile = await self._profile(conn, user_id)
        return self.default_tier if profile is None else int(profile.tier)

    async def cached_tier(self, db: AsyncEngine, user_id: int) -> int:
        """`tier_of` through a short per-process cache (changes made in this process apply at once)."""
        cached = self._tiers.get(user_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with db.connect() as conn:
            tier = await self.tier_of(conn, user_id)
        if len(self._tiers) >= TIER_CACHE_SIZE:
            self._tiers.clear()
        self._tiers[user_id] = (time.monotonic() + TIER_CACHE_S, tier)
        return tier

    async def review_hold(self, conn: AsyncConnection, user_id: int) -> bool:
        """Whether a screening hit on this approved user waits for review (withdrawals refused)."""
        profile = await self._profile(conn, user_id)
        return bool(profile is not None and profile.review_hold)

    async def set_tier(
        self,
        conn: AsyncConnection,
        user_id: int,
        tier: int,
        *,
        review_hold: bool | None = None,
        submission_id: int | None = None,
    ) -> None:
        """Record the user's tier (upsert); used by decisions and by operators' overrides."""
        self.tier_limits(tier)
        self._tiers.pop(user_id, None)
        now = self.clock()
        profile = await self._profile(conn, user_id)
        values: dict[str, Any] = {"tier": tier, "updated_at": now}
        if review_hold is not None:
            values["review_hold"] = review_hold
        if submission_id is not None:
            values["approved_submission_id"] = submission_id
        if profile is None:
            await conn.execute(
                insert(kyc_profiles).values(
                    user_id=user_id,
                    review_hold=bool(review_hold),
                    **{k: v for k, v in values.items() if k != "review_hold"},
                )
            )
        else:
            await conn.execute(update(kyc_profiles).where(kyc_profiles.c.user_id == user_id).values(**values))

    async def check_trading_allowed(self, db: AsyncEngine, user_id: int) -> LimitExceeded | None:
        """None if the user's tier may trade, else why not (cached tier: called on every order)."""
        tier = await self.cached_tier(db, user_id)
        if self.tier_limits(tier).trading:
            return None
        return LimitExceeded("KYC_TRADING_NOT_ALLOWED", f"tier {tier} may not trade; complete verification")

    async def check_withdrawal_allowed(
        self,
        conn: AsyncConnection,
        user_id: int,
        asset: str,
        amount: int,
        prices: PriceSource,
        *,
        now: datetime | None = None,
    ) -> LimitExceeded | None:
        """None if withdrawing `amount` (minor units of `asset`, fee included) fits the tier's limits."""
        profile = await self._profile(conn, user_id)
        if profile is not None and profile.review_hold:
            return LimitExceeded(
                "KYC_UNDER_REVIEW", "withdrawals are paused while your verification is reviewed"
            )
        tier = self.default_tier if profile is None else int(profile.tier)
        limits = self.tier_limits(tier)
        if limits.withdrawal_daily == 0 or limits.withdrawal_monthly == 0:
            return LimitExceeded(
                "KYC_WITHDRAWALS_NOT_ALLOWED", f"tier {tier} may not withdraw; complete verification", limit=0
            )
        return await self._within(
            conn,
            user_id,
            "WITHDRAWAL",
            (limits.withdrawal_daily, limits.withdrawal_monthly),
            asset,
            amount,
            prices,
            now,
        )

    async def check_deposit_allowed(
        self,
        conn: AsyncConnection,
        user_id: int,
        asset: str,
        amount: int,
        prices: PriceSource,
        *,
        now: datetime | None = None,
    ) -> LimitExceeded | None:
        """None if crediting `amount` fits the tier's deposit limits (the wallet holds what does not)."""
        limits = self.tier_limits(await self.tier_of(conn, user_id))
        return await self._within(
            conn,
            user_id,
            "DEPOSIT",
            (limits.deposit_daily, limits.deposit_monthly),
            asset,
            amount,
            prices,
            now,
        )

    async def _within(
        self,
        conn: AsyncConnection,
        user_id: int,
        what: str,
        limits: tuple[int | None, int | None],
        asset: str,
        amount: int,
        prices: PriceSource,
        now: datetime | None,
    ) -> LimitExceeded | None:
        """Value `amount` and compare it plus the rolling usage with the (daily, monthly) limits."""
        if limits == (None, None):
            return None
        requested = prices.reference_value(asset, amount)
        if requested is None:
            return LimitExceeded(
                "KYC_PRICE_UNAVAILABLE", f"{asset} has no price in {self.config.reference_asset}"
            )
        usage_of = withdrawal_usage if what == "WITHDRAWAL" else deposit_usage
        usage = await usage_of(conn, user_id, prices, now or self.clock())
        return check_against(what, usage, requested, *limits)

    # --- submissions (the user's side) ---------------------------------------------------------------

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

    async def create_submission(
        self, conn: AsyncConnection, user_id: int, requested_tier: int, data: PersonalData
    ) -> SubmissionView:
        """A new draft towards `requested_tier`; refused while another submission is open."""
        self._check_requested(requested_tier)
        # Serialise a user's creations (two at once must not both find no open submission).
        await conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
        current = await self.tier_of(conn, user_id)
        if requested_tier <= current:
            raise KycError("KYC_TIER_ALREADY_HELD", f"you already hold tier {current}", kind="conflict")
        open_one = (
            await conn.execute(
                select(kyc_submissions.c.id).where(
                    kyc_submissions.c.user_id == user_id, kyc_submissions.c.status.in_(list(OPEN))
                )
            )
        ).first()
        if open_one is not None:
            raise KycError(
                "KYC_SUBMISSION_OPEN",
                f"submission {open_one.id} is still open; update it instead",
                kind="conflict",
            )
        now = self.clock()
        result = await conn.execute(
            insert(kyc_submissions)
            .values(
                user_id=user_id,
                requested_tier=requested_tier,
                status=Status.DRAFT,
                provider="manual",
                created_at=now,
                updated_at=now,
            )
            .returning(kyc_submissions.c.id)
        )
        submission_id = int(result.scalar_one())
        await conn.execute(
            update(kyc_submissions)
            .where(kyc_submissions.c.id == submission_id)
            .values(personal_data=self._seal(submission_id, data))
        )
        await self._history(conn, submission_id, None, Status.DRAFT, f"user:{user_id}", "", now)
        return await self.get_submission(conn, user_id, submission_id)

    def _check_requested(self, tier: int) -> None:
        if tier not in range(1, len(self.config.tiers)):
            raise KycError("KYC_INVALID_TIER", f"a submission asks for tier 1–{len(self.config.tiers) - 1}")

    async def update_submission(
        self,
        conn: AsyncConnection,
        user_id: int,
        submission_id: int,
        data: PersonalData | None = None,
        requested_tier: int | None = None,
    ) -> SubmissionView:
        """Change personal data (fields given overwrite) or the requested tier of an editable submission."""
        row = await self._editable(conn, user_id, submission_id)
        values: dict[str, Any] = {"updated_at": self.clock()}
        if data is not None:
            values["personal_data"] = self._seal(row.id, self._unseal(row.id, row.personal_data).merged(data))
        if requested_tier is not None:
            self._check_requested(requested_tier)
            values["requested_tier"] = requested_tier
        await conn.execute(update(kyc_submissions).where(kyc_submissions.c.id == row.id).values(**values))
        return await self.get_submission(conn, user_id, submission_id)

    async def _editable(self, conn: AsyncConnection, user_id: int, submission_id: int) -> Row[Any]:
        row = await self._submission(conn, submission_id, user_id=user_id, lock=True)
        if Status(row.status) not in EDITABLE:
            raise KycError(
                "KYC_SUBMISSION_LOCKED", f"a submission cannot be changed while {row.status}", kind="conflict"
            )
        return row

    async def add_document(
        self, conn: AsyncConnection, user_id: int, submission_id: int, kind: str, file_name: str, data: bytes
    ) -> DocumentView:
        """Check, encrypt and store an uploaded document on an editable submission."""
        if kind not in DOCUMENT_KINDS:
            raise KycError("KYC_INVALID_DOCUMENT_KIND", f"kind must be one of {sorted(DOCUMENT_KINDS)}")
        row = await self._editable(conn, user_id, submission_id)
        try:
            checked = check_document(data, file_name, self.config.max_document_bytes)
        except KycError as exc:
            metrics.DOCUMENTS.labels(exc.code).inc()
            raise
        count = (
            await conn.execute(
                select(func.count()).select_from(kyc_documents).where(kyc_documents.c.submission_id == row.id)
            )
        ).scalar_one()
        if count >= self.config.max_documents_per_submission:
            raise KycError(
                "KYC_TOO_MANY_DOCUMENTS",
                f"a submission holds at most {self.config.max_documents_per_submission} documents",
                kind="conflict",
            )
        name = self.vault.new_name()
        self.vault.store(name, user_id, data)
        try:
            result = await conn.execute(
                insert(kyc_documents)
                .values(
                    submission_id=row.id,
                    user_id=user_id,
                    kind=kind,
                    content_type=checked.content_type,
                    size=checked.size,
                    storage_name=name,
                    original_name=checked.original_name,
                    created_at=self.clock(),
                )
                .returning(*kyc_documents.c)
            )
            document = result.one()
        except BaseException:
            self.vault.delete(name)
            raise
        metrics.DOCUMENTS.labels("stored").inc()
        return _document_view(document)

    async def delete_document(self, conn: AsyncConnection, user_id: int, document_id: int) -> None:
        """Remove a document from an editable submission (file first row second is fine: both go)."""
        document = (
            await conn.execute(
                select(kyc_documents).where(
                    kyc_documents.c.id == document_id, kyc_documents.c.user_id == user_id
                )
            )
        ).first()
        if document is None:
            raise NotFoundError("KYC_DOCUMENT_NOT_FOUND", f"no document {document_id}")
        await self._editable(conn, user_id, document.submission_id)
        await conn.execute(kyc_documents.delete().where(kyc_documents.c.id == document_id))
        self.vault.delete(document.storage_name)

    async def submit(self, conn: AsyncConnection, user_id: int, submission_id: int) -> SubmissionView:
        """Hand a complete submission in for review: requirements checked, then screened.

        A screening hit moves it straight to in_review with the hits attached (manual review).
        """
        row = await self._editable(conn, user_id, submission_id)
        data = self._unseal(row.id, row.personal_data)
        limits = self.tier_limits(int(row.requested_tier))
        have = {
            d.kind
            for d in await conn.execute(
                select(kyc_documents.c.kind).where(kyc_documents.c.submission_id == row.id)
            )
        }
        missing = data.missing(limits.personal_data) + sorted(limits.documents - have)
        if missing:
            raise KycError(
                "KYC_REQUIREMENTS_MISSING",
                f"tier {row.requested_tier} needs: {', '.join(missing)}",
            )
        now = self.clock()
        await self._move(conn, row, Status.SUBMITTED, f"user:{user_id}", submitted_at=now)
        hits = await self._screen(conn, row.id, user_id, data, "submit")
        if hits:
            fresh = await self._submission(conn, row.id)
            await self._move(conn, fresh, Status.IN_REVIEW, SYSTEM, f"screening: {hits} possible match(es)")
        return await self.get_submission(conn, user_id, submission_id)

    # --- screening ------------------------------------------------------------------------------------

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
        reason = _reason(reason, required=True)
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
        return _hit_view(updated)

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
        """Load lists; if any changed, re-screen approved users: (changed names, cases reopened)."""
        changed = await self.use_lists(conn, lists)
        reopened = await self.rescreen_approved(conn, list_names=changed) if changed else 0
        return changed, reopened

    # --- providers --------------------------------------------------------------------------------------

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

    async def rotate_keys(self, conn: AsyncConnection) -> tuple[int, int]:
        """Rewrite every document file and sealed personal data under the current key:
        (documents, submissions) rewritten. Afterwards the retired keys are no longer needed."""
        documents = 0
        for storage_name, user_id in list(
            await conn.execute(select(kyc_documents.c.storage_name, kyc_documents.c.user_id))
        ):
            try:
                self.vault.reseal(storage_name, user_id)
            except VaultError as exc:
                raise KycError("KYC_DOCUMENT_UNREADABLE", str(exc), kind="unavailable") from None
            documents += 1
        submissions = 0
        rows = await conn.execute(
            select(kyc_submissions.c.id, kyc_submissions.c.personal_data).where(
                kyc_submissions.c.personal_data.is_not(None)
            )
        )
        for submission_id, sealed in list(rows):
            try:
                resealed = self.sealer.reseal(sealed, f"kyc-submission:{submission_id}")
            except VaultError:
                raise KycError(
                    "KYC_DATA_UNREADABLE",
                    f"submission {submission_id} does not authenticate",
                    kind="unavailable",
                ) from None
            await conn.execute(
                update(kyc_submissions)
                .where(kyc_submissions.c.id == submission_id)
                .values(personal_data=resealed)
            )
            submissions += 1
        return documents, submissions

    # --- review (the admin side) ------------------------------------------------------------------------

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
                submitted_at=_aware(row.submitted_at),
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
        reason = _reason(reason, required=decision is not Decision.APPROVE)
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
            await self.set_tier(
                conn, row.user_id, values["approved_tier"], review_hold=False, submission_id=row.id
            )
        elif decision is Decision.REJECT and was_approved:
            await self.set_tier(conn, row.user_id, 0, review_hold=False)
        return await self.get_case(conn, submission_id)

    # --- reading -----------------------------------------------------------------------------------------

    async def _documents(self, conn: AsyncConnection, submission_id: int) -> list[DocumentView]:
        rows = await conn.execute(
            select(kyc_documents)
            .where(kyc_documents.c.submission_id == submission_id)
            .order_by(kyc_documents.c.id)
        )
        return [_document_view(r) for r in rows]

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
            "created_at": _aware(row.created_at),
            "updated_at": _aware(row.updated_at),
            "submitted_at": _aware(row.submitted_at),
            "decided_at": _aware(row.decided_at),
        }

    async def get_submission(self, conn: AsyncConnection, user_id: int, submission_id: int) -> SubmissionView:
        """One of the user's submissions (another user's answers KYC_SUBMISSION_NOT_FOUND)."""
        row = await self._submission(conn, submission_id, user_id=user_id)
        return SubmissionView(**self._submission_fields(row, await self._documents(conn, row.id)))

    async def current_submission(self, conn: AsyncConnection, user_id: int) -> SubmissionView | None:
        """The user's newest submission, if any."""
        newest = (
            await conn.execute(
                select(kyc_submissions.c.id)
                .where(kyc_submissions.c.user_id == user_id)
                .order_by(kyc_submissions.c.id.desc())
                .limit(1)
            )
        ).first()
        return None if newest is None else await self.get_submission(conn, user_id, newest.id)

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
                    at=_aware(h.at),
                )
                for h in history
            ],
            hits=[_hit_view(h) for h in hits],
            provider=row.provider,
            provider_reference=row.provider_reference,
            reviewer=row.reviewer,
            current_tier=await self.tier_of(conn, row.user_id),
        )

    async def cases_of_user(self, conn: AsyncConnection, user_id: int) -> list[SubmissionView]:
        """All of a user's submissions, newest first (the admin user view)."""
        ids = await conn.execute(
            select(kyc_submissions.c.id)
            .where(kyc_submissions.c.user_id == user_id)
            .order_by(kyc_submissions.c.id.desc())
        )
        return [await self.get_submission(conn, user_id, i) for (i,) in list(ids)]

    async def read_document(
        self, conn: AsyncConnection, document_id: int, *, user_id: int | None = None
    ) -> tuple[DocumentView, bytes]:
        """A document's metadata and decrypted bytes (restricted to `user_id`'s when given)."""
        query = select(kyc_documents).where(kyc_documents.c.id == document_id)
        if user_id is not None:
            query = query.where(kyc_documents.c.user_id == user_id)
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError("KYC_DOCUMENT_NOT_FOUND", f"no document {document_id}")
        try:
            data = self.vault.load(row.storage_name, row.user_id)
        except VaultError as exc:
            raise KycError("KYC_DOCUMENT_UNREADABLE", str(exc), kind="unavailable") from None
        return _document_view(row), data

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


def _reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise KycError("KYC_REASON_REQUIRED", "give a reason for this decision")
    if len(reason) > MAX_REASON:
        raise KycError("KYC_REASON_TOO_LONG", f"a reason has at most {MAX_REASON} characters")
    return reason


def _document_view(row: Row[Any]) -> DocumentView:
    return DocumentView(
        id=row.id,
        submission_id=row.submission_id,
        user_id=row.user_id,
        kind=row.kind,
        content_type=row.content_type,
        size=row.size,
        original_name=row.original_name,
        created_at=_aware(row.created_at),
    )


def _hit_view(row: Row[Any]) -> HitView:
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
        resolved_at=_aware(row.resolved_at),
        created_at=_aware(row.created_at),
    )
