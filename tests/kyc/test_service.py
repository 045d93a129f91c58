"""The KYC service on real databases (a SQLite file and PostgreSQL): submissions, documents, decisions."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.kyc import Decision, KycError, KycService, PersonalData, Status
from wcx.kyc.status import TRANSITIONS, check_transition
from wcx.kyc.tables import kyc_documents, kyc_submissions
from wcx.store.schema import users
from wcx.testing.kyc import make_kyc_service, sample_jpeg, sample_pdf, sample_png

from .conftest import Database, run

ALICE = PersonalData(
    full_name="Alice Example",
    date_of_birth=date(1990, 4, 1),
    country="DE",
    address="Hauptstrasse 1, 10115 Berlin",
)


async def new_user(conn: AsyncConnection, email: str) -> int:
    """A users row (the auth context owns the table; KYC only references it)."""
    result = await conn.execute(
        insert(users).values(email=email, frozen=False, created_at=datetime.now(UTC)).returning(users.c.id)
    )
    return int(result.scalar_one())


def with_db(database: Database, body: Callable[[AsyncEngine], Awaitable[None]]) -> None:
    """Run `body` against the test database."""

    async def go() -> None:
        async with database.connect() as db:
            await body(db)

    run(go())


async def submitted_case(
    db: AsyncEngine, kyc: KycService, email: str = "alice@example.com"
) -> tuple[int, int]:
    """(user id, submission id) of a complete tier-2 submission, handed in."""
    async with db.begin() as conn:
        user = await new_user(conn, email)
        draft = await kyc.create_submission(conn, user, 2, ALICE)
        await kyc.add_document(conn, user, draft.id, "id_document", "passport.pdf", sample_pdf())
        await kyc.add_document(conn, user, draft.id, "selfie", "me.jpg", sample_jpeg())
        await kyc.submit(conn, user, draft.id)
    return user, draft.id


def test_draft_to_approval_sets_the_tier_with_history(database: Database, kyc: KycService) -> None:
    async def body(db: AsyncEngine) -> None:
        user, case_id = await submitted_case(db, kyc)
        async with db.begin() as conn:
            assert await kyc.tier_of(conn, user) == 0
            queue = await kyc.list_queue(conn)
            assert [(q.submission_id, q.full_name, q.status, q.documents) for q in queue] == [
                (case_id, "Alice Example", Status.SUBMITTED, 2)
            ]
            await kyc.start_review(conn, case_id, "admin:7")
            case = await kyc.decide(
                conn, case_id, Decision.APPROVE, reviewer="admin:7", reason="documents ok"
            )
            assert case.status is Status.APPROVED and case.approved_tier == 2 and case.current_tier == 2
            assert [(h.from_status, h.to_status, h.actor) for h in case.history] == [
                (None, Status.DRAFT, f"user:{user}"),
                (Status.DRAFT, Status.SUBMITTED, f"user:{user}"),
                (Status.SUBMITTED, Status.IN_REVIEW, "admin:7"),
                (Status.IN_REVIEW, Status.APPROVED, "admin:7"),
            ]
            assert case.history[-1].reason == "documents ok"
            assert await kyc.tier_of(conn, user) == 2
            assert await kyc.list_queue(conn) == []

    with_db(database, body)


def test_reject_and_more_info_need_reasons_and_more_info_reopens_editing(
    database: Database, kyc: KycService
) -> None:
    async def body(db: AsyncEngine) -> None:
        user, case_id = await submitted_case(db, kyc)
        async with db.begin() as conn:
            with pytest.raises(KycError) as refused:
                await kyc.decide(conn, case_id, Decision.REJECT, reviewer="admin:1", reason="  ")
            assert refused.value.code == "KYC_REASON_REQUIRED"
        async with db.begin() as conn:
            case = await kyc.decide(
                conn, case_id, Decision.MORE_INFO, reviewer="admin:1", reason="selfie is blurred"
            )
            assert case.status is Status.MORE_INFO_NEEDED
            assert case.decision_reason == "selfie is blurred"
            await kyc.add_document(conn, user, case_id, "selfie", "me2.png", sample_png())
            again = await kyc.submit(conn, user, case_id)
            assert again.status is Status.SUBMITTED
            rejected = await kyc.decide(conn, case_id, Decision.REJECT, reviewer="admin:2", reason="fake id")
            assert rejected.status is Status.REJECTED
            assert await kyc.tier_of(conn, user) == 0
            # A rejected submission is final: the user starts a new one.
            with pytest.raises(KycError) as locked:
                await kyc.update_submission(conn, user, case_id, PersonalData(full_name="Someone Else"))
            assert locked.value.code == "KYC_SUBMISSION_LOCKED"
            fresh = await kyc.create_submission(conn, user, 1, ALICE)
            assert fresh.status is Status.DRAFT

    with_db(database, body)


@pytest.mark.parametrize("current", list(Status))
def test_transition_table_refuses_everything_it_does_not_list(current: Status) -> None:
    for target in Status:
        if target in TRANSITIONS[current]:
            check_transition(current, target)
        else:
            with pytest.raises(KycError) as refused:
                check_transition(current, target)
            assert refused.value.code == "KYC_ILLEGAL_TRANSITION"


def test_illegal_transitions_through_the_service_change_nothing(database: Database, kyc: KycService) -> None:
    async def body(db: AsyncEngine) -> None:
        async with db.begin() as conn:
            user = await new_user(conn, "bob@example.com")
            draft = await kyc.create_submission(conn, user, 1, ALICE)
        for attempt in (
            lambda c: kyc.decide(c, draft.id, Decision.APPROVE, reviewer="admin:1"),
            lambda c: kyc.start_review(c, draft.id, "admin:1"),
        ):
            async with db.begin() as conn:
                with pytest.raises(KycError) as refused:
                    await attempt(conn)
                assert refused.value.code == "KYC_ILLEGAL_TRANSITION"
        async with db.begin() as conn:
            await kyc.submit(conn, user, draft.id)
            await kyc.decide(conn, draft.id, Decision.APPROVE, reviewer="admin:1")
        async with db.begin() as conn:
            with pytest.raises(KycError) as refused:
                await kyc.decide(conn, draft.id, Decision.REJECT, reviewer="admin:1", reason="changed mind")
            assert refused.value.code == "KYC_ILLEGAL_TRANSITION"
            with pytest.raises(KycError) as locked:
                await kyc.submit(conn, user, draft.id)
            assert locked.value.code == "KYC_SUBMISSION_LOCKED"
            row = (await conn.execute(select(kyc_submissions).where(kyc_submissions.c.id == draft.id))).one()
            assert row.status == "approved"
            assert await kyc.tier_of(conn, user) == 1

    with_db(database, body)


def test_submit_checks_the_requested_tier_requirements(database: Database, kyc: KycService) -> None:
    async def body(db: AsyncEngine) -> None:
        async with db.begin() as conn:
            user = await new_user(conn, "carol@example.com")
            draft = await kyc.create_submission(conn, user, 2, PersonalData(full_name="Carol Example"))
            with pytest.raises(KycError) as refused:
                await kyc.submit(conn, user, draft.id)
            assert refused.value.code == "KYC_REQUIREMENTS_MISSING"
            for missing in ("address", "country", "date_of_birth", "id_document", "selfie"):
                assert missing in refused.value.message
            with pytest.raises(KycError) as duplicate:
                await kyc.create_submission(conn, user, 1, ALICE)
            assert duplicate.value.code == "KYC_SUBMISSION_OPEN"

    with_db(database, body)


def test_personal_data_and_documents_are_encrypted_at_rest(
    database: Database, kyc: KycService, tmp_path: Path
) -> None:
    async def body(db: AsyncEngine) -> None:
        marker = b"PLAINTEXT-MARKER-4242"
        async with db.begin() as conn:
            user = await new_user(conn, "dave@example.com")
            draft = await kyc.create_submission(conn, user, 2, ALICE)
            png = sample_png(text=marker)
            stored = await kyc.add_document(conn, user, draft.id, "id_document", "scan.png", png)
            row = (await conn.execute(select(kyc_documents).where(kyc_documents.c.id == stored.id))).one()
            sealed = (
                await conn.execute(
                    select(kyc_submissions.c.personal_data).where(kyc_submissions.c.id == draft.id)
                )
            ).scalar_one()
        assert "Alice" not in sealed and "1990" not in sealed
        files = [p for p in (tmp_path / "vault").rglob("*") if p.is_file()]
        assert [p.name for p in files] == [f"{row.storage_name}.bin"]
        on_disk = files[0].read_bytes()
        assert marker in png and marker not in on_disk and png[:8] not in on_disk
        async with db.connect() as conn:
            meta, data = await kyc.read_document(conn, stored.id)
            assert data == png and meta.content_type == "image/png" and meta.original_name == "scan.png"
            with pytest.raises(KycError):  # another user's document is not found
                await kyc.read_document(conn, stored.id, user_id=user + 1)
        # A flipped bit is detected, never decrypted into something else.
        files[0].write_bytes(on_disk[:-1] + bytes([on_disk[-1] ^ 1]))
        async with db.connect() as conn:
            with pytest.raises(KycError) as broken:
                await kyc.read_document(conn, stored.id)
            assert broken.value.code == "KYC_DOCUMENT_UNREADABLE"

    with_db(database, body)


def test_refused_upload_leaves_no_file_and_no_row(
    database: Database, kyc: KycService, tmp_path: Path
) -> None:
    async def body(db: AsyncEngine) -> None:
        async with db.begin() as conn:
            user = await new_user(conn, "erin@example.com")
            draft = await kyc.create_submission(conn, user, 2, ALICE)
        bad: list[tuple[str, bytes, str]] = [
            ("x.jpg", b"MZ\x90\x00" + b"\x00" * 64, "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
            ("x.png", sample_png()[:60], "KYC_DOCUMENT_CORRUPT"),
            ("../../etc/passwd.png", sample_png(), "KYC_INVALID_FILE_NAME"),
            ("empty.pdf", b"", "KYC_DOCUMENT_EMPTY"),
        ]
        for name, data, code in bad:
            async with db.begin() as conn:
                with pytest.raises(KycError) as refused:
                    await kyc.add_document(conn, user, draft.id, "id_document", name, data)
                assert refused.value.code == code, name
        async with db.connect() as conn:
            count: Any = (await conn.execute(select(kyc_documents.c.id))).all()
        assert count == []
        assert not [p for p in (tmp_path / "vault").rglob("*") if p.is_file()]

    with_db(database, body)


def test_key_rotation_rewrites_documents_and_personal_data(database: Database, tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = make_kyc_service(tmp_path / "vault", key=old)
    during = make_kyc_service(tmp_path / "vault", key=[new, old])
    after = make_kyc_service(tmp_path / "vault", key=new)
    png = sample_png()

    async def body(db: AsyncEngine) -> None:
        async with db.begin() as conn:
            user = await new_user(conn, "rotate@example.com")
            draft = await before.create_submission(conn, user, 2, ALICE)
            stored = await before.add_document(conn, user, draft.id, "id_document", "id.png", png)
        async with db.connect() as conn:
            with pytest.raises(KycError) as unreadable:
                await after.read_document(conn, stored.id)
            assert unreadable.value.code == "KYC_DOCUMENT_UNREADABLE"
            assert (await during.read_document(conn, stored.id))[1] == png
        async with db.begin() as conn:
            assert await during.rotate_keys(conn) == (1, 1)
        async with db.connect() as conn:
            assert (await after.read_document(conn, stored.id))[1] == png
            assert (await after.get_submission(conn, user, draft.id)).personal_data == ALICE
            with pytest.raises(KycError):
                await before.read_document(conn, stored.id)

    with_db(database, body)


def test_an_approval_never_lowers_the_tier_held(database: Database, kyc: KycService) -> None:
    async def body(db: AsyncEngine) -> None:
        user, first = await submitted_case(db, kyc, "erin@example.com")
        async with db.begin() as conn:
            await kyc.decide(conn, first, Decision.APPROVE, reviewer="admin:1")
            assert await kyc.tier_of(conn, user) == 2
            second = await kyc.create_submission(conn, user, 3, ALICE)
            with pytest.raises(KycError) as lower:
                await kyc.update_submission(conn, user, second.id, requested_tier=2)
            assert lower.value.code == "KYC_TIER_ALREADY_HELD"
            await kyc.update_submission(
                conn, user, second.id, PersonalData(nationality="DE", occupation="Engineer")
            )
            for kind in ("id_document", "selfie", "proof_of_address", "source_of_funds"):
                await kyc.add_document(conn, user, second.id, kind, f"{kind}.pdf", sample_pdf())
            await kyc.submit(conn, user, second.id)
            case = await kyc.decide(conn, second.id, Decision.APPROVE, reviewer="admin:1", tier=1)
            assert case.approved_tier == 1
            assert await kyc.tier_of(conn, user) == 2

    with_db(database, body)


def test_concurrent_orders_share_one_tier_read_and_a_decision_is_seen_at_once(
    database: Database, kyc: KycService
) -> None:
    async def body(db: AsyncEngine) -> None:
        async with db.begin() as conn:
            user = await new_user(conn, "fay@example.com")
        reads: list[int] = []
        real = kyc.tier_of

        async def counted(conn: AsyncConnection, user_id: int) -> int:
            reads.append(user_id)
            return await real(conn, user_id)

        kyc.tier_of = counted  # type: ignore[method-assign]
        tiers = await asyncio.gather(*(kyc.cached_tier(db, user) for _ in range(50)))
        assert tiers == [kyc.default_tier] * 50
        assert reads == [user]  # one read, not fifty
        async with db.begin() as conn:
            await kyc.set_tier(conn, user, 2)
        assert await kyc.cached_tier(db, user) == 2  # the change applies at once
        assert reads == [user, user]

    with_db(database, body)
