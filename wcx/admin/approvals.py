"""Four-eyes approvals: one admin requests, a different admin holding the same permission approves.

A request carries a kind (`funds.credit`, `fees.set`, `market.create`, `admin.role`, …), a validated
payload and an expiry. Approving re-checks everything (status, expiry, approver ≠ requester,
permission), claims the request atomically (two approvers racing cannot both execute it), then runs
the kind's executor. Each step is an audit record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.admin.accounts import Actor
from wcx.admin.permissions import Permission, allowed
from wcx.admin.state import AdminState, admin_state
from wcx.admin.tables import admin_approvals
from wcx.api.auth.accounts import aware
from wcx.api.errors import ApiError
from wcx.runtime import Runtime
from wcx.store.audit import record_audit

Executor = Callable[[Runtime, Actor, dict[str, Any], int], Awaitable[dict[str, Any]]]
"""Carries out an approved request: (runtime, approver, payload, request id) -> result for the record."""


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of change that needs two admins."""

    name: str
    permission: Permission
    execute: Executor
    secret_fields: tuple[str, ...] = ()
    """Payload fields never shown (hashes, sealed secrets)."""


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Declare a four-eyes kind (each operations module registers its own)."""
    KINDS[kind.name] = kind
    return kind


def public_payload(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without the kind's secret fields."""
    hidden = KINDS[kind].secret_fields if kind in KINDS else ()
    return {key: value for key, value in payload.items() if key not in hidden}


def approval_view(row: Any, now: Any) -> dict[str, Any]:
    """A request as the API and the dashboard show it (`expired` once past its time while pending)."""
    status = row.status
    if status == "pending" and aware(row.expires_at) <= now:
        status = "expired"
    return {
        "id": row.id,
        "kind": row.kind,
        "summary": row.summary,
        "payload": public_payload(row.kind, row.payload),
        "status": status,
        "requested_by": row.requested_by,
        "requested_at": aware(row.requested_at).isoformat(),
        "expires_at": aware(row.expires_at).isoformat(),
        "decided_by": row.decided_by,
        "decided_at": aware(row.decided_at).isoformat() if row.decided_at else None,
        "reason": row.reason,
        "result": row.result,
    }


async def request_change(
    runtime: Runtime, actor: Actor, kind: str, payload: dict[str, Any], summary: str
) -> dict[str, Any]:
    """Open a four-eyes request (the caller validated `payload`); 403 without the kind's permission."""
    spec = KINDS[kind]
    if not allowed(actor.role, spec.permission):
        raise ApiError(
            403, "FORBIDDEN", f"the {actor.role.value} role lacks the {spec.permission.value} permission"
        )
    state = admin_state(runtime)
    now = state.now()
    async with runtime.db.begin() as conn:
        result = await conn.execute(
            insert(admin_approvals).values(
                kind=kind,
                payload=payload,
                summary=summary[:255],
                status="pending",
                requested_by=actor.admin_id,
                requested_at=now,
                expires_at=now + timedelta(seconds=state.admin.approval_ttl_s),
                reason="",
            )
        )
        approval_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        await record_audit(
            conn,
            actor=actor.name,
            action="approval.request",
            target=f"approval:{approval_id}",
            ip=actor.ip,
            after={"kind": kind, "summary": summary, "payload": public_payload(kind, payload)},
            at=now,
        )
        row = await _row(conn, approval_id)
    return approval_view(row, now)


async def _row(conn: AsyncConnection, approval_id: int) -> Any:
    row = (await conn.execute(select(admin_approvals).where(admin_approvals.c.id == approval_id))).first()
    if row is None:
        raise ApiError(404, "APPROVAL_NOT_FOUND", f"no approval request {approval_id}")
    return row


def _may_decide(actor: Actor, kind: str) -> None:
    spec = KINDS.get(kind)
    if spec is None or not allowed(actor.role, spec.permission):
        needed = spec.permission.value if spec else kind
        raise ApiError(403, "FORBIDDEN", f"the {actor.role.value} role lacks the {needed} permission")


