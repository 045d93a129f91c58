"""The permission matrix: every admin endpoint × every role answers allowed or 403 exactly as declared.

The endpoints come from the live app's routes, so a new endpoint is in the matrix the moment it exists
(and the app refuses to start if it declares no permission).
"""

from __future__ import annotations

import re

import httpx
import pytest

from wcx.admin import create_admin_app
from wcx.admin.guard import (
    CSRF_HEADER,
    PUBLIC_PATHS,
    Guard,
    api_routes,
    check_routes,
    requires,
    route_permission,
)
from wcx.admin.permissions import ROLE_PERMISSIONS, Permission, Role, allowed
from wcx.admin.state import admin_state
from wcx.runtime import Runtime

from .conftest import API, AdminFactory, Clock, error_code, sign_in

pytestmark = pytest.mark.anyio

DUMMY = {
    "user_id": "999999",
    "admin_id": "999999",
    "approval_id": "999999",
    "symbol": "NOPE-USDT",
    "submission_id": "999999",
    "document_id": "999999",
    "hit_id": "999999",
    "withdrawal_id": "w-nope",
    "deposit_id": "999999",
    "rebalance_id": "999999",
}
LOGOUTS = {"/logout", f"{API}/logout"}


def private_routes(runtime: Runtime) -> list[tuple[str, str, Permission]]:
    """(method, path, permission) for every private route of the admin app."""
    app = create_admin_app(runtime)
    found = []
    for route in api_routes(app.routes):
        if route.path not in PUBLIC_PATHS:
            permission = route_permission(route)
            assert permission is not None, route.path
            found.extend((method, route.path, permission) for method in sorted(route.methods))
    # Sign-out last: it ends the session the other calls use.
    return sorted(found, key=lambda item: item[1] in LOGOUTS)


def concrete(path: str) -> str:
    """The path with its parameters filled with ids that exist nowhere."""
    return re.sub(r"\{(\w+)\}", lambda m: DUMMY[m.group(1)], path)


async def test_the_matrix_declares_what_the_issue_says() -> None:
    support = ROLE_PERMISSIONS[Role.SUPPORT]
    assert all(p.value.endswith(":read") or p is Permission.SELF for p in support), "support is read-only"
    assert ROLE_PERMISSIONS[Role.SUPERADMIN] == frozenset(Permission)
    assert allowed(Role.COMPLIANCE, Permission.KYC_DECIDE) and allowed(
        Role.COMPLIANCE, Permission.USERS_FREEZE
    )
    assert allowed(Role.TREASURY, Permission.WITHDRAWALS_DECIDE) and allowed(
        Role.TREASURY, Permission.FUNDS_CREDIT
    )
    assert allowed(Role.OPERATOR, Permission.MARKETS_CONTROL) and allowed(
        Role.OPERATOR, Permission.FEES_CHANGE
    )
    only_superadmin = [r for r in Role if allowed(r, Permission.ADMINS_MANAGE)]
    assert only_superadmin == [Role.SUPERADMIN]
    assert not allowed(Role.OPERATOR, Permission.FUNDS_CREDIT)
    assert not allowed(Role.TREASURY, Permission.USERS_FREEZE)


async def test_an_app_with_an_undeclared_route_refuses_to_start(runtime: Runtime) -> None:
    app = create_admin_app(runtime)

    @app.get("/admin/api/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="declares no permission"):
        check_routes(app.routes)

    @app.get("/admin/api/v1/declared")
    async def declared(_: object = requires(Permission.USERS_READ)) -> dict[str, str]:
        return {}

    route = next(r for r in api_routes(app.routes) if r.path.endswith("/declared"))
    assert route_permission(route) is Permission.USERS_READ
    assert isinstance(route.dependant.dependencies[0].call, Guard)


async def test_audit_records_cannot_be_changed_through_any_endpoint(runtime: Runtime) -> None:
    routes = [r for r in api_routes(create_admin_app(runtime).routes) if "audit" in r.path]
    assert routes
    assert all(r.methods == {"GET"} for r in routes)


@pytest.mark.parametrize("role", list(Role))
async def test_every_endpoint_allows_or_forbids_each_role_as_declared(
    role: Role, runtime: Runtime, admin_http: httpx.AsyncClient, make_admin: AdminFactory, clock: Clock
) -> None:
    admin = await make_admin(role)
    csrf = None
    cookies: dict[str, str] = {"wcx_admin": admin.token}
    routes = private_routes(runtime)
    assert len(routes) > 30
    checked = 0
    for method, path, permission in routes:
        dashboard = not path.startswith(API)
        if dashboard:
            # The dashboard authenticates by cookie; changes carry the page's CSRF token.
            from wcx.admin.accounts import authenticate

            actor = await authenticate(
                runtime.db, admin_state(runtime), admin.token, "127.0.0.1", cookie=True
            )
            csrf = actor.csrf(admin_state(runtime))
            request = admin_http.build_request(
                method, concrete(path), data={} if method != "GET" else None, headers={CSRF_HEADER: csrf}
            )
            request.headers["Cookie"] = f"wcx_admin={cookies['wcx_admin']}"
        else:
            body = {} if method in ("POST", "PUT") else None
            request = admin_http.build_request(method, concrete(path), json=body, headers=admin.headers)
        response = await admin_http.send(request)
        label = f"{role.value} {method} {path} -> {response.status_code} {response.text[:200]}"
        if allowed(role, permission):
            assert response.status_code not in (401, 403), label
            assert response.status_code < 500, label
        else:
            assert response.status_code == 403, label
            if not dashboard:
                assert error_code(response) == "FORBIDDEN", label
        checked += 1
        if path in LOGOUTS and allowed(role, permission):
            clock.advance(30)  # a fresh TOTP step: each code signs in once
            response = await sign_in(admin_http, clock, admin.email, admin.totp)
            admin.token = cookies["wcx_admin"] = response.json()["token"]
    assert checked == len(routes)


async def test_without_a_session_every_private_endpoint_is_refused(
    runtime: Runtime, admin_http: httpx.AsyncClient
) -> None:
    for method, path, _ in private_routes(runtime):
        if path.startswith(API):
            response = await admin_http.request(method, concrete(path), json={} if method != "GET" else None)
            assert response.status_code == 401, f"{method} {path}"
        else:
            response = await admin_http.request(method, concrete(path), headers={"HX-Request": "true"})
            assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login", path


async def test_cookie_sessions_need_the_csrf_token_for_changes(
    admin_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    admin = await make_admin(Role.OPERATOR)
    admin_http.cookies.set("wcx_admin", admin.token)
    try:
        page = await admin_http.get("/markets")
        assert page.status_code == 200
        assert (
            page.headers["x-frame-options"] == "SAMEORIGIN"
            and page.headers["referrer-policy"] == "no-referrer"
        )
        refused = await admin_http.post("/markets/BTC-USDT/status", data={"status": "halted"})
        assert refused.status_code == 403 and "CSRF_TOKEN_INVALID" in refused.text
        token = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text)
        assert token is not None
        accepted = await admin_http.post(
            "/markets/BTC-USDT/status", data={"status": "halted"}, headers={CSRF_HEADER: token.group(1)}
        )
        assert accepted.status_code == 200 and "halted" in accepted.text
    finally:
        admin_http.cookies.clear()
