"""Hot-to-cold transfers: a proposed `wallet_rebalances` record, once the back office approved it (four
eyes, in `wcx.admin`), is sent by the withdrawal processor from the hot wallet to the asset's configured
cold address through the same signing, broadcast and confirmation steps as a withdrawal.

The row moves approved -> signed -> broadcast -> confirmed (or failed); nothing is held in the engine:
both addresses are the exchange's reserves. The destination is always the configured `cold_address`,
read when the transfer is approved; no caller can name another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.wallet.withdrawals.config import AssetPolicy, WithdrawalPolicy
from wcx.wallet.withdrawals.errors import WithdrawalError
from wcx.wallet.withdrawals.hotcold import HOT_TO_COLD, OPEN, SENDING, Rebalance, rebalance_from_row
from wcx.wallet.withdrawals.records import Sending, aware, sending_values
from wcx.wallet.withdrawals.states import State
from wcx.wallet.withdrawals.tables import wallet_rebalances

TRANSFER_STATES = frozenset({*SENDING, State.CONFIRMED, State.FAILED})


@dataclass(frozen=True, slots=True)
class Transfer(Sending):
    """An approved hot-to-cold transfer as the processor and the back office see it."""

    id: int
    asset: str
    chain: str
    address: str
    amount: int
    state: State
    approval_id: int | None
    created_at: datetime
    updated_at: datetime | None


def from_row(row: Row[Any]) -> Transfer:
    """A Transfer from a `wallet_rebalances` row in one of the transfer states."""
    m = row._mapping
    return Transfer(
        id=int(m["id"]),
        asset=m["asset"],
        chain=m["chain"],
        address=m["address"],
        amount=m["amount"],
        state=State(m["state"]),
        approval_id=None if m["approval_id"] is None else int(m["approval_id"]),
        created_at=aware(m["created_at"]),
        updated_at=None if m["updated_at"] is None else aware(m["updated_at"]),
        **sending_values(m),
    )


async def load(conn: AsyncConnection, transfer_id: int) -> Transfer | None:
    """The transfer with this id, if the record is one (approved or later)."""
    t = wallet_rebalances
    row = (await conn.execute(select(t).where(t.c.id == transfer_id))).first()
    if row is None or row.state not in TRANSFER_STATES:
        return None
    return from_row(row)


async def in_flight(db: AsyncEngine) -> list[Transfer]:
    """Approved transfers not yet confirmed or failed, oldest first."""
    t = wallet_rebalances
    statement = select(t).where(t.c.state.in_([s.value for s in SENDING])).order_by(t.c.id)
    async with db.connect() as conn:
        return [from_row(row) for row in await conn.execute(statement)]


async def _proposal(
    conn: AsyncConnection, policy: WithdrawalPolicy, rebalance_id: int
) -> tuple[Rebalance, AssetPolicy]:
    """An open hot-to-cold proposal and its asset's policy (with a cold address); refusals otherwise."""
    t = wallet_rebalances
    row = (await conn.execute(select(t).where(t.c.id == rebalance_id))).first()
    if row is None:
        raise WithdrawalError("not_found", "UNKNOWN_REBALANCE", f"no rebalance record {rebalance_id}")
    if row.direction != HOT_TO_COLD or row.state != OPEN:
        raise WithdrawalError(
            "conflict",
            "NOT_PROPOSED",
            f"rebalance {rebalance_id} is a {row.state} {row.direction} record, not an open proposal",
        )
    asset = policy.assets.get(row.asset)
    if asset is None or not asset.cold_address:
        raise WithdrawalError("unavailable", "NO_COLD_ADDRESS", f"{row.asset} has no cold_address configured")
    return rebalance_from_row(row), asset


async def check_proposal(
    db: AsyncEngine, policy: WithdrawalPolicy, rebalance_id: int
) -> tuple[Rebalance, AssetPolicy]:
    """The proposal, if it can become a transfer now (checked before asking for approval), and its asset."""
    async with db.connect() as conn:
        return await _proposal(conn, policy, rebalance_id)


async def approve_transfer(
    db: AsyncEngine, policy: WithdrawalPolicy, rebalance_id: int, approval_id: int, now: datetime
) -> Transfer:
    """Turn an open hot-to-cold proposal into a transfer to the asset's configured cold address."""
    t = wallet_rebalances
    async with db.begin() as conn:
        _, asset = await _proposal(conn, policy, rebalance_id)
        result = await conn.execute(
            t.update()
            .where(t.c.id == rebalance_id, t.c.state == OPEN)
            .values(
                state=State.APPROVED.value,
                approval_id=approval_id,
                chain=asset.chain,
                address=asset.cold_address,
                confirmations=0,
                attempts=0,
                last_error="",
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            raise WithdrawalError("conflict", "STATE_CHANGED", "the record changed meanwhile; try again")
        transfer = await load(conn, rebalance_id)
    assert transfer is not None
    return transfer
