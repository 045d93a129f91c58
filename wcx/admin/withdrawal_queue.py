"""The withdrawal queue from the back office: withdrawals above their asset's auto-approval threshold
wait for `approvals_required` distinct admins (four-eyes, enforced by the withdrawal pipeline itself).

This module adds the admin side: a frozen user's withdrawal cannot be approved, approvers are named
`admin:<id>`, and every approval or rejection is an audit record.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from wcx.admin.accounts import Actor, record_action
from wcx.api.errors import ApiError
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store.schema import users
from wcx.wallet.withdrawals import Withdrawal, WithdrawalError, service

_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "unavailable": 503}


class RejectIn(BaseModel):
    """Why the withdrawal is refused (the user sees the funds released)."""

    reason: str = Field(min_length=1, max_length=200)


def _error(exc: WithdrawalError) -> ApiError:
    return ApiError(_STATUS.get(exc.kind, 400), exc.code, exc.message)


def view(runtime: Runtime, w: Withdrawal, approvers: list[str] | None = None) -> dict[str, Any]:
    """A withdrawal as the queue shows it (decimal strings)."""
    scale = runtime.engine.state.assets.get(w.asset, 0)
    return {
        "id": w.id,
        "user_id": w.user_id,
        "asset": w.asset,
        "chain": w.chain,
        "address": w.address,
        "amount": format_amount(w.amount, scale),
        "fee": format_amount(w.fee, scale),
        "state": w.state.value,
        "approvals": w.approvals,
        "approvals_required": w.approvals_required,
        "approvers": approvers or [],
        "reason": w.reason,
        "created_at": w.created_at.isoformat(),
    }


async def queue(runtime: Runtime) -> list[dict[str, Any]]:
    """Withdrawals waiting for approval, oldest first, with who approved them so far."""
    pending = await service.list_queue(runtime.db)
    return [view(runtime, w, await service.approvers(runtime.db, w.id)) for w in pending]


async def approve(runtime: Runtime, actor: Actor, withdrawal_id: str) -> dict[str, Any]:
    """Add this admin's approval (403 SAME_APPROVER for a second one; 409 USER_FROZEN while frozen)."""
    try:
        current = await service.load_committed(runtime.db, withdrawal_id)
    except WithdrawalError as exc:
        raise _error(exc) from None
    async with runtime.db.connect() as conn:
        frozen = await conn.scalar(select(users.c.frozen).where(users.c.id == current.user_id))
    if frozen:
        raise ApiError(409, "USER_FROZEN", "the user is frozen: reject the withdrawal or unfreeze first")
    try:
        approved = await service.approve(runtime.db, withdrawal_id, actor.name)
    except WithdrawalError as exc:
        raise _error(exc) from None
    await record_action(
        runtime,
        actor,
        "withdrawal.approve",
        f"user:{approved.user_id}",
        before={"withdrawal": withdrawal_id, "state": current.state.value, "approvals": current.approvals},
        after={"withdrawal": withdrawal_id, "state": approved.state.value, "approvals": approved.approvals},
    )
    return view(runtime, approved, await service.approvers(runtime.db, withdrawal_id))


async def reject(runtime: Runtime, actor: Actor, withdrawal_id: str, body: RejectIn) -> dict[str, Any]:
    """Refuse a queued withdrawal; its held funds are released."""
    try:
        current = await service.load_committed(runtime.db, withdrawal_id)
        rejected = await service.reject(runtime.db, runtime, withdrawal_id, actor.name, body.reason)
    except WithdrawalError as exc:
        raise _error(exc) from None
    await record_action(
        runtime,
        actor,
        "withdrawal.reject",
        f"user:{rejected.user_id}",
        before={"withdrawal": withdrawal_id, "state": current.state.value},
        after={"withdrawal": withdrawal_id, "state": rejected.state.value, "reason": body.reason},
    )
    return view(runtime, rejected)


async def of_user(runtime: Runtime, user_id: int) -> list[dict[str, Any]]:
    """The user's withdrawals through the pipeline, newest first."""
    return [view(runtime, w) for w in await service.list_withdrawals(runtime.db, user_id=user_id)]
