"""Sweep metrics: sweeps by state, amounts swept into the hot wallet, failed steps."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.wallet.sweeps.states import SweepState
from wcx.wallet.sweeps.tables import wallet_sweeps

SWEEPS = Gauge("wallet_sweeps", "Sweep transactions (gas top-ups included), by state.", ["state"])
SWEPT = Counter(
    "wallet_swept_total",
    "Funds swept from deposit addresses into the hot wallet (confirmed), in whole units, by asset.",
    ["asset"],
)
STEP_ERRORS = Counter(
    "wallet_sweep_step_errors_total",
    "Sweep steps that failed on the chain or the signer and will be retried, by state.",
    ["state"],
)


async def observe_states(db: AsyncEngine) -> None:
    """Refresh `wallet_sweeps{state}` from the table."""
    async with db.connect() as conn:
        rows = await conn.execute(select(wallet_sweeps.c.state, func.count()).group_by(wallet_sweeps.c.state))
        counts = {state: int(count) for state, count in rows}
    for state in SweepState:
        SWEEPS.labels(state.value).set(counts.get(state.value, 0))
