"""Accounts, sessions and 2FA against the users, credentials, sessions and email_outbox tables.

A session is a refresh-token family: login starts one (its id is the family id, the access token's
`sid`); each refresh marks the presented token rotated and issues the next one in the family.
Presenting a rotated token again means it was copied, so the whole family is revoked.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.api.auth import schemas, totp
from wcx.api.auth.crypto import new_token, token_hash
from wcx.api.auth.passwords import check_password_policy, normalize_email
from wcx.api.auth.state import AuthState
from wcx.api.auth.tokens import issue_access
from wcx.api.errors import ApiError
from wcx.store.audit import record_audit
from wcx.store.schema import credentials, email_outbox, sessions, users

logger = logging.getLogger(__name__)

EMAIL_TOKEN_TTL = timedelta(hours=24)
TOTP_REUSE_MS = 90_000  # a code is valid for three 30 s steps; it must not work twice
RECOVERY_GUARD_MS = 3_600_000  # closes the race of two logins spending one recovery code at once

INVALID_CREDENTIALS = "INVALID_CREDENTIALS"


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from (recorded on sessions, used by throttling)."""

    ip: str
    user_agent: str


def now_utc(state: AuthState) -> datetime:
    """The injected clock as an aware UTC datetime."""
    return datetime.fromtimestamp(state.clock(), UTC)


def aware(value: datetime) -> datetime:
    """Datetimes read back from SQLite are naive UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _queue_email(
    conn: AsyncConnection, state: AuthState, user_id: int, kind: str, email: str, token: str
) -> None:
    """Queue an email in the outbox; only the token's hash is stored, the log carries the token itself
    (the development mailer)."""
    await conn.execute(
        insert(email_outbox).values(
            user_id=user_id,
            kind=kind,
            token_hash=token_hash(state.refresh_key, "email", token),
            payload={"to": email},
            created_at=now_utc(state),
        )
    )
    logger.info("email queued: kind=%s to=%s token=%s", kind, email, token)


async def register(db: AsyncEngine, state: AuthState, body: schemas.RegisterRequest) -> None:
    """Create an unverified account and queue its verification email (verified at once in development).

    An already registered email gets a notice instead, and the caller sees the same answer either way.
    """
    email = normalize_email(body.email)
    check_password_policy(body.password, email)
    password_hash = await state.passwords.hash(body.password)
    now = now_utc(state)
    try:
        async with db.begin() as conn:
            existing = await conn.scalar(select(users.c.id).where(users.c.email == email))
            if existing is not None:
                await _queue_email(conn, state, existing, "account_exists", email, new_token())
                return
            result = await conn.execute(
                insert(users).values(
                    email=email,
                    email_verified_at=now if state.settings.development else None,
                    frozen=False,
                    created_at=now,
                )
            )
            user_id = result.inserted_primary_key[0]  # type: ignore[index]
            await conn.execute(
                insert(credentials).values(
                    user_id=user_id, password_hash=password_hash, totp_enabled=False, recovery_codes=[]
                )
            )
            await _queue_email(conn, state, user_id, "verify_email", email, new_token())
    except IntegrityError:
        # A concurrent registration of the same email won; answer as for an existing account.
        logger.info("concurrent registration for %s", email)


async def verify_email(db: AsyncEngine, state: AuthState, token: str) -> None:
    """Mark the email verified; 400 INVALID_TOKEN for an unknown, used or expired token."""
    now = now_utc(state)
    async with db.begin() as conn:
        row = (
            await conn.execute(
                select(email_outbox.c.id, email_outbox.c.user_id, email_outbox.c.created_at).where(
                    email_outbox.c.token_hash == token_hash(state.refresh_key, "email", token),
                    email_outbox.c.kind == "verify_email",
                    email_outbox.c.used_at.is_(None),
                )
            )
        ).first()
        if row is None or aware(row.created_at) + EMAIL_TOKEN_TTL < now:
            raise ApiError(400, "INVALID_TOKEN", "the verification token is unknown, used or expired")
        await conn.execute(update(email_outbox).where(email_outbox.c.id == row.id).values(used_at=now))
        await conn.execute(
            update(users)
            .where(users.c.id == row.user_id, users.c.email_verified_at.is_(None))
            .values(email_verified_at=now)
        )


def _account_query() -> Any:
    return select(
        users.c.id,
        users.c.email,
        users.c.frozen,
        users.c.email_verified_at,
        credentials.c.password_hash,
        credentials.c.totp_secret,
        credentials.c.totp_enabled,
        credentials.c.recovery_codes,
    ).join(credentials, credentials.c.user_id == users.c.id)


async def _account(conn: AsyncConnection, user_id: int) -> Row[Any]:
    row = (await conn.execute(_account_query().where(users.c.id == user_id))).first()
    if row is None:
        raise ApiError(401, "UNAUTHENTICATED", "the account no longer exists")
    return row


async def _second_factor_ok(
    conn: AsyncConnection, state: AuthState, account: Row[Any], factor: schemas.SecondFactor
) -> bool:
    """Check a TOTP code (each works once) or spend a recovery code."""
    if factor.totp_code is not None:
        secret = state.sealer.open(account.totp_secret, f"totp:{account.id}")
        return totp.code_matches(secret, factor.totp_code, state.clock()) and await state.store.add(
            f"totp-used:{account.id}:{factor.totp_code.strip()}", TOTP_REUSE_MS
        )
    if factor.recovery_code is not None:
        code = totp.normalize_recovery_code(factor.recovery_code)
        hashed = token_hash(state.refresh_key, "recovery", f"{account.id}:{code}")
        remaining = list(account.recovery_codes)
        if hashed not in remaining or not await state.store.add(f"recovery-used:{hashed}", RECOVERY_GUARD_MS):
            return False
        remaining.remove(hashed)
        await conn.execute(
            update(credentials).where(credentials.c.user_id == account.id).values(recovery_codes=remaining)
        )
        return True
    return False


async def _start_session(
    conn: AsyncConnection, state: AuthState, user_id: int, family_id: str, client: Client
) -> schemas.Tokens:
    """Issue a refresh token in `family_id` and an access token for it."""
    settings = state.settings
    now = now_utc(state)
    refresh = new_token()
    await conn.execute(
        insert(sessions).values(
            id=str(uuid.uuid4()),
            user_id=user_id,
            family_id=family_id,
            token_hash=token_hash(state.refresh_key, "refresh", refresh),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
            ip=client.ip[:45] or None,
            user_agent=client.user_agent[:255] or None,
        )
    )
    return schemas.Tokens(
        access_token=issue_access(
            state.jwt_key, user_id, family_id, state.clock(), settings.access_token_ttl_s
        ),
        expires_in=settings.access_token_ttl_s,
        refresh_token=refresh,
        refresh_expires_in=settings.refresh_token_ttl_s,
        session_id=family_id,
    )


async def security_event(
    db: AsyncEngine,
    state: AuthState,
    *,
    actor: str,
    action: str,
    target: str,
    ip: str | None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record a security event (login, 2FA, password, API key change) in the audit trail."""
    async with db.begin() as conn:
        await record_audit(
            conn, actor=actor, action=action, target=target, ip=ip or None, after=after, at=now_utc(state)
        )


