"""Admin sign-in: password + mandatory TOTP, short sessions, IP allowlists, disabling, `wcx admin create`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import select

from wcx.admin.permissions import Role
from wcx.admin.tables import admin_users
from wcx.runtime import Runtime
from wcx.store.audit import verify_audit
from wcx.store.db import create_engine
from wcx.store.schema import audit_events

from .conftest import ADMIN_PASSWORD, API, AdminFactory, Clock, error_code, ok, sign_in

pytestmark = pytest.mark.anyio


async def test_sign_in_needs_the_password_and_a_fresh_totp_code(
    runtime: Runtime, admin_http: httpx.AsyncClient, make_admin: AdminFactory, clock: Clock
) -> None:
    admin = await make_admin(Role.SUPPORT)
    login = {"email": admin.email, "password": ADMIN_PASSWORD}
    reused = await admin_http.post(f"{API}/login", json={**login, "totp_code": admin.totp.at(clock())})
    assert (reused.status_code, error_code(reused)) == (401, "ADMIN_LOGIN_FAILED")  # make_admin spent it
    clock.advance(30)
    wrong_code = await admin_http.post(f"{API}/login", json={**login, "totp_code": "000000"})
    wrong_password = await admin_http.post(
        f"{API}/login", json={**login, "password": "not the password", "totp_code": admin.totp.at(clock())}
    )
    unknown = await admin_http.post(
        f"{API}/login", json={**login, "email": "nobody@admin.example.com", "totp_code": "123456"}
    )
    for response in (wrong_code, wrong_password, unknown):
        assert (response.status_code, error_code(response)) == (401, "ADMIN_LOGIN_FAILED")
    good = ok(await admin_http.post(f"{API}/login", json={**login, "totp_code": admin.totp.at(clock())}))
    assert good["idle_timeout_s"] == 900
    async with runtime.db.connect() as conn:
        rows = (
            await conn.execute(
                select(audit_events.c.action, audit_events.c.target).order_by(audit_events.c.id)
            )
        ).all()
    actions = [row.action for row in rows if row.action.startswith("admin.login")]
    assert actions == ["admin.login", *["admin.login_failed"] * 4, "admin.login"]


async def test_sessions_end_when_idle_and_at_their_maximum_age(
    admin_http: httpx.AsyncClient, make_admin: AdminFactory, clock: Clock
) -> None:
    admin = await make_admin(Role.SUPPORT)
    for _ in range(3):  # activity keeps the session alive past the idle timeout
        clock.advance(600)
        ok(await admin_http.get(f"{API}/me", headers=admin.headers))
    clock.advance(901)
    idle = await admin_http.get(f"{API}/me", headers=admin.headers)
    assert (idle.status_code, error_code(idle)) == (401, "ADMIN_SESSION_ENDED")

    active = await make_admin(Role.SUPPORT)
    for _ in range(8 * 6):  # 8 hours of activity every 10 minutes
        clock.advance(600)
        response = await admin_http.get(f"{API}/me", headers=active.headers)
    assert (response.status_code, error_code(response)) == (401, "ADMIN_SESSION_ENDED")


async def test_an_ip_allowlist_keeps_an_admin_to_its_networks_and_disabling_ends_sessions(
    admin_http: httpx.AsyncClient, make_admin: AdminFactory, clock: Clock
) -> None:
    boss = await make_admin(Role.SUPERADMIN)
    admin = await make_admin(Role.COMPLIANCE)
    bad = await admin_http.put(
        f"{API}/admins/{admin.admin_id}/ip-allowlist",
        json={"ip_allowlist": ["not-a-net"]},
        headers=boss.headers,
    )
    assert (bad.status_code, error_code(bad)) == (422, "INVALID_NETWORK")
    ok(
        await admin_http.put(
            f"{API}/admins/{admin.admin_id}/ip-allowlist",
            json={"ip_allowlist": ["10.0.0.0/8"]},
            headers=boss.headers,
        )
    )
    refused = await admin_http.get(f"{API}/me", headers=admin.headers)
    assert (refused.status_code, error_code(refused)) == (403, "IP_NOT_ALLOWED")
    clock.advance(30)
    login = await sign_in(admin_http, clock, admin.email, admin.totp)
    assert (login.status_code, error_code(login)) == (403, "IP_NOT_ALLOWED")
    ok(
        await admin_http.put(
            f"{API}/admins/{admin.admin_id}/ip-allowlist",
            json={"ip_allowlist": ["127.0.0.0/8"]},
            headers=boss.headers,
        )
    )
    ok(await admin_http.get(f"{API}/me", headers=admin.headers))

    ok(await admin_http.post(f"{API}/admins/{admin.admin_id}/disable", headers=boss.headers))
    ended = await admin_http.get(f"{API}/me", headers=admin.headers)
    assert (ended.status_code, error_code(ended)) == (401, "ADMIN_SESSION_ENDED")
    clock.advance(30)
    disabled = await sign_in(admin_http, clock, admin.email, admin.totp)
    assert (disabled.status_code, error_code(disabled)) == (403, "ADMIN_DISABLED")
    myself = await admin_http.post(f"{API}/admins/{boss.admin_id}/disable", headers=boss.headers)
    assert error_code(myself) == "CANNOT_DISABLE_SELF"


def test_wcx_admin_create_bootstraps_a_superadmin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wcx.db'}"
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path),
        "WCX_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    command = [sys.executable, "-m", "wcx", "admin", "create", "--email", "Root@Admin.Example.com"]
    result = subprocess.run(
        command, check=False, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "admin 1 root@admin.example.com (superadmin) created"
    secret = lines[1].removeprefix("totp secret: ")
    assert len(pyotp.TOTP(secret).now()) == 6
    assert lines[2].startswith("otpauth uri: otpauth://totp/")
    again = subprocess.run(
        command, check=False, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 1 and "ADMIN_EXISTS" in again.stderr
    weak = subprocess.run(
        [*command[:-1], "weak@admin.example.com", "--role", "support"],
        check=False,
        cwd=tmp_path,
        env={**environment, "WCX_ADMIN_PASSWORD": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert weak.returncode == 1 and "WEAK_PASSWORD" in weak.stderr

    async def stored() -> tuple[list[tuple[str, str, bool]], bool]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(admin_users.c.email, admin_users.c.role, admin_users.c.totp_secret)
                )
                found = [(row.email, row.role, secret not in row.totp_secret) for row in rows]
                return found, (await verify_audit(conn)).ok
        finally:
            await engine.dispose()

    import asyncio

    assert asyncio.run(stored()) == ([("root@admin.example.com", "superadmin", True)], True)


async def test_the_admin_api_reports_a_tampered_audit_record(
    runtime: Runtime, admin_http: httpx.AsyncClient, make_admin: AdminFactory
) -> None:
    from sqlalchemy import update

    compliance = await make_admin(Role.COMPLIANCE)
    assert ok(await admin_http.get(f"{API}/audit/verify", headers=compliance.headers))["ok"] is True
    async with runtime.db.begin() as conn:
        first = await conn.scalar(select(audit_events.c.id).order_by(audit_events.c.id).limit(1))
        await conn.execute(update(audit_events).where(audit_events.c.id == first).values(ip="10.9.9.9"))
    verdict = ok(await admin_http.get(f"{API}/audit/verify", headers=compliance.headers))
    assert (verdict["ok"], verdict["broken_id"]) == (False, first)
