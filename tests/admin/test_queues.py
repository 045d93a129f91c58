"""The KYC and withdrawal queues from the back office: who may decide, four-eyes on withdrawals,
frozen users, document viewing, audit records."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from wcx.admin.permissions import Role
from wcx.api.withdrawals import policy_of
from wcx.kyc import PersonalData
from wcx.runtime import Runtime
from wcx.store.schema import audit_events
from wcx.testing.kyc import sample_pdf, sample_png
from wcx.wallet.withdrawals import WithdrawalRequest, service

from .conftest import API, AdminFactory, both_databases, error_code, ok, sign_up

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return both_databases(request)


GOOD_ETH = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 test vector
ALICE = PersonalData(
    full_name="Alice Example", date_of_birth="1990-04-01", country="DE", address="Hauptstr. 1"
)


async def submitted_case(runtime: Runtime, user_id: int) -> tuple[int, bytes]:
    """A tier-2 submission with an ID document (PNG) and a selfie (PDF), submitted; (id, png bytes)."""
    png = sample_png()
    async with runtime.db.begin() as conn:
        draft = await runtime.kyc.create_submission(conn, user_id, 2, ALICE)
        await runtime.kyc.add_document(conn, user_id, draft.id, "id_document", "passport.png", png)
        await runtime.kyc.add_document(conn, user_id, draft.id, "selfie", "selfie.pdf", sample_pdf())
        await runtime.kyc.submit(conn, user_id, draft.id)
    return draft.id, png


async def audit_actions(runtime: Runtime, target: str) -> list[tuple[str, str]]:
    """(actor, action) of the audit records about `target`."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.actor, audit_events.c.action)
            .where(audit_events.c.target == target)
            .order_by(audit_events.c.id)
        )
        return [(row.actor, row.action) for row in rows]


async def test_compliance_reviews_a_kyc_case_with_its_documents(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "kyc.applicant@example.com")
    case_id, png = await submitted_case(runtime, user.user_id)
    support, compliance = await make_admin(Role.SUPPORT), await make_admin(Role.COMPLIANCE)

    queue = ok(await admin_http.get(f"{API}/kyc/queue", headers=support.headers))
    assert [(c["submission_id"], c["requested_tier"], c["documents"]) for c in queue] == [(case_id, 2, 2)]
    case = ok(await admin_http.get(f"{API}/kyc/cases/{case_id}", headers=support.headers))
    assert case["personal_data"]["full_name"] == "Alice Example"
    image = next(d for d in case["documents"] if d["kind"] == "id_document")
    viewed = await admin_http.get(f"{API}/kyc/documents/{image['id']}", headers=support.headers)
    assert viewed.status_code == 200 and viewed.content == png
    assert viewed.headers["content-type"] == "image/png"
    assert viewed.headers["x-content-type-options"] == "nosniff"
    assert viewed.headers["content-disposition"] == "inline"
    decision = {"decision": "approve"}
    refused = await admin_http.post(
        f"{API}/kyc/cases/{case_id}/decision", json=decision, headers=support.headers
    )
    assert (refused.status_code, error_code(refused)) == (403, "FORBIDDEN")
    no_reason = await admin_http.post(
        f"{API}/kyc/cases/{case_id}/decision", json={"decision": "reject"}, headers=compliance.headers
    )
    assert no_reason.status_code == 400, no_reason.text

    approved = ok(
        await admin_http.post(
            f"{API}/kyc/cases/{case_id}/decision", json=decision, headers=compliance.headers
        )
    )
    assert (approved["status"], approved["current_tier"]) == ("approved", 2)
    assert ok(await admin_http.get(f"{API}/kyc/queue", headers=support.headers)) == []
    async with runtime.db.connect() as conn:
        assert await runtime.kyc.tier_of(conn, user.user_id) == 2
    assert (f"admin:{compliance.admin_id}", "kyc.approve") in await audit_actions(
        runtime, f"user:{user.user_id}"
    )
    view = ok(await admin_http.get(f"{API}/users/{user.user_id}", headers=support.headers))
    assert view["kyc"]["tier"] == 2 and view["kyc"]["submissions"][0]["status"] == "approved"
    missing = await admin_http.get(f"{API}/kyc/cases/999999", headers=support.headers)
    assert (missing.status_code, error_code(missing)) == (404, "KYC_SUBMISSION_NOT_FOUND")


async def queued_withdrawal(runtime: Runtime, user_id: int, amount: str = "6") -> str:
    """An ETH withdrawal above the auto-approval threshold (5 ETH), held and waiting for four eyes."""
    request = WithdrawalRequest(user_id=user_id, asset="ETH", address=GOOD_ETH, amount=amount)
    withdrawal = await service.request_withdrawal(runtime.db, runtime, policy_of(runtime), request)
    assert withdrawal.state.value == "pending_approval", withdrawal
    return withdrawal.id


