"""Register, verify, login, refresh rotation and reuse, logout, password change, sessions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import jwt
import pytest
from sqlalchemy import func, select

from wcx.api.auth.accounts import SESSION_RETENTION, prune_sessions
from wcx.store.schema import credentials, email_outbox, sessions, users

from .conftest import PASSWORD, SECRET, Api, FakeClock, error_code

pytestmark = pytest.mark.anyio


async def test_register_hashes_with_argon2id_and_development_verifies_at_once(
    api: Api, auth_runtime: SimpleNamespace
) -> None:
    response = await api.register("  Alice@Example.COM ")
    assert response.status_code == 202
    async with auth_runtime.db.connect() as conn:
        user = (await conn.execute(select(users))).one()
        stored = await conn.scalar(select(credentials.c.password_hash))
        outbox = (await conn.execute(select(email_outbox))).one()
    assert user.email == "alice@example.com"
    assert user.email_verified_at is not None
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert outbox.kind == "verify_email" and outbox.payload == {"to": "alice@example.com"}
    session = await api.login("ALICE@example.com")
    whoami = await api.get("/probe/whoami", session)
    assert whoami.json() == {
        "user_id": user.id,
        "api_key_id": None,
        "session_id": session.session_id,
        "permissions": ["read", "trade", "withdraw"],
    }


async def test_registering_a_known_email_answers_the_same_and_sends_a_notice(
    api: Api, auth_runtime: SimpleNamespace
) -> None:
    first = await api.register("bob@example.com")
    second = await api.register("bob@example.com", "another long password")
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    async with auth_runtime.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(users)) == 1
        kinds = (await conn.scalars(select(email_outbox.c.kind).order_by(email_outbox.c.id))).all()
    assert kinds == ["verify_email", "account_exists"]
    await api.login("bob@example.com")  # the first password still holds


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, 422, "INVALID_EMAIL"),
        ({"email": "a@b", "password": PASSWORD}, 422, "INVALID_EMAIL"),
        ({"email": "ünï@example.com", "password": PASSWORD}, 422, "INVALID_EMAIL"),
        ({"email": "a@example.com", "password": "short"}, 422, "WEAK_PASSWORD"),
        ({"email": "alongname@example.com", "password": "alongname@example.com"}, 422, "WEAK_PASSWORD"),
        ({"email": "a@example.com", "password": 1234567890123}, 422, "INVALID_REQUEST"),
        ({"email": "a@example.com"}, 422, "INVALID_REQUEST"),
        ({"email": "a@example.com", "password": PASSWORD, "admin": True}, 422, "INVALID_REQUEST"),
        ({"email": "a@example.com", "password": "x" * 1025}, 422, "INVALID_REQUEST"),
    ],
)
async def test_register_refuses_bad_input(
    api: Api, auth_runtime: SimpleNamespace, body: dict[str, object], status: int, error: str
) -> None:
    response = await api.post("/auth/register", body)
    assert (response.status_code, error_code(response)) == (status, error)
    async with auth_runtime.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(users)) == 0


@pytest.mark.parametrize("environment", ["staging"])
async def test_outside_development_login_waits_for_the_emailed_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wcx.api.auth.accounts"):
        await api.register("carol@example.com")
    token = next(r.args[2] for r in caplog.records if r.args and r.args[0] == "verify_email")  # type: ignore[index]
    refused = await api.login_response("carol@example.com")
    assert (refused.status_code, error_code(refused)) == (403, "EMAIL_NOT_VERIFIED")
    bogus = await api.post("/auth/verify-email", {"token": "nope"})
    assert (bogus.status_code, error_code(bogus)) == (400, "INVALID_TOKEN")
    verified = await api.post("/auth/verify-email", {"token": token})
    assert verified.json() == {"verified": True}
    again = await api.post("/auth/verify-email", {"token": token})
    assert (again.status_code, error_code(again)) == (400, "INVALID_TOKEN")
    await api.login("carol@example.com")


@pytest.mark.parametrize("environment", ["staging"])
async def test_verification_tokens_expire_after_a_day(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wcx.api.auth.accounts"):
        await api.register("dave@example.com")
    token = next(r.args[2] for r in caplog.records if r.args and r.args[0] == "verify_email")  # type: ignore[index]
    api.clock.advance(24 * 3600 + 1)
    response = await api.post("/auth/verify-email", {"token": token})
    assert (response.status_code, error_code(response)) == (400, "INVALID_TOKEN")


async def test_unknown_email_and_wrong_password_are_indistinguishable(api: Api) -> None:
    await api.register("erin@example.com")
    wrong_password = await api.login_response("erin@example.com", "not the password!")
    unknown_email = await api.login_response("nobody@example.com", "not the password!")
    malformed_email = await api.login_response("nobody", "not the password!")
    assert wrong_password.status_code == unknown_email.status_code == malformed_email.status_code == 401
    assert wrong_password.json() == unknown_email.json() == malformed_email.json()
    assert error_code(wrong_password) == "INVALID_CREDENTIALS"


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    session = await api.signup("frank@example.com")
    rotated = await api.post("/auth/refresh", {"refresh_token": session.refresh})
    assert rotated.status_code == 200, rotated.text
    newer = rotated.json()
    assert newer["refresh_token"] != session.refresh and newer["session_id"] == session.session_id
    new_headers = {"Authorization": f"Bearer {newer['access_token']}"}
    assert (await api.http.get("/api/v1/probe/whoami", headers=new_headers)).status_code == 200

    reused = await api.post("/auth/refresh", {"refresh_token": session.refresh})
    assert (reused.status_code, error_code(reused)) == (401, "TOKEN_REUSED")
    # The thief and the owner are both out: the newest token and every access token of the family.
    latest = await api.post("/auth/refresh", {"refresh_token": newer["refresh_token"]})
    assert (latest.status_code, error_code(latest)) == (401, "INVALID_TOKEN")
    for headers in (session.headers, new_headers):
        refused = await api.http.get("/api/v1/probe/whoami", headers=headers)
        assert (refused.status_code, error_code(refused)) == (401, "SESSION_REVOKED")


async def test_reuse_in_one_family_leaves_other_sessions_alone(api: Api) -> None:
    stolen = await api.signup("gina@example.com")
    other = await api.login("gina@example.com")
    await api.post("/auth/refresh", {"refresh_token": stolen.refresh})
    await api.post("/auth/refresh", {"refresh_token": stolen.refresh})
    assert (await api.get("/probe/whoami", other)).status_code == 200


async def test_expired_tokens_are_refused(api: Api) -> None:
    session = await api.signup("hank@example.com")
    api.clock.advance(api.settings.access_token_ttl_s)
    expired = await api.get("/probe/whoami", session)
    assert (expired.status_code, error_code(expired)) == (401, "TOKEN_EXPIRED")
    fresh = await api.login(
        "hank@example.com"
    )  # issued "in the future" of the wall clock: the fake clock rules
    assert (await api.get("/probe/whoami", fresh)).status_code == 200
    api.clock.advance(api.settings.refresh_token_ttl_s)
    refresh = await api.post("/auth/refresh", {"refresh_token": session.refresh})
    assert (refresh.status_code, error_code(refresh)) == (401, "TOKEN_EXPIRED")


async def test_forged_and_malformed_access_tokens_are_refused(api: Api) -> None:
    session = await api.signup("iris@example.com")
    claims = jwt.decode(session.access, options={"verify_signature": False})
    forged = {
        "wrong key": jwt.encode(claims, "another-secret-of-sufficient-length!", algorithm="HS256"),
        "wrong typ": jwt.encode({**claims, "typ": "refresh"}, SECRET, algorithm="HS256"),
        "alg none": jwt.encode(claims, "", algorithm="none"),
        "no sid": jwt.encode({k: v for k, v in claims.items() if k != "sid"}, SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        response = await api.http.get("/api/v1/probe/whoami", headers={"Authorization": "Bearer " + token})
        assert (response.status_code, error_code(response)) == (401, "UNAUTHENTICATED"), name
    for header in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = await api.http.get("/api/v1/probe/whoami", headers=header)
        assert (response.status_code, error_code(response)) == (401, "UNAUTHENTICATED")
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_logout_ends_the_session(api: Api) -> None:
    session = await api.signup("jack@example.com")
    assert (await api.post("/auth/logout", None, session)).status_code == 204
    assert error_code(await api.get("/probe/whoami", session)) == "SESSION_REVOKED"
    refresh = await api.post("/auth/refresh", {"refresh_token": session.refresh})
    assert (refresh.status_code, error_code(refresh)) == (401, "INVALID_TOKEN")


async def test_password_change_needs_the_current_password_and_ends_every_session(api: Api) -> None:
    first = await api.signup("kate@example.com")
    second = await api.login("kate@example.com")
    wrong = await api.post(
        "/auth/password",
        {"current_password": "not the password", "new_password": "a brand new password"},
        first,
    )
    assert (wrong.status_code, error_code(wrong)) == (403, "INVALID_CREDENTIALS")
    weak = await api.post("/auth/password", {"current_password": PASSWORD, "new_password": "short"}, first)
    assert (weak.status_code, error_code(weak)) == (422, "WEAK_PASSWORD")
    changed = await api.post(
        "/auth/password", {"current_password": PASSWORD, "new_password": "a brand new password"}, first
    )
    assert changed.json() == {"revoked_sessions": 2}
    for session in (first, second):
        assert error_code(await api.get("/probe/whoami", session)) == "SESSION_REVOKED"
    assert error_code(await api.login_response("kate@example.com")) == "INVALID_CREDENTIALS"
    await api.login("kate@example.com", "a brand new password")


async def test_sessions_list_and_revoke_only_your_own(api: Api) -> None:
    laptop = await api.signup("liam@example.com")
    phone = await api.login("liam@example.com")
    other = await api.signup("mia@example.com")
    listed = (await api.get("/account/sessions", laptop)).json()
    assert {s["id"]: s["current"] for s in listed} == {laptop.session_id: True, phone.session_id: False}
    assert all(s["ip"] == "203.0.113.7" for s in listed)

    foreign = await api.http.delete(f"/api/v1/account/sessions/{laptop.session_id}", headers=other.headers)
    assert (foreign.status_code, error_code(foreign)) == (404, "SESSION_NOT_FOUND")
    assert (await api.get("/probe/whoami", laptop)).status_code == 200

    revoked = await api.http.delete(f"/api/v1/account/sessions/{phone.session_id}", headers=laptop.headers)
    assert revoked.status_code == 204
    assert error_code(await api.get("/probe/whoami", phone)) == "SESSION_REVOKED"
    refresh = await api.post("/auth/refresh", {"refresh_token": phone.refresh})
    assert refresh.status_code == 401
    remaining = (await api.get("/account/sessions", laptop)).json()
    assert [s["id"] for s in remaining] == [laptop.session_id]
    again = await api.http.delete(f"/api/v1/account/sessions/{phone.session_id}", headers=laptop.headers)
    assert again.status_code == 404


async def test_frozen_accounts_cannot_log_in_or_use_sessions(api: Api, auth_runtime: SimpleNamespace) -> None:
    session = await api.signup("nina@example.com")
    async with auth_runtime.db.begin() as conn:
        await conn.execute(users.update().values(frozen=True))
    api.clock.advance(10)  # past the session cache
    refused = await api.get("/probe/whoami", session)
    assert (refused.status_code, error_code(refused)) == (403, "ACCOUNT_FROZEN")
    assert error_code(await api.login_response("nina@example.com")) == "ACCOUNT_FROZEN"
    refresh = await api.post("/auth/refresh", {"refresh_token": session.refresh})
    assert error_code(refresh) == "ACCOUNT_FROZEN"


async def test_sessions_are_stored_as_hashes(api: Api, auth_runtime: SimpleNamespace) -> None:
    session = await api.signup("omar@example.com")
    async with auth_runtime.db.connect() as conn:
        row = (await conn.execute(select(sessions))).one()
    assert row.family_id == session.session_id
    assert session.refresh not in row.token_hash and len(row.token_hash) == 64


async def test_long_expired_session_rows_are_pruned_and_live_ones_kept(
    api: Api, auth_runtime: SimpleNamespace, clock: FakeClock
) -> None:
    old = await api.signup("xena@example.com")
    rotated = await api.post("/auth/refresh", {"refresh_token": old.refresh})
    assert rotated.status_code == 200, rotated.text
    ttl = auth_runtime.settings.refresh_token_ttl_s
    clock.advance(ttl + SESSION_RETENTION.total_seconds() + 60)
    live = await api.login("xena@example.com")

    async def rows() -> int:
        async with auth_runtime.db.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(sessions))).scalar_one())

    assert await rows() == 3  # the first login, its rotation, the new login
    now = datetime.fromtimestamp(clock(), UTC)
    assert await prune_sessions(auth_runtime.db, now) == 2
    assert await rows() == 1
    listed = await api.get("/account/sessions", live)
    assert [s["id"] for s in listed.json()] == [live.session_id]  # the live session is untouched
    refused = await api.post("/auth/refresh", {"refresh_token": rotated.json()["refresh_token"]})
    assert refused.status_code == 401  # a pruned token was unusable before and stays refused
