"""Admin accounts and sessions: argon2id password + mandatory TOTP, short sessions, IP allowlists.

A session is a random bearer token (stored only as a keyed hash) that ends after `session_idle_s`
without use or `session_max_s` in all. The dashboard carries it in an HttpOnly SameSite=Strict cookie,
API clients in `Authorization: Bearer`. Every sign-in, failed or not, is an audit record.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.admin.permissions import Role
from wcx.admin.settings import ip_allowed, networks_of
from wcx.admin.state import AdminState, admin_state
from wcx.admin.tables import admin_sessions, admin_users
from wcx.api.auth import totp
from wcx.api.auth.accounts import aware
from wcx.api.auth.crypto import new_token, token_hash
from wcx.api.auth.passwords import check_password_policy, normalize_email
from wcx.api.errors import ApiError
from wcx.store.audit import record_audit

TOTP_REUSE_MS = 90_000
SEEN_EVERY_S = 30  # last_seen_at is written at most this often per session (idle timeout granularity)


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in admin making one request."""

    admin_id: int
    email: str
    role: Role
    ip: str | None
    token_hash: str
    by_cookie: bool

    @property
    def name(self) -> str:
        """How audit records name this admin."""
        return f"admin:{self.admin_id}"

    def csrf(self, state: AdminState) -> str:
        """The anti-CSRF token the dashboard sends back with every change (cookie sessions only)."""
        return hmac.new(state.session_key, f"csrf\x00{self.token_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class NewAdmin:
    """A created admin account and its TOTP secret (shown once, to whoever creates the account)."""

    admin_id: int
    email: str
    role: Role
    totp_secret: str
    otpauth_uri: str


async def record_action(
    runtime: Any,
    actor: Actor,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Audit an admin action in its own transaction (for actions whose effect is an engine command)."""
    state = admin_state(runtime)
    async with runtime.db.begin() as conn:
        await record_audit(
            conn,
            actor=actor.name,
            action=action,
            target=target,
            ip=actor.ip,
            before=before,
            after=after,
            at=state.now(),
        )


def _seal_aad(email: str) -> str:
    return f"admin-totp:{email}"


def new_totp(state: AdminState, email: str) -> tuple[bytes, str]:
    """A fresh TOTP secret and its sealed form for the admin with `email`."""
    secret = totp.new_secret()
    return secret, state.sealer.seal(secret, _seal_aad(email))


async def prepare_admin(state: AdminState, email: str, password: str) -> tuple[str, str, bytes, str]:
    """Validate and hash what a new admin account needs: (email, password hash, secret, sealed secret)."""
    email = normalize_email(email)
    check_password_policy(password, email)
    secret, sealed = new_totp(state, email)
    return email, await state.passwords.hash(password), secret, sealed


async def insert_admin(
    conn: AsyncConnection,
    state: AdminState,
    *,
    email: str,
    role: Role,
    password_hash: str,
    sealed_totp: str,
    created_by: str,
    ip: str | None,
) -> int:
    """Insert the account and its audit record; 409 ADMIN_EXISTS for a taken email."""
    if await conn.scalar(select(admin_users.c.id).where(admin_users.c.email == email)) is not None:
        raise ApiError(409, "ADMIN_EXISTS", f"an admin account for {email} exists")
    try:
        result = await conn.execute(
            insert(admin_users).values(
                email=email,
                password_hash=password_hash,
                totp_secret=sealed_totp,
                role=role.value,
                ip_allowlist=[],
                disabled=False,
                created_at=state.now(),
                created_by=created_by,
            )
        )
    except IntegrityError:
        raise ApiError(409, "ADMIN_EXISTS", f"an admin account for {email} exists") from None
    admin_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    await record_audit(
        conn,
        actor=created_by,
        action="admin.create",
        target=f"admin:{admin_id}",
        ip=ip,
        after={"email": email, "role": role.value},
        at=state.now(),
    )
    return admin_id


async def create_admin(
    db: AsyncEngine, state: AdminState, *, email: str, role: Role, password: str, created_by: str
) -> NewAdmin:
    """Create an admin account at once (the `wcx admin create` bootstrap); the TOTP secret to enrol."""
    email, password_hash, secret, sealed = await prepare_admin(state, email, password)
    async with db.begin() as conn:
        admin_id = await insert_admin(
            conn,
            state,
            email=email,
            role=role,
            password_hash=password_hash,
            sealed_totp=sealed,
            created_by=created_by,
            ip=None,
        )
    return NewAdmin(admin_id, email, role, totp.secret_text(secret), totp.provisioning_uri(secret, email))


async def _audit_login_failure(db: AsyncEngine, state: AdminState, email: str, ip: str, code: str) -> None:
    async with db.begin() as conn:
        await record_audit(
            conn,
            actor="anonymous",
            action="admin.login_failed",
            target=f"admin-email:{email[:100]}",
            ip=ip or None,
            after={"code": code},
            at=state.now(),
        )


async def login(
    db: AsyncEngine, state: AdminState, *, email: str, password: str, totp_code: str, ip: str, user_agent: str
) -> str:
    """Password + TOTP -> a new session token. Every failure answers 401 ADMIN_LOGIN_FAILED alike."""
    email = email.strip().lower()
    throttle_key = f"admin:{email}"
    await state.throttle.check(throttle_key, f"admin:{ip}")
    async with db.connect() as conn:
        row = (await conn.execute(select(admin_users).where(admin_users.c.email == email))).first()
    password_ok = await state.passwords.verify(None if row is None else row.password_hash, password)
    code = totp_code.strip()
    factor_ok = False
    if row is not None and password_ok:
        secret = state.sealer.open(row.totp_secret, _seal_aad(row.email))
        factor_ok = totp.code_matches(secret, code, state.clock()) and await state.store.add(
            f"admin-totp-used:{row.id}:{code}", TOTP_REUSE_MS
        )
    if row is None or not factor_ok:
        await state.throttle.failed(throttle_key, f"admin:{ip}")
        await _audit_login_failure(db, state, email, ip, "bad_credentials")
        raise ApiError(401, "ADMIN_LOGIN_FAILED", "wrong email, password or authenticator code")
    if row.disabled:
        await _audit_login_failure(db, state, email, ip, "disabled")
        raise ApiError(403, "ADMIN_DISABLED", "this admin account is disabled")
    if not ip_allowed(ip, networks_of(row.ip_allowlist)):
        await _audit_login_failure(db, state, email, ip, "ip_not_allowed")
        raise ApiError(403, "IP_NOT_ALLOWED", "this account may not sign in from this address")
    await state.throttle.succeeded(throttle_key)
    token = new_token()
    now = state.now()
    async with db.begin() as conn:
        await conn.execute(
            insert(admin_sessions).values(
                token_hash=token_hash(state.session_key, "admin-session", token),
                admin_id=row.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=state.admin.session_max_s),
                ip=ip[:45] or None,
                user_agent=user_agent[:255] or None,
            )
        )
        await conn.execute(update(admin_users).where(admin_users.c.id == row.id).values(last_login_at=now))
        await record_audit(
            conn,
            actor=f"admin:{row.id}",
            action="admin.login",
            target=f"admin:{row.id}",
            ip=ip or None,
            at=now,
        )
    return token


async def authenticate(
    db: AsyncEngine, state: AdminState, token: str, ip: str | None, *, cookie: bool
) -> Actor:
    """The admin behind a session token; 401 ADMIN_SESSION_ENDED when unknown, ended, idle or expired."""
    hashed = token_hash(state.session_key, "admin-session", token)
    now = state.now()
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(
                    admin_sessions,
                    admin_users.c.email,
                    admin_users.c.role,
                    admin_users.c.disabled,
                    admin_users.c.ip_allowlist,
                )
                .join(admin_users, admin_users.c.id == admin_sessions.c.admin_id)
                .where(admin_sessions.c.token_hash == hashed)
            )
        ).first()
    ended = ApiError(401, "ADMIN_SESSION_ENDED", "sign in again")
    if row is None or row.revoked_at is not None or row.disabled:
        raise ended
    if (
        aware(row.expires_at) <= now
        or aware(row.last_seen_at) + timedelta(seconds=state.admin.session_idle_s) <= now
    ):
        raise ended
    if not ip_allowed(ip, networks_of(row.ip_allowlist)):
        raise ApiError(403, "IP_NOT_ALLOWED", "this account may not be used from this address")
    if (now - aware(row.last_seen_at)).total_seconds() >= SEEN_EVERY_S:
        async with db.begin() as conn:
            await conn.execute(
                update(admin_sessions).where(admin_sessions.c.token_hash == hashed).values(last_seen_at=now)
            )
    return Actor(row.admin_id, row.email, Role(row.role), ip, hashed, cookie)


async def logout(db: AsyncEngine, state: AdminState, actor: Actor) -> None:
    """End the caller's session."""
    async with db.begin() as conn:
        await conn.execute(
            update(admin_sessions)
            .where(admin_sessions.c.token_hash == actor.token_hash, admin_sessions.c.revoked_at.is_(None))
            .values(revoked_at=state.now())
        )
        await record_audit(
            conn, actor=actor.name, action="admin.logout", target=actor.name, ip=actor.ip, at=state.now()
        )


async def revoke_sessions(conn: AsyncConnection, state: AdminState, admin_id: int) -> None:
    """End every live session of an admin (role changed, account disabled)."""
    await conn.execute(
        update(admin_sessions)
        .where(admin_sessions.c.admin_id == admin_id, admin_sessions.c.revoked_at.is_(None))
        .values(revoked_at=state.now())
    )


async def admin_row(conn: AsyncConnection, admin_id: int) -> Any:
    """The admin account row; 404 ADMIN_NOT_FOUND."""
    row = (await conn.execute(select(admin_users).where(admin_users.c.id == admin_id))).first()
    if row is None:
        raise ApiError(404, "ADMIN_NOT_FOUND", f"no admin {admin_id}")
    return row


def admin_public(row: Any) -> dict[str, Any]:
    """An admin account as shown to other admins (never its secrets)."""
    return {
        "id": row.id,
        "email": row.email,
        "role": row.role,
        "disabled": row.disabled,
        "ip_allowlist": list(row.ip_allowlist),
        "created_at": aware(row.created_at).isoformat(),
        "created_by": row.created_by,
        "last_login_at": aware(row.last_login_at).isoformat() if row.last_login_at else None,
    }


async def change_password(
    db: AsyncEngine, state: AdminState, actor: Actor, *, current: str, new: str
) -> None:
    """Replace the caller's password (the current one and policy checked); other sessions end."""
    async with db.connect() as conn:
        row = await admin_row(conn, actor.admin_id)
    if not await state.passwords.verify(row.password_hash, current):
        raise ApiError(403, "INVALID_CREDENTIALS", "the current password is wrong")
    check_password_policy(new, row.email)
    hashed = await state.passwords.hash(new)
    async with db.begin() as conn:
        await conn.execute(
            update(admin_users).where(admin_users.c.id == actor.admin_id).values(password_hash=hashed)
        )
        await conn.execute(
            update(admin_sessions)
            .where(
                admin_sessions.c.admin_id == actor.admin_id,
                admin_sessions.c.token_hash != actor.token_hash,
                admin_sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=state.now())
        )
        await record_audit(
            conn,
            actor=actor.name,
            action="admin.password_change",
            target=actor.name,
            ip=actor.ip,
            at=state.now(),
        )
