"""TOTP 2FA: enable, verify, login with a code or a one-time recovery code, disable."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from wcx.store.schema import credentials

from .conftest import Api, error_code

pytestmark = pytest.mark.anyio


async def test_setup_is_pending_until_a_code_verifies_it(api: Api) -> None:
    session = await api.signup("ana@example.com")
    early = await api.post("/auth/2fa/verify", {"totp_code": "123456"}, session)
    assert (early.status_code, error_code(early)) == (409, "TOTP_NOT_PENDING")
    setup = (await api.post("/auth/2fa/enable", None, session)).json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/wcx:ana%40example.com?secret=" + setup["secret"])
    await api.login("ana@example.com")  # still off while pending
    wrong = await api.post("/auth/2fa/verify", {"totp_code": "000000"}, session)
    assert (wrong.status_code, error_code(wrong)) == (403, "INVALID_SECOND_FACTOR")


async def test_login_with_2fa_needs_a_fresh_error_code(api: Api) -> None:
    session = await api.signup("ben@example.com")
    authenticator, codes = await api.enable_2fa(session)
    assert len(codes) == len(set(codes)) == 10
    again = await api.post("/auth/2fa/enable", None, session)
    assert (again.status_code, error_code(again)) == (409, "TOTP_ALREADY_ENABLED")

    missing = await api.login_response("ben@example.com")
    assert (missing.status_code, error_code(missing)) == (401, "SECOND_FACTOR_REQUIRED")
    wrong = await api.login_response("ben@example.com", totp_code="000000")
    assert (wrong.status_code, error_code(wrong)) == (401, "INVALID_SECOND_FACTOR")
    bad_password = await api.login_response("ben@example.com", "wrong password!!", totp_code="000000")
    assert error_code(bad_password) == "INVALID_CREDENTIALS"  # the second factor is not even looked at

    api.clock.advance(30)  # the code used to turn 2FA on must not log in
    now_code = authenticator.at(api.clock())
    await api.login("ben@example.com", totp_code=now_code)
    replayed = await api.login_response("ben@example.com", totp_code=now_code)
    assert (replayed.status_code, error_code(replayed)) == (401, "INVALID_SECOND_FACTOR")
    api.clock.advance(30)
    await api.login("ben@example.com", totp_code=authenticator.at(api.clock()))


async def test_recovery_codes_work_once_each(api: Api) -> None:
    session = await api.signup("cleo@example.com")
    _, codes = await api.enable_2fa(session)
    await api.login("cleo@example.com", recovery_code=codes[0].upper().replace("-", " "))
    spent = await api.login_response("cleo@example.com", recovery_code=codes[0])
    assert (spent.status_code, error_code(spent)) == (401, "INVALID_SECOND_FACTOR")
    await api.login("cleo@example.com", recovery_code=codes[1])
    invented = await api.login_response("cleo@example.com", recovery_code="00000-00000")
    assert error_code(invented) == "INVALID_SECOND_FACTOR"


async def test_disable_needs_a_code_or_a_recovery_error_code(api: Api) -> None:
    session = await api.signup("dora@example.com")
    authenticator, codes = await api.enable_2fa(session)
    refused = await api.post("/auth/2fa/disable", {}, session)
    assert (refused.status_code, error_code(refused)) == (403, "INVALID_SECOND_FACTOR")
    wrong = await api.post("/auth/2fa/disable", {"totp_code": "000000"}, session)
    assert error_code(wrong) == "INVALID_SECOND_FACTOR"
    disabled = await api.post("/auth/2fa/disable", {"recovery_code": codes[3]}, session)
    assert disabled.json() == {"totp_enabled": False}
    await api.login("dora@example.com")
    off = await api.post("/auth/2fa/disable", {"recovery_code": codes[4]}, session)
    assert (off.status_code, error_code(off)) == (409, "TOTP_NOT_ENABLED")

    # Turned on again: a new secret, and the old recovery codes are gone.
    authenticator, new_codes = await api.enable_2fa(session)
    assert not set(codes) & set(new_codes)
    assert (
        error_code(await api.login_response("dora@example.com", recovery_code=codes[5]))
        == "INVALID_SECOND_FACTOR"
    )
    api.clock.advance(30)
    by_code = await api.post("/auth/2fa/disable", {"totp_code": authenticator.at(api.clock())}, session)
    assert by_code.status_code == 200, by_code.text


async def test_totp_secret_is_encrypted_at_rest(api: Api, auth_runtime: SimpleNamespace) -> None:
    session = await api.signup("eve@example.com")
    setup = (await api.post("/auth/2fa/enable", None, session)).json()
    async with auth_runtime.db.connect() as conn:
        stored = await conn.scalar(select(credentials.c.totp_secret))
    assert stored is not None and setup["secret"] not in stored and len(stored) <= 64
