"""Admin account management (superadmin): new accounts and role changes through four-eyes requests,
disabling and IP allowlists at once. A changed role or a disabled account ends that admin's sessions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update

from wcx.admin import accounts
from wcx.admin.accounts import Actor
from wcx.admin.approvals import Kind, register, request_change
from wcx.admin.permissions import Permission, Role
from wcx.admin.settings import networks_of
from wcx.admin.state import admin_state
from wcx.admin.tables import admin_users
from wcx.api.auth import totp
from wcx.api.errors import ApiError
from wcx.runtime import Runtime
from wcx.store.audit import record_audit


class AdminCreateIn(BaseModel):
    """A new admin account; the requester passes the password and TOTP secret to its owner."""

    email: str = Field(max_length=254)
    role: Role
    password: str = Field(max_length=1024)


class RoleIn(BaseModel):
    """A new role for an admin."""

    role: Role


class AllowlistIn(BaseModel):
    """Networks (CIDR) the admin may sign in from; empty = anywhere the listener allows."""

    ip_allowlist: list[str] = Field(max_length=32)


async def list_admins(runtime: Runtime) -> list[dict[str, Any]]:
    """Every admin account (never their secrets)."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(select(admin_users).order_by(admin_users.c.id))
        return [accounts.admin_public(row) for row in rows]


async def request_create(runtime: Runtime, actor: Actor, body: AdminCreateIn) -> dict[str, Any]:
    """Ask for a new admin account (four-eyes). The answer holds its TOTP secret, shown this once."""
    state = admin_state(runtime)
    email, password_hash, secret, sealed = await accounts.prepare_admin(state, body.email, body.password)
    async with runtime.db.connect() as conn:
        if await conn.scalar(select(admin_users.c.id).where(admin_users.c.email == email)) is not None:
            raise ApiError(409, "ADMIN_EXISTS", f"an admin account for {email} exists")
    payload = {"email": email, "role": body.role.value, "password_hash": password_hash, "totp_sealed": sealed}
    request = await request_change(
        runtime, actor, "admin.create", payload, f"new {body.role.value} admin {email}"
    )
    return {
        **request,
        "totp_secret": totp.secret_text(secret),
        "otpauth_uri": totp.provisioning_uri(secret, email),
    }


async def _create(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    state = admin_state(runtime)
    async with runtime.db.begin() as conn:
        admin_id = await accounts.insert_admin(
            conn,
            state,
            email=payload["email"],
            role=Role(payload["role"]),
            password_hash=payload["password_hash"],
            sealed_totp=payload["totp_sealed"],
            created_by=actor.name,
            ip=actor.ip,
        )
    return {"admin_id": admin_id, "approval": approval_id}


async def request_role(runtime: Runtime, actor: Actor, admin_id: int, body: RoleIn) -> dict[str, Any]:
    """Ask for a role change (four-eyes); 409 when the admin already has that role."""
    async with runtime.db.connect() as conn:
        row = await accounts.admin_row(conn, admin_id)
    if row.role == body.role.value:
        raise ApiError(409, "ROLE_UNCHANGED", f"admin {admin_id} is already {row.role}")
    summary = f"admin {row.email}: {row.role} -> {body.role.value}"
    return await request_change(
        runtime, actor, "admin.role", {"admin_id": admin_id, "role": body.role.value}, summary
    )


async def _set_role(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    state = admin_state(runtime)
    admin_id, role = int(payload["admin_id"]), Role(payload["role"])
    async with runtime.db.begin() as conn:
        row = await accounts.admin_row(conn, admin_id)
        await conn.execute(update(admin_users).where(admin_users.c.id == admin_id).values(role=role.value))
        await accounts.revoke_sessions(conn, state, admin_id)
        await record_audit(
            conn,
            actor=actor.name,
            action="admin.role",
            target=f"admin:{admin_id}",
            ip=actor.ip,
            before={"role": row.role},
            after={"role": role.value, "approval": approval_id},
            at=state.now(),
        )
    return {"admin_id": admin_id, "role": role.value}


async def set_disabled(runtime: Runtime, actor: Actor, admin_id: int, disabled: bool) -> dict[str, Any]:
    """Disable an admin at once (sessions end); re-enabling is a four-eyes request like a role grant."""
    if admin_id == actor.admin_id:
        raise ApiError(409, "CANNOT_DISABLE_SELF", "another superadmin must disable your account")
    if not disabled:
        async with runtime.db.connect() as conn:
            row = await accounts.admin_row(conn, admin_id)
        if not row.disabled:
            raise ApiError(409, "ADMIN_NOT_DISABLED", f"admin {admin_id} is enabled")
        return await request_change(
            runtime, actor, "admin.enable", {"admin_id": admin_id}, f"re-enable admin {row.email}"
        )
    return await _apply_disabled(runtime, actor, admin_id, True)


async def _apply_disabled(runtime: Runtime, actor: Actor, admin_id: int, disabled: bool) -> dict[str, Any]:
    state = admin_state(runtime)
    async with runtime.db.begin() as conn:
        row = await accounts.admin_row(conn, admin_id)
        if row.disabled == disabled:
            raise ApiError(
                409, "ADMIN_ALREADY_DISABLED" if disabled else "ADMIN_NOT_DISABLED", "nothing to change"
            )
        await conn.execute(update(admin_users).where(admin_users.c.id == admin_id).values(disabled=disabled))
        if disabled:
            await accounts.revoke_sessions(conn, state, admin_id)
        await record_audit(
            conn,
            actor=actor.name,
            action="admin.disable" if disabled else "admin.enable",
            target=f"admin:{admin_id}",
            ip=actor.ip,
            before={"disabled": row.disabled},
            after={"disabled": disabled},
            at=state.now(),
        )
        return accounts.admin_public(await accounts.admin_row(conn, admin_id))


async def _enable(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    return await _apply_disabled(runtime, actor, int(payload["admin_id"]), False)


async def set_allowlist(runtime: Runtime, actor: Actor, admin_id: int, body: AllowlistIn) -> dict[str, Any]:
    """Replace an admin's IP allowlist; 422 INVALID_NETWORK for an entry that is not a network."""
    try:
        entries = [str(network) for network in networks_of([entry.strip() for entry in body.ip_allowlist])]
    except ValueError as exc:
        raise ApiError(422, "INVALID_NETWORK", str(exc)) from None
    state = admin_state(runtime)
    async with runtime.db.begin() as conn:
        row = await accounts.admin_row(conn, admin_id)
        await conn.execute(
            update(admin_users).where(admin_users.c.id == admin_id).values(ip_allowlist=entries)
        )
        await record_audit(
            conn,
            actor=actor.name,
            action="admin.ip_allowlist",
            target=f"admin:{admin_id}",
            ip=actor.ip,
            before={"ip_allowlist": list(row.ip_allowlist)},
            after={"ip_allowlist": entries},
            at=state.now(),
        )
        return accounts.admin_public(await accounts.admin_row(conn, admin_id))


register(
    Kind("admin.create", Permission.ADMINS_MANAGE, _create, secret_fields=("password_hash", "totp_sealed"))
)
register(Kind("admin.role", Permission.ADMINS_MANAGE, _set_role))
register(Kind("admin.enable", Permission.ADMINS_MANAGE, _enable))
