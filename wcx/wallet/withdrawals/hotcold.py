"""Hot/cold policy: keep each hot wallet between its minimum and maximum per asset.

Above the maximum a transfer of the excess to the cold address is proposed (for the back office);
below the minimum an alert fires (log + metric) and a cold-to-hot request is recorded for the custody
ceremony (the cold key is offline, so nothing here can move cold funds). One open record per asset and
direction; records close by themselves once the balance is back within bounds. An approved proposal
becomes a transfer (`wcx.wallet.withdrawals.transfers`) and counts as the asset's record until it is
confirmed or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.primitives import format_amount
from wcx.wallet.withdrawals import metrics
from wcx.wallet.withdrawals.config import AssetPolicy
from wcx.wallet.withdrawals.records import aware
from wcx.wallet.withdrawals.states import State
from wcx.wallet.withdrawals.tables import wallet_rebalances

log = get_logger(__name__)

HOT_TO_COLD = "hot_to_cold"
COLD_TO_HOT = "cold_to_hot"
OPEN = "open"
RESOLVED = "resolved"
SENDING = (State.APPROVED, State.SIGNED, State.BROADCAST)
"""An approved transfer on its way: still the asset's one hot-to-cold record."""


@dataclass(frozen=True, slots=True)
class Rebalance:
    """A proposed hot-to-cold transfer or a cold-to-hot request."""

    id: int
    asset: str
    direction: str
    amount: int
    hot_balance: int
    state: str
    created_at: datetime


def target(policy: AssetPolicy) -> int:
    """The balance a rebalance aims for: the middle of the band."""
    return (policy.hot_minimum + policy.hot_maximum) // 2


async def check_hot_balance(
    db: AsyncEngine, policy: AssetPolicy, balance: int, now: datetime
) -> Rebalance | None:
    """Apply the policy to one asset's hot balance; the open rebalance it calls for, if any."""
    metrics.HOT_BALANCE.labels(policy.asset).set(balance / 10**policy.scale)
    below, above = balance < policy.hot_minimum, balance > policy.hot_maximum
    metrics.HOT_BELOW_MINIMUM.labels(policy.asset).set(int(below))
    metrics.HOT_ABOVE_MAXIMUM.labels(policy.asset).set(int(above))
    direction = COLD_TO_HOT if below else HOT_TO_COLD if above else None
    t = wallet_rebalances
    async with db.begin() as conn:
        # Whatever is open in another direction (or at all, once in band) is settled by the new balance.
        await conn.execute(
            update(t)
            .where(t.c.asset == policy.asset, t.c.state == OPEN, t.c.direction != (direction or ""))
            .values(state=RESOLVED)
        )
        if direction is None:
            return None
        current = [OPEN, *(s.value for s in SENDING)]
        found = (
            await conn.execute(
                select(t).where(t.c.asset == policy.asset, t.c.state.in_(current), t.c.direction == direction)
            )
        ).first()
        if found is not None:
            return rebalance_from_row(found)
        amount = target(policy) - balance if below else balance - target(policy)
        result = await conn.execute(
            insert(t).values(
                asset=policy.asset,
                direction=direction,
                amount=amount,
                hot_balance=balance,
                state=OPEN,
                created_at=now,
            )
        )
        rebalance = Rebalance(
            int(result.inserted_primary_key[0]), policy.asset, direction, amount, balance, OPEN, now
        )
    level = "hot wallet below minimum" if below else "hot wallet above maximum"
    log.warning(
        level,
        alert=True,
        asset=policy.asset,
        balance=format_amount(balance, policy.scale),
        proposed=direction,
        amount=format_amount(amount, policy.scale),
        cold_address=policy.cold_address,
    )
    return rebalance


async def open_rebalances(db: AsyncEngine) -> list[Rebalance]:
    """Open proposals and requests, oldest first (for the back office)."""
    t = wallet_rebalances
    async with db.connect() as conn:
        rows = await conn.execute(select(t).where(t.c.state == OPEN).order_by(t.c.id))
        return [rebalance_from_row(row) for row in rows]


async def recent_rebalances(db: AsyncEngine, limit: int = 50) -> list[Rebalance]:
    """Every record (open, resolved, transfers in any state), newest first."""
    t = wallet_rebalances
    async with db.connect() as conn:
        rows = await conn.execute(select(t).order_by(t.c.id.desc()).limit(limit))
        return [rebalance_from_row(row) for row in rows]


def rebalance_from_row(row: object) -> Rebalance:
    """A Rebalance from a `wallet_rebalances` row."""
    m = row._mapping  # type: ignore[attr-defined]
    return Rebalance(
        int(m["id"]),
        m["asset"],
        m["direction"],
        m["amount"],
        m["hot_balance"],
        m["state"],
        aware(m["created_at"]),
    )
