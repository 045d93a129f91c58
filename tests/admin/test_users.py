"""Freeze and unfreeze: open orders cancelled, logins, refreshes, API calls and orders refused while
frozen, everything back after unfreezing; the user view and the audit records."""

from __future__ import annotations

import httpx
import pytest

from wcx.admin.permissions import Role
from wcx.runtime import Runtime

from .conftest import API, PASSWORD, AdminFactory, both_databases, error_code, ok, sign_up

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return both_databases(request)


ORDER = {"symbol": "BTC-USDT", "side": "buy", "price": "20000", "quantity": "0.01"}


async def test_freeze_cancels_orders_and_refuses_access_until_unfrozen(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "frozen@example.com")
    other = await sign_up(api_http, "bystander@example.com")
    for n in range(3):
        ok(
            await api_http.post("/api/v1/orders", json={**ORDER, "price": f"2000{n}"}, headers=user.headers),
            201,
        )
    ok(await api_http.post("/api/v1/orders", json=ORDER, headers=other.headers), 201)
    account = runtime.engine.state.accounts[user.user_id]
    assert len(account.orders) == 3 and account.held["USDT"] > 0
    compliance = await make_admin(Role.COMPLIANCE)

    frozen = ok(
        await admin_http.post(
            f"{API}/users/{user.user_id}/freeze", json={"reason": "sanctions hit"}, headers=compliance.headers
        )
    )
    assert len(frozen["cancelled_orders"]) == 3
    assert account.orders == {} and account.held.get("USDT", 0) == 0
    assert len(runtime.engine.state.accounts[other.user_id].orders) == 1  # nobody else touched

    refused = await api_http.get("/api/v1/balances", headers=user.headers)
    assert (refused.status_code, error_code(refused)) == (403, "ACCOUNT_FROZEN")
    order = await api_http.post("/api/v1/orders", json=ORDER, headers=user.headers)
    assert (order.status_code, error_code(order)) == (403, "ACCOUNT_FROZEN")
    login = await api_http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert (login.status_code, error_code(login)) == (403, "ACCOUNT_FROZEN")
    refresh = await api_http.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert (refresh.status_code, error_code(refresh)) == (403, "ACCOUNT_FROZEN")
    twice = await admin_http.post(f"{API}/users/{user.user_id}/freeze", json={}, headers=compliance.headers)
    assert (twice.status_code, error_code(twice)) == (409, "ALREADY_FROZEN")

    ok(
        await admin_http.post(
            f"{API}/users/{user.user_id}/unfreeze", json={"reason": "cleared"}, headers=compliance.headers
        )
    )
    assert ok(await api_http.get("/api/v1/balances", headers=user.headers))
    ok(await api_http.post("/api/v1/orders", json=ORDER, headers=user.headers), 201)
    ok(await api_http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}))

    view = ok(await admin_http.get(f"{API}/users/{user.user_id}", headers=compliance.headers))
    assert view["user"]["frozen"] is False
    assert {o["status"] for o in view["orders"]} == {"cancelled", "open"}
    assert [d["reference"].startswith("dev-credit-") for d in view["deposits"]] == [True, True]
    events = [(e["actor"], e["action"]) for e in view["security_events"]]
    admin = f"admin:{compliance.admin_id}"
    subject = f"user:{user.user_id}"
    for expected in ((admin, "user.freeze"), (admin, "user.orders_cancelled"), (admin, "user.unfreeze")):
        assert expected in events
    for expected in ((subject, "auth.login"), (subject, "auth.login_failed")):
        assert expected in events
    freeze = next(e for e in view["security_events"] if e["action"] == "user.freeze")
    assert freeze["before"] == {"frozen": False}
    assert freeze["after"] == {"frozen": True, "reason": "sanctions hit"}
    assert freeze["ip"] == "127.0.0.1"


async def test_support_can_look_but_not_freeze(
    admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "looked.at@example.com")
    support = await make_admin(Role.SUPPORT)
    found = ok(await admin_http.get(f"{API}/users?q=looked.at", headers=support.headers))
    assert [u["id"] for u in found] == [user.user_id]
    by_id = ok(await admin_http.get(f"{API}/users?q={user.user_id}", headers=support.headers))
    assert user.user_id in [u["id"] for u in by_id]
    view = ok(await admin_http.get(f"{API}/users/{user.user_id}", headers=support.headers))
    assert {b["asset"]: b["available"] for b in view["balances"]} == {
        "USDT": "100000.000000",
        "BTC": "2.00000000",
    }
    assert len(view["sessions"]) == 1
    refused = await admin_http.post(f"{API}/users/{user.user_id}/freeze", json={}, headers=support.headers)
    assert (refused.status_code, error_code(refused)) == (403, "FORBIDDEN")


async def test_security_events_of_users_are_in_the_audit_trail(
    runtime: Runtime, admin_http: httpx.AsyncClient, api_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    user = await sign_up(api_http, "careful@example.com")
    key = ok(
        await api_http.post(
            "/api/v1/api-keys", json={"permissions": ["read"], "label": "bot"}, headers=user.headers
        ),
        201,
    )
    assert (await api_http.delete(f"/api/v1/api-keys/{key['id']}", headers=user.headers)).status_code == 204
    ok(await api_http.post("/api/v1/auth/2fa/enable", headers=user.headers))
    changed = await api_http.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "another long password"},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    compliance = await make_admin(Role.COMPLIANCE)
    records = ok(await admin_http.get(f"{API}/audit?actor=user:{user.user_id}", headers=compliance.headers))
    assert [r["action"] for r in records][::-1] == [
        "auth.login",
        "auth.api_key_created",
        "auth.api_key_revoked",
        "auth.2fa_setup",
        "auth.password_change",
    ]
    created = records[-2]
    assert created["after"]["permissions"] == ["read"] and created["after"]["label"] == "bot"
    prefixed = ok(
        await admin_http.get(
            f"{API}/audit?action=auth.*&target=user:{user.user_id}", headers=compliance.headers
        )
    )
    assert len(prefixed) == 5
    assert ok(await admin_http.get(f"{API}/audit/verify", headers=compliance.headers))["ok"] is True