async def login(
    db: AsyncEngine, state: AuthState, body: schemas.LoginRequest, client: Client
) -> schemas.Tokens:
    """Password (+ second factor when 2FA is on) -> a new session; success and failure are audited.

    Unknown email and wrong password answer alike (401 INVALID_CREDENTIALS) after the same argon2 work;
    failures count towards the account and IP locks.
    """
    email = body.email.strip().lower()
    try:
        tokens, user_id = await _login(db, state, body, client)
    except ApiError as exc:
        async with db.connect() as conn:
            known = await conn.scalar(select(users.c.id).where(users.c.email == email))
        subject = f"user:{known}" if known is not None else f"email:{email[:100]}"
        await security_event(
            db,
            state,
            actor=subject if known is not None else "anonymous",
            action="auth.login_failed",
            target=subject,
            ip=client.ip,
            after={"code": exc.code},
        )
        raise
    await security_event(
        db, state, actor=f"user:{user_id}", action="auth.login", target=f"user:{user_id}", ip=client.ip
    )
    return tokens


async def _login(
    db: AsyncEngine, state: AuthState, body: schemas.LoginRequest, client: Client
) -> tuple[schemas.Tokens, int]:
    email = body.email.strip().lower()
    await state.throttle.check(email, client.ip)
    async with db.connect() as conn:
        account = (await conn.execute(_account_query().where(users.c.email == email))).first()
    password_hash = None if account is None else account.password_hash
    # The argon2 work runs outside any transaction: it takes ~100 ms and must not hold a connection.
    if not await state.passwords.verify(password_hash, body.password) or account is None:
        await state.throttle.failed(email, client.ip)
        raise ApiError(401, INVALID_CREDENTIALS, "wrong email or password")
    if account.totp_enabled and body.totp_code is None and body.recovery_code is None:
        raise ApiError(401, "SECOND_FACTOR_REQUIRED", "2FA is on: send totp_code or recovery_code")
    rehashed = None
    if state.passwords.needs_rehash(account.password_hash):
        rehashed = await state.passwords.hash(body.password)
    async with db.begin() as conn:
        if account.totp_enabled and not await _second_factor_ok(conn, state, account, body):
            await state.throttle.failed(email, client.ip)
            raise ApiError(401, "INVALID_SECOND_FACTOR", "wrong or already used code")
        if account.frozen:
            raise ApiError(403, "ACCOUNT_FROZEN", "this account is frozen")
        if account.email_verified_at is None:
            raise ApiError(403, "EMAIL_NOT_VERIFIED", "verify your email first")
        if rehashed is not None:
            await conn.execute(
                update(credentials).where(credentials.c.user_id == account.id).values(password_hash=rehashed)
            )
        await state.throttle.succeeded(email)
        return await _start_session(conn, state, account.id, str(uuid.uuid4()), client), account.id


