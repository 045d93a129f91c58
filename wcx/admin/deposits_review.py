"""On-chain deposits that need an operator: held by a gate (a KYC deposit limit), reorged out after
crediting, or refused by the engine. Releasing a held deposit credits it whatever the gate says, so it
is a four-eyes request (`deposit.release`, the `funds:credit` permission)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from wcx.admin.accounts import Actor, record_action
from wcx.admin.approvals import Kind, register, request_change
from wcx.admin.permissions import Permission
from wcx.admin.state import admin_state
from wcx.api.errors import ApiError
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.wallet.deposits.service import DepositRecord, deposits_needing_attention, release_held
from wcx.wallet.deposits.tables import deposits
from wcx.wallet.deposits.watcher import HELD


def view(runtime: Runtime, record: DepositRecord) -> dict[str, Any]:
    """A deposit as the back office shows it (decimal amount)."""
    return {
        "id": record.id,
        "user_id": record.user_id,
        "chain": record.chain,
        "asset": record.asset,
        "amount": format_amount(record.amount, runtime.engine.state.assets.get(record.asset, 0)),
        "tx_hash": record.tx_hash,
        "index": record.index,
        "status": record.status,
        "note": record.note,
        "seen_at": record.seen_at.isoformat(),
    }


async def attention(runtime: Runtime) -> list[dict[str, Any]]:
    """Held, reorged and refused deposits, newest first."""
    return [view(runtime, record) for record in await deposits_needing_attention(runtime.db)]


async def _held(runtime: Runtime, deposit_id: int) -> Any:
    async with runtime.db.connect() as conn:
        row = (await conn.execute(select(deposits).where(deposits.c.id == deposit_id))).first()
    if row is None:
        raise ApiError(404, "DEPOSIT_NOT_FOUND", f"no deposit {deposit_id}")
    if row.status != HELD:
        raise ApiError(409, "DEPOSIT_NOT_HELD", f"deposit {deposit_id} is {row.status}")
    return row


async def request_release(runtime: Runtime, actor: Actor, deposit_id: int) -> dict[str, Any]:
    """Ask to credit a held deposit now (four-eyes)."""
    row = await _held(runtime, deposit_id)
    amount = format_amount(int(row.amount), runtime.engine.state.assets.get(row.asset, 0))
    summary = f"release held deposit #{deposit_id}: {amount} {row.asset} to user {row.user_id} ({row.note})"
    return await request_change(runtime, actor, "deposit.release", {"deposit_id": deposit_id}, summary)


async def _release(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    deposit_id = int(payload["deposit_id"])
    row = await _held(runtime, deposit_id)
    before = runtime.engine.state.balance(int(row.user_id), row.asset)
    if not await release_held(runtime.db, runtime.submit, deposit_id, now=admin_state(runtime).now()):
        raise ApiError(409, "DEPOSIT_NOT_HELD", f"deposit {deposit_id} is no longer held")
    after = runtime.engine.state.balance(int(row.user_id), row.asset)
    scale = runtime.engine.state.assets.get(row.asset, 0)
    await record_action(
        runtime,
        actor,
        "deposit.release",
        f"user:{row.user_id}",
        before={"deposit": deposit_id, "status": HELD, "available": format_amount(before[0], scale)},
        after={
            "deposit": deposit_id,
            "reference": row.reference,
            "available": format_amount(after[0], scale),
        },
    )
    return {"deposit_id": deposit_id, "reference": row.reference, "approval": approval_id}


register(Kind("deposit.release", Permission.FUNDS_CREDIT, _release))