async def approve(runtime: Runtime, actor: Actor, approval_id: int) -> dict[str, Any]:
    """Approve and carry out a pending request (403 SELF_APPROVAL for the requester; 409 expired/decided)."""
    state = admin_state(runtime)
    now = state.now()
    async with runtime.db.begin() as conn:
        row = await _row(conn, approval_id)
        _may_decide(actor, row.kind)
        if row.status != "pending":
            raise ApiError(409, "APPROVAL_NOT_PENDING", f"request {approval_id} is {row.status}")
        if row.requested_by == actor.admin_id:
            raise ApiError(403, "SELF_APPROVAL", "a request must be approved by another admin")
        if aware(row.expires_at) <= now:
            await _expire(conn, state, actor, row)
        else:
            claimed = await conn.execute(
                update(admin_approvals)
                .where(admin_approvals.c.id == approval_id, admin_approvals.c.status == "pending")
                .values(status="executing", decided_by=actor.admin_id, decided_at=now)
            )
            if claimed.rowcount != 1:
                raise ApiError(409, "APPROVAL_NOT_PENDING", f"request {approval_id} was decided meanwhile")
            await record_audit(
                conn,
                actor=actor.name,
                action="approval.approve",
                target=f"approval:{approval_id}",
                ip=actor.ip,
                before={"status": "pending", "requested_by": row.requested_by},
                after={"status": "executing", "kind": row.kind},
                at=now,
            )
    if row.status == "pending" and aware(row.expires_at) <= now:
        raise ApiError(
            409, "APPROVAL_EXPIRED", f"request {approval_id} expired at {aware(row.expires_at).isoformat()}"
        )
    try:
        result = await KINDS[row.kind].execute(runtime, actor, dict(row.payload), approval_id)
    except ApiError as exc:
        await _finish(runtime, actor, approval_id, "failed", {"code": exc.code, "message": exc.message})
        raise
    except Exception as exc:
        await _finish(
            runtime, actor, approval_id, "failed", {"code": "INTERNAL", "message": type(exc).__name__}
        )
        raise
    return await _finish(runtime, actor, approval_id, "approved", result)


async def _expire(conn: AsyncConnection, state: AdminState, actor: Actor, row: Any) -> None:
    await conn.execute(
        update(admin_approvals)
        .where(admin_approvals.c.id == row.id, admin_approvals.c.status == "pending")
        .values(status="expired", reason="expired before approval")
    )
    await record_audit(
        conn,
        actor=actor.name,
        action="approval.expired",
        target=f"approval:{row.id}",
        ip=actor.ip,
        before={"status": "pending"},
        after={"status": "expired"},
        at=state.now(),
    )


async def _finish(
    runtime: Runtime, actor: Actor, approval_id: int, status: str, result: dict[str, Any]
) -> dict[str, Any]:
    state = admin_state(runtime)
    async with runtime.db.begin() as conn:
        await conn.execute(
            update(admin_approvals)
            .where(admin_approvals.c.id == approval_id)
            .values(
                status=status,
                result=result,
                reason="" if status == "approved" else str(result.get("code", "")),
            )
        )
        await record_audit(
            conn,
            actor=actor.name,
            action=f"approval.{'executed' if status == 'approved' else 'failed'}",
            target=f"approval:{approval_id}",
            ip=actor.ip,
            before={"status": "executing"},
            after={"status": status, "result": result},
            at=state.now(),
        )
        row = await _row(conn, approval_id)
    return approval_view(row, state.now())


async def reject(runtime: Runtime, actor: Actor, approval_id: int, reason: str) -> dict[str, Any]:
    """Refuse a pending request (or withdraw one's own); 409 when no longer pending."""
    state = admin_state(runtime)
    now = state.now()
    async with runtime.db.begin() as conn:
        row = await _row(conn, approval_id)
        if row.requested_by != actor.admin_id:
            _may_decide(actor, row.kind)
        updated = await conn.execute(
            update(admin_approvals)
            .where(admin_approvals.c.id == approval_id, admin_approvals.c.status == "pending")
            .values(status="rejected", decided_by=actor.admin_id, decided_at=now, reason=reason[:255])
        )
        if updated.rowcount != 1:
            raise ApiError(409, "APPROVAL_NOT_PENDING", f"request {approval_id} is {row.status}")
        await record_audit(
            conn,
            actor=actor.name,
            action="approval.reject",
            target=f"approval:{approval_id}",
            ip=actor.ip,
            before={"status": "pending"},
            after={"status": "rejected", "reason": reason[:255]},
            at=now,
        )
        row = await _row(conn, approval_id)
    return approval_view(row, now)


async def list_requests(
    runtime: Runtime, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Requests, newest first; `status="pending"` lists those still open (not yet expired)."""
    state = admin_state(runtime)
    now = state.now()
    statement = select(admin_approvals).order_by(admin_approvals.c.id.desc()).limit(limit)
    if status == "pending":
        statement = statement.where(admin_approvals.c.status == "pending", admin_approvals.c.expires_at > now)
    elif status is not None:
        statement = statement.where(admin_approvals.c.status == status)
    async with runtime.db.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [approval_view(row, now) for row in rows]


async def get_request(runtime: Runtime, approval_id: int) -> dict[str, Any]:
    """One request; 404 APPROVAL_NOT_FOUND."""
    async with runtime.db.connect() as conn:
        row = await _row(conn, approval_id)
    return approval_view(row, admin_state(runtime).now())