async def _revoke(conn: AsyncConnection, state: AuthState, *where: Any) -> int:
    """Revoke the live sessions matching `where`; the count revoked."""
    result = await conn.execute(
        update(sessions).where(sessions.c.revoked_at.is_(None), *where).values(revoked_at=now_utc(state))
    )
    state.sessions.clear()
    return result.rowcount


async def refresh(db: AsyncEngine, state: AuthState, token: str, client: Client) -> schemas.Tokens:
    """Rotate a refresh token; a rotated one presented again revokes its family (401 TOKEN_REUSED)."""
    now = now_utc(state)
    async with db.begin() as conn:
        row = (
            await conn.execute(
                select(sessions, users.c.frozen)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.token_hash == token_hash(state.refresh_key, "refresh", token))
            )
        ).first()
        if row is None or row.revoked_at is not None:
            raise ApiError(401, "INVALID_TOKEN", "unknown or revoked refresh token")
        if aware(row.expires_at) <= now:
            raise ApiError(401, "TOKEN_EXPIRED", "the refresh token has expired; log in again")
        if row.frozen:
            raise ApiError(403, "ACCOUNT_FROZEN", "this account is frozen")
        rotated = await conn.execute(
            update(sessions)
            .where(sessions.c.id == row.id, sessions.c.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        if rotated.rowcount == 1:
            return await _start_session(conn, state, row.user_id, row.family_id, client)
        await _revoke(conn, state, sessions.c.family_id == row.family_id)
    logger.warning("refresh token reuse: session family %s revoked", row.family_id)
    raise ApiError(401, "TOKEN_REUSED", "this refresh token was already used; the session is revoked")


async def logout(db: AsyncEngine, state: AuthState, user_id: int, session_id: str) -> None:
    """End one session (its whole refresh-token family)."""
    async with db.begin() as conn:
        await _revoke(conn, state, sessions.c.user_id == user_id, sessions.c.family_id == session_id)


async def revoke_session(db: AsyncEngine, state: AuthState, user_id: int, session_id: str) -> None:
    """End one of the user's live sessions; 404 SESSION_NOT_FOUND for anything else (another user's too)."""
    async with db.begin() as conn:
        if not await _revoke(conn, state, sessions.c.user_id == user_id, sessions.c.family_id == session_id):
            raise ApiError(404, "SESSION_NOT_FOUND", "no such session")


SESSION_RETENTION = timedelta(days=7)
"""How long a refresh-token row is kept after it expired (it can no longer be used either way)."""


async def prune_sessions(db: AsyncEngine, now: datetime, retention: timedelta = SESSION_RETENTION) -> int:
    """Delete refresh-token rows (rotated, revoked or not) that expired over `retention` ago; how many."""
    async with db.begin() as conn:
        result = await conn.execute(delete(sessions).where(sessions.c.expires_at < now - retention))
    return int(result.rowcount)


async def list_sessions(
    db: AsyncEngine, state: AuthState, user_id: int, current: str | None
) -> list[schemas.SessionInfo]:
    """The user's live sessions, newest first."""
    async with db.connect() as conn:
        rows = await conn.execute(
            select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.rotated_at.is_(None),
                sessions.c.expires_at > now_utc(state),
            )
            .order_by(sessions.c.created_at.desc())
        )
        return [
            schemas.SessionInfo(
                id=row.family_id,
                refreshed_at=aware(row.created_at),
                expires_at=aware(row.expires_at),
                ip=row.ip,
                user_agent=row.user_agent,
                current=row.family_id == current,
            )
            for row in rows
        ]


async def session_refusal(db: AsyncEngine, state: AuthState, user_id: int, session_id: str) -> str:
    """ "" when the session may be used, else the error code refusing it (briefly cached)."""

    async def lookup() -> str:
        async with db.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.frozen)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(
                        sessions.c.family_id == session_id,
                        sessions.c.user_id == user_id,
                        sessions.c.revoked_at.is_(None),
                    )
                    .limit(1)
                )
            ).first()
        return "SESSION_REVOKED" if row is None else "ACCOUNT_FROZEN" if row.frozen else ""

    refusal = await state.sessions.load(session_id, lookup)
    assert refusal is not None  # the lookup always answers a code ("" included)
    return refusal


