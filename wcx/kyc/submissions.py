"""Submissions, the user's side: drafts, personal data, documents, submitting; reading them back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.kyc import metrics
from wcx.kyc.core import SYSTEM, KycCore, document_view
from wcx.kyc.documents import check_document
from wcx.kyc.errors import KycError, NotFoundError
from wcx.kyc.personal import PersonalData
from wcx.kyc.status import EDITABLE, OPEN, Status
from wcx.kyc.tables import kyc_documents, kyc_submissions
from wcx.kyc.tiers import DOCUMENT_KINDS
from wcx.kyc.vault import VaultError
from wcx.kyc.views import DocumentView, SubmissionView
from wcx.store.schema import users


class Submissions(KycCore):
    """Drafts, documents and submitting."""

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
            held = await self.tier_of(conn, user_id)
            if requested_tier <= held:
                raise KycError("KYC_TIER_ALREADY_HELD", f"you already hold tier {held}", kind="conflict")
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
        return document_view(document)

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
        return document_view(row), data

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
