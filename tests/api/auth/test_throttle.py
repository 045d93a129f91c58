"""Failed-login throttling: account and IP locks with Retry-After, and no enumeration through them."""

from __future__ import annotations

import pytest

from wcx.api.auth.throttle import ACCOUNT_FAILURES, IP_FAILURES, LOCK_MS

from .conftest import Api, Connect, error_code

pytestmark = pytest.mark.anyio

WRONG = "definitely wrong!"


async def test_five_failures_lock_the_account_for_fifteen_minutes(api: Api) -> None:
    await api.register("fay@example.com")
    for _ in range(ACCOUNT_FAILURES):
        assert error_code(await api.login_response("fay@example.com", WRONG)) == "INVALID_CREDENTIALS"
    locked = await api.login_response("fay@example.com")  # even the right password
    assert (locked.status_code, error_code(locked)) == (423, "ACCOUNT_LOCKED")
    assert int(locked.headers["Retry-After"]) == LOCK_MS // 1000
    api.clock.advance(LOCK_MS / 1000 - 1)
    assert error_code(await api.login_response("fay@example.com")) == "ACCOUNT_LOCKED"
    api.clock.advance(1)
    await api.login("fay@example.com")


async def test_unknown_emails_lock_exactly_like_real_ones(api: Api) -> None:
    await api.register("gus@example.com")
    answers: dict[str, list[tuple[int, str]]] = {}
    for email in ("gus@example.com", "ghost@example.com"):
        answers[email] = []
        for _ in range(ACCOUNT_FAILURES + 1):
            response = await api.login_response(email, WRONG)
            answers[email].append((response.status_code, error_code(response)))
    assert answers["gus@example.com"] == answers["ghost@example.com"]
    assert answers["ghost@example.com"][-1] == (423, "ACCOUNT_LOCKED")


async def test_a_success_clears_the_account_failures(api: Api) -> None:
    await api.register("hal@example.com")
    for _ in range(2):
        for _ in range(ACCOUNT_FAILURES - 1):
            await api.login_response("hal@example.com", WRONG)
        await api.login("hal@example.com")


async def test_failures_from_one_ip_lock_that_ip_only(api: Api, connect: Connect) -> None:
    await api.register("ida@example.com")
    for n in range(IP_FAILURES):
        await api.login_response(f"spray{n}@example.com", WRONG)
    blocked = await api.login_response("ida@example.com")
    assert (blocked.status_code, error_code(blocked)) == (429, "TOO_MANY_ATTEMPTS")
    assert int(blocked.headers["Retry-After"]) == LOCK_MS // 1000
    elsewhere = await connect("198.51.100.20")
    await elsewhere.login("ida@example.com")


async def test_wrong_second_factors_count_as_failures(api: Api) -> None:
    session = await api.signup("jon@example.com")
    await api.enable_2fa(session)
    for _ in range(ACCOUNT_FAILURES):
        assert (
            error_code(await api.login_response("jon@example.com", totp_code="000000"))
            == "INVALID_SECOND_FACTOR"
        )
    assert error_code(await api.login_response("jon@example.com", totp_code="000000")) == "ACCOUNT_LOCKED"


async def test_password_change_guesses_lock_the_account(api: Api) -> None:
    session = await api.signup("kim@example.com")
    guess = {"current_password": WRONG, "new_password": "a brand new password"}
    for _ in range(ACCOUNT_FAILURES):
        assert error_code(await api.post("/auth/password", guess, session)) == "INVALID_CREDENTIALS"
    right = {"current_password": "correct horse battery", "new_password": "a brand new password"}
    assert error_code(await api.post("/auth/password", right, session)) == "ACCOUNT_LOCKED"