async def test_withdrawals_need_two_distinct_treasurers_and_not_while_the_user_is_frozen(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "withdrawer@example.com")
    ok(await api_http.post("/dev/credit", json={"email": user.email, "asset": "ETH", "amount": "20"}))
    withdrawal_id = await queued_withdrawal(runtime, user.user_id)
    first, second = await make_admin(Role.TREASURY), await make_admin(Role.TREASURY)
    compliance, operator = await make_admin(Role.COMPLIANCE), await make_admin(Role.OPERATOR)

    queue = ok(await admin_http.get(f"{API}/withdrawals/queue", headers=compliance.headers))
    assert [(w["id"], w["amount"], w["approvals"], w["approvals_required"]) for w in queue] == [
        (withdrawal_id, "6.000000000000000000", 0, 2)
    ]
    by_operator = await admin_http.post(
        f"{API}/withdrawals/{withdrawal_id}/approve", headers=operator.headers
    )
    assert (by_operator.status_code, error_code(by_operator)) == (403, "FORBIDDEN")
    once = ok(await admin_http.post(f"{API}/withdrawals/{withdrawal_id}/approve", headers=first.headers))
    assert (once["state"], once["approvals"], once["approvers"]) == (
        "pending_approval",
        1,
        [f"admin:{first.admin_id}"],
    )
    twice = await admin_http.post(f"{API}/withdrawals/{withdrawal_id}/approve", headers=first.headers)
    assert (twice.status_code, error_code(twice)) == (403, "SAME_APPROVER")

    ok(
        await admin_http.post(
            f"{API}/users/{user.user_id}/freeze", json={"reason": "review"}, headers=compliance.headers
        )
    )
    frozen = await admin_http.post(f"{API}/withdrawals/{withdrawal_id}/approve", headers=second.headers)
    assert (frozen.status_code, error_code(frozen)) == (409, "USER_FROZEN")
    asked = await api_http.post(
        "/api/v1/withdrawals", json={"asset": "ETH", "address": GOOD_ETH, "amount": "1"}, headers=user.headers
    )
    assert (asked.status_code, error_code(asked)) == (403, "ACCOUNT_FROZEN")
    ok(await admin_http.post(f"{API}/users/{user.user_id}/unfreeze", json={}, headers=compliance.headers))

    done = ok(await admin_http.post(f"{API}/withdrawals/{withdrawal_id}/approve", headers=second.headers))
    assert (done["state"], done["approvals"]) == ("approved", 2)
    assert ok(await admin_http.get(f"{API}/withdrawals/queue", headers=first.headers)) == []
    assert [
        a for a in await audit_actions(runtime, f"user:{user.user_id}") if a[1].startswith("withdrawal.")
    ] == [
        (f"admin:{first.admin_id}", "withdrawal.approve"),
        (f"admin:{second.admin_id}", "withdrawal.approve"),
    ]


async def test_a_rejected_withdrawal_releases_the_funds(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "rejected@example.com")
    ok(await api_http.post("/dev/credit", json={"email": user.email, "asset": "ETH", "amount": "20"}))
    withdrawal_id = await queued_withdrawal(runtime, user.user_id, "7")
    available, held = runtime.engine.state.balance(user.user_id, "ETH")
    assert held > 0
    treasurer = await make_admin(Role.TREASURY)
    no_reason = await admin_http.post(
        f"{API}/withdrawals/{withdrawal_id}/reject", json={}, headers=treasurer.headers
    )
    assert no_reason.status_code == 422
    rejected = ok(
        await admin_http.post(
            f"{API}/withdrawals/{withdrawal_id}/reject",
            json={"reason": "address on a watch list"},
            headers=treasurer.headers,
        )
    )
    assert rejected["state"] == "released"
    assert runtime.engine.state.balance(user.user_id, "ETH") == (available + held, 0)
    missing = await admin_http.post(f"{API}/withdrawals/w-nope/approve", headers=treasurer.headers)
    assert (missing.status_code, error_code(missing)) == (404, "UNKNOWN_WITHDRAWAL")


async def test_a_held_deposit_is_credited_only_after_a_second_treasurer_approves(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    from datetime import UTC, datetime

    from wcx.wallet.deposits.tables import deposits

    user = await sign_up(api_http, "big.depositor@example.com")
    async with runtime.db.begin() as conn:
        deposit_id = (
            await conn.execute(
                deposits.insert()
                .values(
                    chain="ethereum",
                    tx_hash="0x" + "ab" * 32,
                    log_index=-1,
                    asset="ETH",
                    address=GOOD_ETH,
                    user_id=user.user_id,
                    amount=3 * 10**18,
                    block_height=100,
                    block_hash="0x" + "cd" * 32,
                    status="held",
                    note="KYC_DEPOSIT_DAILY_LIMIT",
                    confirmations_required=12,
                    reference="ethereum:0x" + "ab" * 32 + ":-1",
                    seen_at=datetime.now(UTC),
                )
                .returning(deposits.c.id)
            )
        ).scalar_one()
    first, second = await make_admin(Role.TREASURY), await make_admin(Role.TREASURY)
    listed = ok(await admin_http.get(f"{API}/deposits/attention", headers=first.headers))
    assert [(d["id"], d["status"], d["amount"]) for d in listed] == [
        (deposit_id, "held", "3.000000000000000000")
    ]
    request = ok(await admin_http.post(f"{API}/deposits/{deposit_id}/release", headers=first.headers), 202)
    assert runtime.engine.state.balance(user.user_id, "ETH") == (0, 0)
    mine = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=first.headers)
    assert error_code(mine) == "SELF_APPROVAL"
    ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    assert runtime.engine.state.balance(user.user_id, "ETH") == (3 * 10**18, 0)
    assert ok(await admin_http.get(f"{API}/deposits/attention", headers=first.headers)) == []
    again = await admin_http.post(f"{API}/deposits/{deposit_id}/release", headers=first.headers)
    assert (again.status_code, error_code(again)) == (409, "DEPOSIT_NOT_HELD")
    assert (f"admin:{second.admin_id}", "deposit.release") in await audit_actions(
        runtime, f"user:{user.user_id}"
    )
