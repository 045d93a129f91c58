"""Screening: the SDN-layout parser, fuzzy matching with date of birth and country as tie-breakers,
hits to manual review, and re-screening of approved users when a list changes (real databases)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.kyc import Decision, KycConfigError, KycError, KycService, PersonalData, Status
from wcx.kyc.screening import Screener, Subject, country_code, load_list, parse_sdn
from wcx.store.audit import verify_audit
from wcx.store.schema import audit_events
from wcx.testing.kyc import demo_prices, make_kyc_service, sample_jpeg, sample_pdf

from .conftest import Database, _empty, run
from .test_service import new_user, with_db

DATA = Path(__file__).with_name("data")
SDN = load_list("sdn", DATA / "sdn_test.csv")
PEP = load_list("pep", DATA / "pep_test.csv")
SCREENER = Screener([SDN, PEP])


def hits(name: str, born: date | None = None, *countries: str) -> list[tuple[str, str, str]]:
    """(entry uid, dob agreement, country agreement) of every hit."""
    return [
        (m.entry.uid, m.dob, m.country) for m in SCREENER.screen(Subject(name, born, frozenset(countries)))
    ]


def test_the_sdn_layout_is_parsed_with_aliases_birth_dates_and_countries() -> None:
    petrov = SDN.entries[0]
    assert (petrov.uid, petrov.name, petrov.kind, petrov.program) == (
        "101",
        "PETROV, Ivan Sergeyevich",
        "individual",
        "UKRAINE-EO13660",
    )
    assert petrov.names == ("petrov ivan sergeyevich", "petroff ivan")
    assert (petrov.birth_date, petrov.countries) == (date(1961, 3, 12), frozenset({"RU"}))
    kim = SDN.entries[3]
    assert (kim.birth_years, kim.birth_date, kim.countries) == ((1980, 1982), None, frozenset({"KP"}))
    assert SDN.entries[2].kind == ""  # an entity: "-0-"
    assert country_code("Korea, North") == "KP" and country_code("Germany") == "DE"
    with pytest.raises(KycConfigError):
        parse_sdn('1,"ONLY, Three",individual\n', "broken")


def test_fuzzy_names_with_date_of_birth_and_country_as_tie_breakers() -> None:
    # Exact, reordered and alias spellings all find the entry when the date of birth agrees.
    assert hits("Ivan Sergeyevich Petrov", date(1961, 3, 12), "RU") == [("101", "match", "match")]
    assert hits("Ivan Petroff") == [("101", "unknown", "unknown")]
    # A transliteration variant (score ~98) with no date to compare: still a hit.
    assert hits("Ivan Sergeevich Petrov", None, "RU") == [("101", "unknown", "match")]
    # The same name with a different date of birth and country is somebody else.
    assert hits("Ivan Sergeyevich Petrov", date(1990, 1, 1), "DE") == []
    # A birth year inside a listed range agrees.
    assert hits("Chol Su Kim", date(1981, 5, 5)) == [("104", "match", "unknown")]
    # Accents and umlauts fold; PEP lists work the same way.
    assert hits("Jurgen Muller", date(1952, 3, 3), "DE") == [("9002", "match", "match")]
    # A borderline name (~93) whose country disagrees and with no date: not a hit.
    assert hits("Juergen Mueller", None, "FR") == []
    # An entity is not matched by a person's name unless it is near-exact.
    assert hits("Golden Harbor Trading") == []
    assert hits("Alice Example", date(1990, 4, 1), "DE") == []


def _kyc(tmp_path: Path, *lists: object) -> KycService:
    return make_kyc_service(tmp_path / "vault", lists=list(lists))  # type: ignore[arg-type]


async def _apply(
    db: AsyncEngine, kyc: KycService, email: str, data: PersonalData, tier: int = 2
) -> tuple[int, int]:
    """(user, submission) of a handed-in tier-2 application."""
    async with db.begin() as conn:
        user = await new_user(conn, email)
        draft = await kyc.create_submission(conn, user, tier, data)
        await kyc.add_document(conn, user, draft.id, "id_document", "id.pdf", sample_pdf())
        await kyc.add_document(conn, user, draft.id, "selfie", "me.jpg", sample_jpeg())
        await kyc.submit(conn, user, draft.id)
    return user, draft.id


PETROV = PersonalData(
    full_name="Ivan Sergeyevich Petrov", date_of_birth=date(1961, 3, 12), country="RU", address="Perm"
)
MENDOZA = PersonalData(
    full_name="Carlos Alberto Mendoza", date_of_birth=date(1970, 7, 5), country="VE", address="Caracas"
)
ALICE = PersonalData(
    full_name="Alice Example", date_of_birth=date(1990, 4, 1), country="DE", address="Berlin"
)


def test_a_screening_hit_goes_to_manual_review(database: Database, tmp_path: Path) -> None:
    kyc = _kyc(tmp_path, SDN, PEP)

    async def body(db: AsyncEngine) -> None:
        user, case_id = await _apply(db, kyc, "ivan@example.com", PETROV)
        async with db.begin() as conn:
            case = await kyc.get_case(conn, case_id)
            assert case.status is Status.IN_REVIEW
            assert case.history[-1].actor == "system:kyc" and "screening" in case.history[-1].reason
            assert [(h.list_name, h.entry_uid, h.status, h.dob_match) for h in case.hits] == [
                ("sdn", "101", "open", "match")
            ]
            assert [q.open_hits for q in await kyc.list_queue(conn)] == [1]
            with pytest.raises(KycError) as refused:
                await kyc.decide(conn, case_id, Decision.APPROVE, reviewer="admin:1")
            assert refused.value.code == "KYC_OPEN_SCREENING_HITS"
        async with db.begin() as conn:
            await kyc.resolve_hit(
                conn,
                case.hits[0].id,
                reviewer="admin:1",
                confirmed=False,
                reason="different person: passport",
            )
            approved = await kyc.decide(conn, case_id, Decision.APPROVE, reviewer="admin:1")
            assert approved.status is Status.APPROVED and await kyc.tier_of(conn, user) == 2
            assert approved.hits[0].status == "cleared" and approved.hits[0].resolved_by == "admin:1"
        # A clean applicant is not held up.
        _, clean = await _apply(db, kyc, "alice@example.com", ALICE)
        async with db.connect() as conn:
            assert (await kyc.get_case(conn, clean)).status is Status.SUBMITTED

    with_db(database, body)


def test_approved_users_are_rescreened_when_a_list_changes(database: Database, tmp_path: Path) -> None:
    kyc = _kyc(tmp_path)
    original = (DATA / "sdn_test.csv").read_text(encoding="utf-8")
    updated = original + (
        '106,"MENDOZA, Carlos Alberto","individual","VENEZUELA-EO13850","-0-","-0-","-0-","-0-","-0-",'
        '"-0-","-0-","DOB 05 Jul 1970; citizen Venezuela."\n'
    )

    async def body(db: AsyncEngine) -> None:
        async with db.begin() as conn:
            assert await kyc.refresh_lists(conn, [parse_sdn(original, "sdn")]) == (["sdn"], 0)
        mendoza, mendoza_case = await _apply(db, kyc, "carlos@example.com", MENDOZA)
        alice, alice_case = await _apply(db, kyc, "alice@example.com", ALICE)
        async with db.begin() as conn:
            for case_id in (mendoza_case, alice_case):
                await kyc.decide(conn, case_id, Decision.APPROVE, reviewer="admin:1")
            # The same list again changes nothing.
            assert await kyc.refresh_lists(conn, [parse_sdn(original, "sdn")]) == ([], 0)
        async with db.begin() as conn:
            assert await kyc.refresh_lists(conn, [parse_sdn(updated, "sdn")]) == (["sdn"], 1)
        async with db.begin() as conn:
            case = await kyc.get_case(conn, mendoza_case)
            assert case.status is Status.IN_REVIEW and [h.entry_uid for h in case.hits] == ["106"]
            assert (
                case.history[-1].from_status is Status.APPROVED and "re-screening" in case.history[-1].reason
            )
            assert await kyc.review_hold(conn, mendoza)
            refusal = await kyc.check_withdrawal_allowed(conn, mendoza, "USDT", 10**6, demo_prices())
            assert refusal is not None and refusal.code == "KYC_UNDER_REVIEW"
            assert (await kyc.get_case(conn, alice_case)).status is Status.APPROVED
            assert await kyc.check_withdrawal_allowed(conn, alice, "USDT", 10**6, demo_prices()) is None
            # Re-screening again does not reopen on the same hit.
            assert await kyc.rescreen_approved(conn) == 0
            audit = (
                await conn.execute(select(audit_events.c.actor, audit_events.c.action, audit_events.c.target))
            ).all()
            assert audit == [("system:kyc", "kyc.rescreen_hit", f"user:{mendoza}")]
            assert (await verify_audit(conn)).ok
        async with db.begin() as conn:
            await kyc.resolve_hit(
                conn, case.hits[0].id, reviewer="admin:2", confirmed=True, reason="same person"
            )
            rejected = await kyc.decide(
                conn, mendoza_case, Decision.REJECT, reviewer="admin:2", reason="SDN match"
            )
            assert rejected.status is Status.REJECTED
            assert await kyc.tier_of(conn, mendoza) == 0 and not await kyc.review_hold(conn, mendoza)

    with_db(database, body)


def test_concurrent_list_refreshes_are_serialised_on_postgresql(
    postgres_database: str, tmp_path: Path
) -> None:
    kyc = _kyc(tmp_path)
    database = Database("postgresql", postgres_database)

    async def refresh(db: AsyncEngine) -> tuple[list[str], int]:
        async with db.begin() as conn:
            return await kyc.refresh_lists(conn, [SDN, PEP])

    async def body(db: AsyncEngine) -> None:
        results = await asyncio.gather(*(refresh(db) for _ in range(4)))
        assert sorted(results) == [([], 0)] * 3 + [(["sdn", "pep"], 0)]

    run(_empty(postgres_database))
    with_db(database, body)
