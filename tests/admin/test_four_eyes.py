"""Four-eyes: a different admin with the same permission approves; expired requests cannot be approved;
approved requests change the exchange through the engine and leave audit records."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from wcx.admin.permissions import Role
from wcx.runtime import Runtime
from wcx.store.schema import audit_events

from .conftest import API, AdminFactory, Clock, both_databases, error_code, ok, sign_in, sign_up

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return both_databases(request)


async def actions(runtime: Runtime, target: str) -> list[tuple[str, str]]:
    """(actor, action) of the audit records about `target`, oldest first."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.actor, audit_events.c.action)
            .where(audit_events.c.target == target)
            .order_by(audit_events.c.id)
        )
        return [(row.actor, row.action) for row in rows]


async def test_a_wire_credit_needs_a_second_treasurer_and_lands_once(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "wire@example.com")
    first, second = await make_admin(Role.TREASURY), await make_admin(Role.TREASURY)
    operator = await make_admin(Role.OPERATOR)
    wire = {"user_id": user.user_id, "asset": "USDT", "amount": "2500.5", "reference": "BANK-2026-0001"}
    request = ok(await admin_http.post(f"{API}/funds/credits", json=wire, headers=first.headers), 202)
    assert request["status"] == "pending" and request["requested_by"] == first.admin_id
    assert runtime.engine.state.balance(user.user_id, "USDT")[0] == 100_000 * 10**6

    mine = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=first.headers)
    assert (mine.status_code, error_code(mine)) == (403, "SELF_APPROVAL")
    wrong_role = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=operator.headers)
    assert (wrong_role.status_code, error_code(wrong_role)) == (403, "FORBIDDEN")
    assert runtime.engine.state.balance(user.user_id, "USDT")[0] == 100_000 * 10**6

    done = ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    assert done["status"] == "approved" and done["decided_by"] == second.admin_id
    assert done["result"]["balance"]["available"] == "102500.500000"
    assert runtime.engine.state.balance(user.user_id, "USDT")[0] == 102_500_500_000

    again = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers)
    assert (again.status_code, error_code(again)) == (409, "APPROVAL_NOT_PENDING")
    duplicate = await admin_http.post(f"{API}/funds/credits", json=wire, headers=first.headers)
    assert (duplicate.status_code, error_code(duplicate)) == (409, "DUPLICATE_REFERENCE")

    assert await actions(runtime, f"approval:{request['id']}") == [
        (f"admin:{first.admin_id}", "approval.request"),
        (f"admin:{second.admin_id}", "approval.approve"),
        (f"admin:{second.admin_id}", "approval.executed"),
    ]
    assert (f"admin:{second.admin_id}", "funds.credit") in await actions(runtime, f"user:{user.user_id}")


async def test_an_expired_request_cannot_be_approved(
    runtime: Runtime,
    admin_http: httpx.AsyncClient,
    api_http: httpx.AsyncClient,
    make_admin: AdminFactory,
    clock: Clock,
) -> None:
    user = await sign_up(api_http, "late@example.com")
    first = await make_admin(Role.TREASURY)
    adjustment = {"user_id": user.user_id, "asset": "BTC", "delta": "-0.5", "reason": "duplicate deposit"}
    request = ok(
        await admin_http.post(f"{API}/funds/adjustments", json=adjustment, headers=first.headers), 202
    )
    clock.advance(3600 + 1)  # approval_ttl_s is an hour in these tests
    second = await make_admin(Role.TREASURY)
    listed = ok(await admin_http.get(f"{API}/approvals", headers=second.headers))
    assert [item["status"] for item in listed] == ["expired"]
    assert ok(await admin_http.get(f"{API}/approvals?status=pending", headers=second.headers)) == []

    late = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers)
    assert (late.status_code, error_code(late)) == (409, "APPROVAL_EXPIRED")
    assert runtime.engine.state.balance(user.user_id, "BTC")[0] == 2 * 10**8
    stored = ok(await admin_http.get(f"{API}/approvals/{request['id']}", headers=second.headers))
    assert stored["status"] == "expired"
    again = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers)
    assert (again.status_code, error_code(again)) == (409, "APPROVAL_NOT_PENDING")


