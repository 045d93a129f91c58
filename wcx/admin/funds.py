"""Manual money movements (four-eyes): fiat wire credits and balance adjustments, through the engine.

A wire credit is a `CreditDeposit` whose reference is the bank's wire reference, so the same wire
cannot be credited twice (the engine is idempotent by reference). An adjustment is an `AdjustBalance`
against the adjustment system account: each is one side of a double entry.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from wcx.admin.accounts import Actor, record_action
from wcx.admin.approvals import Kind, register, request_change
from wcx.admin.engine_calls import asset_scale, submit_checked, units
from wcx.admin.permissions import Permission
from wcx.api.errors import ApiError
from wcx.engine import AdjustBalance, CreditDeposit
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store.schema import users

_REFERENCE = re.compile(r"[A-Za-z0-9._:/-]{3,64}")


class CreditIn(BaseModel):
    """A fiat wire received for a user."""

    user_id: int = Field(gt=0)
    asset: str = Field(max_length=12)
    amount: str = Field(max_length=40)
    reference: str = Field(max_length=64, description="the bank's wire reference (credited once)")


class AdjustmentIn(BaseModel):
    """A correction of a user's balance (negative to debit)."""

    user_id: int = Field(gt=0)
    asset: str = Field(max_length=12)
    delta: str = Field(max_length=41)
    reason: str = Field(min_length=3, max_length=120)


async def _check_user(runtime: Runtime, user_id: int) -> None:
    async with runtime.db.connect() as conn:
        if await conn.scalar(select(users.c.id).where(users.c.id == user_id)) is None:
            raise ApiError(404, "USER_NOT_FOUND", f"no user {user_id}")


def _balance(runtime: Runtime, user_id: int, asset: str) -> dict[str, str]:
    scale = runtime.engine.state.assets[asset]
    available, held = runtime.engine.state.balance(user_id, asset)
    return {"asset": asset, "available": format_amount(available, scale), "held": format_amount(held, scale)}


def _wire_reference(reference: str) -> str:
    if not _REFERENCE.fullmatch(reference):
        raise ApiError(422, "INVALID_REFERENCE", "reference: 3 to 64 of letters, digits and . _ : / -")
    return f"wire:{reference}"


async def request_credit(runtime: Runtime, actor: Actor, credit: CreditIn) -> dict[str, Any]:
    """Ask for a wire credit (four-eyes); 409 DUPLICATE_REFERENCE for a wire already credited."""
    await _check_user(runtime, credit.user_id)
    scale = asset_scale(runtime, credit.asset)
    amount = units(credit.amount, scale, field="amount")
    if _wire_reference(credit.reference) in runtime.engine.state.deposit_refs:
        raise ApiError(409, "DUPLICATE_REFERENCE", f"wire {credit.reference} was already credited")
    amount_text = format_amount(amount, scale)
    summary = f"credit {amount_text} {credit.asset} to user {credit.user_id} (wire {credit.reference})"
    return await request_change(runtime, actor, "funds.credit", credit.model_dump(), summary)


async def _credit(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    credit = CreditIn(**payload)
    amount = units(credit.amount, asset_scale(runtime, credit.asset), field="amount")
    before = _balance(runtime, credit.user_id, credit.asset)
    reference = _wire_reference(credit.reference)
    await submit_checked(runtime, CreditDeposit(credit.user_id, credit.asset, amount, reference))
    after = _balance(runtime, credit.user_id, credit.asset)
    await record_action(
        runtime,
        actor,
        action="funds.credit",
        target=f"user:{credit.user_id}",
        before=before,
        after={**after, "reference": reference, "approval": approval_id},
    )
    return {"reference": reference, "balance": after}


async def request_adjustment(runtime: Runtime, actor: Actor, adjustment: AdjustmentIn) -> dict[str, Any]:
    """Ask for a balance adjustment (four-eyes)."""
    await _check_user(runtime, adjustment.user_id)
    scale = asset_scale(runtime, adjustment.asset)
    delta = units(adjustment.delta, scale, field="delta", signed=True)
    delta_text = format_amount(delta, scale)
    summary = f"adjust user {adjustment.user_id} {adjustment.asset} by {delta_text}: {adjustment.reason}"
    return await request_change(runtime, actor, "funds.adjust", adjustment.model_dump(), summary)


async def _adjust(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    adjustment = AdjustmentIn(**payload)
    delta = units(adjustment.delta, asset_scale(runtime, adjustment.asset), field="delta", signed=True)
    before = _balance(runtime, adjustment.user_id, adjustment.asset)
    reference = f"admin-adjust:{approval_id}"
    await submit_checked(
        runtime, AdjustBalance(adjustment.user_id, adjustment.asset, delta, adjustment.reason, reference)
    )
    after = _balance(runtime, adjustment.user_id, adjustment.asset)
    await record_action(
        runtime,
        actor,
        action="funds.adjust",
        target=f"user:{adjustment.user_id}",
        before=before,
        after={**after, "reference": reference, "reason": adjustment.reason},
    )
    return {"reference": reference, "balance": after}


register(Kind("funds.credit", Permission.FUNDS_CREDIT, _credit))
register(Kind("funds.adjust", Permission.FUNDS_CREDIT, _adjust))