async def change_password(
    db: AsyncEngine, state: AuthState, user_id: int, body: schemas.PasswordChange, client: Client
) -> int:
    """Replace the password (the current one required) and end every session; the count ended."""
    async with db.begin() as conn:
        account = await _account(conn, user_id)
        await state.throttle.check(account.email, client.ip)
        if not await state.passwords.verify(account.password_hash, body.current_password):
            await state.throttle.failed(account.email, client.ip)
            raise ApiError(403, INVALID_CREDENTIALS, "the current password is wrong")
        check_password_policy(body.new_password, account.email)
        await conn.execute(
            update(credentials)
            .where(credentials.c.user_id == user_id)
            .values(
                password_hash=await state.passwords.hash(body.new_password),
                password_changed_at=now_utc(state),
            )
        )
        return await _revoke(conn, state, sessions.c.user_id == user_id)


async def enable_totp(db: AsyncEngine, state: AuthState, user_id: int) -> schemas.TotpSetup:
    """Start 2FA setup: a new pending secret (replacing any earlier pending one)."""
    secret = totp.new_secret()
    async with db.begin() as conn:
        account = await _account(conn, user_id)
        if account.totp_enabled:
            raise ApiError(409, "TOTP_ALREADY_ENABLED", "2FA is already on")
        await conn.execute(
            update(credentials)
            .where(credentials.c.user_id == user_id)
            .values(totp_secret=state.sealer.seal(secret, f"totp:{user_id}"))
        )
    return schemas.TotpSetup(
        secret=totp.secret_text(secret), otpauth_uri=totp.provisioning_uri(secret, account.email)
    )


async def verify_totp(db: AsyncEngine, state: AuthState, user_id: int, code: str) -> list[str]:
    """Turn 2FA on with a code from the pending secret; the recovery codes (stored hashed)."""
    async with db.begin() as conn:
        account = await _account(conn, user_id)
        if account.totp_enabled:
            raise ApiError(409, "TOTP_ALREADY_ENABLED", "2FA is already on")
        if account.totp_secret is None:
            raise ApiError(409, "TOTP_NOT_PENDING", "POST /auth/2fa/enable first")
        if not await _second_factor_ok(
            conn, state, account, schemas.SecondFactor(totp_code=code, recovery_code=None)
        ):
            raise ApiError(403, "INVALID_SECOND_FACTOR", "wrong code")
        codes = totp.new_recovery_codes()
        hashed = [
            token_hash(state.refresh_key, "recovery", f"{user_id}:{totp.normalize_recovery_code(c)}")
            for c in codes
        ]
        await conn.execute(
            update(credentials)
            .where(credentials.c.user_id == user_id)
            .values(totp_enabled=True, recovery_codes=hashed)
        )
    return codes


async def disable_totp(db: AsyncEngine, state: AuthState, user_id: int, factor: schemas.SecondFactor) -> None:
    """Turn 2FA off with a current code or a recovery code."""
    async with db.begin() as conn:
        account = await _account(conn, user_id)
        if not account.totp_enabled:
            raise ApiError(409, "TOTP_NOT_ENABLED", "2FA is off")
        if not await _second_factor_ok(conn, state, account, factor):
            raise ApiError(403, "INVALID_SECOND_FACTOR", "wrong or already used code")
        await conn.execute(
            update(credentials)
            .where(credentials.c.user_id == user_id)
            .values(totp_enabled=False, totp_secret=None, recovery_codes=[])
        )


async def confirm_totp(db: AsyncEngine, state: AuthState, user_id: int, code: str | None) -> None:
    """Step-up check for a sensitive action (withdrawals): 2FA must be on and `code` current and unused."""
    async with db.begin() as conn:
        account = await _account(conn, user_id)
        if not account.totp_enabled:
            raise ApiError(403, "TOTP_NOT_ENABLED", "turn on 2FA before withdrawing")
        if code is None:
            raise ApiError(
                403, "SECOND_FACTOR_REQUIRED", "send totp_code: withdrawals need a current 2FA code"
            )
        factor = schemas.SecondFactor(totp_code=code, recovery_code=None)
        if not await _second_factor_ok(conn, state, account, factor):
            raise ApiError(403, "INVALID_SECOND_FACTOR", "wrong or already used code")