async def test_a_balance_adjustment_is_a_double_entry_through_the_engine(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    from wcx.engine.state import ADJUSTMENT_ACCOUNT

    user = await sign_up(api_http, "adjust@example.com")
    first, second = await make_admin(Role.TREASURY), await make_admin(Role.SUPERADMIN)
    adjustment = {"user_id": user.user_id, "asset": "BTC", "delta": "-0.25", "reason": "chargeback"}
    request = ok(
        await admin_http.post(f"{API}/funds/adjustments", json=adjustment, headers=first.headers), 202
    )
    system_before = runtime.engine.state.balance(ADJUSTMENT_ACCOUNT, "BTC")[0]
    done = ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    assert done["result"]["balance"]["available"] == "1.75000000"
    assert runtime.engine.state.balance(ADJUSTMENT_ACCOUNT, "BTC")[0] - system_before == 25_000_000

    too_precise = {**adjustment, "delta": "0.000000001"}
    refused = await admin_http.post(f"{API}/funds/adjustments", json=too_precise, headers=first.headers)
    assert (refused.status_code, error_code(refused)) == (422, "TOO_PRECISE")


async def test_fee_changes_and_new_markets_need_two_operators(
    runtime: Runtime, admin_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    first, second = await make_admin(Role.OPERATOR), await make_admin(Role.OPERATOR)
    fees = ok(
        await admin_http.post(f"{API}/fees", json={"maker_bps": 5, "taker_bps": 15}, headers=first.headers),
        202,
    )
    assert runtime.engine.state.default_fees == (10, 20)
    ok(await admin_http.post(f"{API}/approvals/{fees['id']}/approve", headers=second.headers))
    assert runtime.engine.state.default_fees == (5, 15)
    assert ok(await admin_http.get(f"{API}/fees", headers=first.headers))["default"] == {
        "maker_bps": 5,
        "taker_bps": 15,
    }

    spec = {
        "symbol": "ETH-USDT2",
        "base": "ETH",
        "quote": "USDT",
        "tick_size": "0.01",
        "lot_step": "0.001",
        "min_quantity": "0.001",
        "max_quantity": "1000",
    }
    bad = await admin_http.post(f"{API}/markets", json=spec, headers=first.headers)
    assert (bad.status_code, error_code(bad)) == (422, "INVALID_MARKET_SPEC")
    exists = await admin_http.post(
        f"{API}/markets", json={**spec, "symbol": "ETH-USDT"}, headers=first.headers
    )
    assert (exists.status_code, error_code(exists)) == (409, "MARKET_EXISTS")
    spec = {**spec, "symbol": "ETH-BTC2"}
    assert (await admin_http.post(f"{API}/markets", json=spec, headers=first.headers)).status_code == 422
    spec = {**spec, "symbol": "BTC-ETH", "base": "BTC", "quote": "ETH", "tick_size": "0.0001"}
    assert "BTC-ETH" not in runtime.engine.state.markets
    request = ok(await admin_http.post(f"{API}/markets", json=spec, headers=first.headers), 202)
    ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    created = runtime.engine.state.markets[spec["symbol"]]
    assert created.status.value == "halted"


async def test_market_halt_and_resume_take_one_operator_and_are_audited(
    runtime: Runtime, admin_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    operator = await make_admin(Role.OPERATOR)
    halted = ok(
        await admin_http.post(
            f"{API}/markets/BTC-USDT/status", json={"status": "halted"}, headers=operator.headers
        )
    )
    assert halted["status"] == "halted" and runtime.engine.state.markets["BTC-USDT"].status.value == "halted"
    ok(
        await admin_http.post(
            f"{API}/markets/BTC-USDT/status", json={"status": "trading"}, headers=operator.headers
        )
    )
    assert runtime.engine.state.markets["BTC-USDT"].status.value == "trading"
    missing = await admin_http.post(
        f"{API}/markets/NOPE-USDT/status", json={"status": "halted"}, headers=operator.headers
    )
    assert (missing.status_code, error_code(missing)) == (404, "UNKNOWN_MARKET")
    assert await actions(runtime, "market:BTC-USDT") == [
        (f"admin:{operator.admin_id}", "market.status"),
        (f"admin:{operator.admin_id}", "market.status"),
    ]


async def test_role_changes_need_two_superadmins_and_end_the_sessions_of_the_changed_admin(
    admin_http: httpx.AsyncClient, make_admin: AdminFactory, clock: Clock
) -> None:
    first, second = await make_admin(Role.SUPERADMIN), await make_admin(Role.SUPERADMIN)
    support = await make_admin(Role.SUPPORT)
    request = ok(
        await admin_http.post(
            f"{API}/admins/{support.admin_id}/role", json={"role": "compliance"}, headers=first.headers
        ),
        202,
    )
    self_approval = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=first.headers)
    assert error_code(self_approval) == "SELF_APPROVAL"
    by_support = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=support.headers)
    assert error_code(by_support) == "FORBIDDEN"
    ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    ended = await admin_http.get(f"{API}/me", headers=support.headers)
    assert (ended.status_code, error_code(ended)) == (401, "ADMIN_SESSION_ENDED")
    clock.advance(30)
    again = ok(await sign_in(admin_http, clock, support.email, support.totp))
    me = ok(await admin_http.get(f"{API}/me", headers={"Authorization": f"Bearer {again['token']}"}))
    assert me["role"] == "compliance"


async def test_a_new_admin_account_needs_two_superadmins_and_its_secrets_are_never_listed(
    admin_http: httpx.AsyncClient, make_admin: AdminFactory, clock: Clock
) -> None:
    import pyotp

    first, second = await make_admin(Role.SUPERADMIN), await make_admin(Role.SUPERADMIN)
    body = {
        "email": "new.treasurer@admin.example.com",
        "role": "treasury",
        "password": "admin staple battery horse",
    }
    request = ok(await admin_http.post(f"{API}/admins", json=body, headers=first.headers), 202)
    assert set(request["payload"]) == {"email", "role"}
    listed = ok(await admin_http.get(f"{API}/approvals/{request['id']}", headers=second.headers))
    assert "password_hash" not in listed["payload"] and "totp_sealed" not in listed["payload"]
    ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    signed_in = await sign_in(admin_http, clock, body["email"], pyotp.TOTP(request["totp_secret"]))
    me = ok(await admin_http.get(f"{API}/me", headers={"Authorization": f"Bearer {ok(signed_in)['token']}"}))
    assert me["role"] == "treasury"


async def test_requesters_may_withdraw_and_others_reject(
    admin_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    first, second = await make_admin(Role.OPERATOR), await make_admin(Role.OPERATOR)
    one = ok(
        await admin_http.post(f"{API}/fees", json={"maker_bps": 1, "taker_bps": 2}, headers=first.headers),
        202,
    )
    two = ok(
        await admin_http.post(f"{API}/fees", json={"maker_bps": 3, "taker_bps": 4}, headers=first.headers),
        202,
    )
    withdrawn = ok(
        await admin_http.post(f"{API}/approvals/{one['id']}/reject", json={}, headers=first.headers)
    )
    rejected = ok(
        await admin_http.post(
            f"{API}/approvals/{two['id']}/reject", json={"reason": "too low"}, headers=second.headers
        )
    )
    assert (withdrawn["status"], rejected["status"], rejected["reason"]) == (
        "rejected",
        "rejected",
        "too low",
    )
    late = await admin_http.post(f"{API}/approvals/{two['id']}/approve", headers=second.headers)
    assert error_code(late) == "APPROVAL_NOT_PENDING"
