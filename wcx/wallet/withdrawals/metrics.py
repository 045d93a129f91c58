"""Withdrawal and hot-wallet metrics (`wallet_withdrawals_*`, `wallet_hot_wallet_*`, `wallet_hot_to_cold_*`,
`wallet_fee_bumps_*`).

Signer latency and errors are the signers' own (`wallet_signer_*`).
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.wallet.withdrawals.records import aware
from wcx.wallet.withdrawals.states import OPEN
from wcx.wallet.withdrawals.tables import withdrawals

PENDING = Gauge("wallet_withdrawals_pending", "Open withdrawals, by state.", ["state"])
OLDEST_AGE = Gauge(
    "wallet_withdrawals_oldest_age_seconds",
    "Age of the oldest open withdrawal in each state (0 when none).",
    ["state"],
)
STEP_ERRORS = Counter(
    "wallet_withdrawal_step_errors_total",
    "Processor steps that failed on the chain or the signer and will be retried, by state.",
    ["state"],
)
HOT_WALLET_SHORT = Counter(
    "wallet_hot_wallet_short_total",
    "Withdrawals the hot wallet could not cover (amount or gas) when signing, by asset.",
    ["asset"],
)
HOT_BALANCE = Gauge(
    "wallet_hot_wallet_balance", "On-chain hot-wallet balance in whole units, by asset.", ["asset"]
)
HOT_BELOW_MINIMUM = Gauge(
    "wallet_hot_wallet_below_minimum",
    "1 while the hot wallet holds less than its minimum, by asset.",
    ["asset"],
)
HOT_ABOVE_MAXIMUM = Gauge(
    "wallet_hot_wallet_above_maximum",
    "1 while the hot wallet holds more than its maximum, by asset.",
    ["asset"],
)

TRANSFERS = Counter(
    "wallet_hot_to_cold_transfers_total",
    "Approved hot-to-cold transfers entering each state (signed, broadcast, confirmed, failed), by asset.",
    ["asset", "state"],
)
FEE_BUMPS = Counter(
    "wallet_fee_bumps_total",
    "Bitcoin payments replaced by a higher fee (BIP125) after waiting unconfirmed, by asset.",
    ["asset"],
)
FEE_BUMPS_IMPOSSIBLE = Counter(
    "wallet_fee_bumps_impossible_total",
    "Bitcoin payments due for a fee bump whose change could not pay it, by asset.",
    ["asset"],
)


async def observe_pending(db: AsyncEngine, now: datetime) -> None:
    """Refresh the pending-by-state count and oldest-age gauges from the withdrawals table."""
    statement = (
        select(withdrawals.c.state, func.count(), func.min(withdrawals.c.created_at))
        .where(withdrawals.c.state.in_([s.value for s in OPEN]))
        .group_by(withdrawals.c.state)
    )
    async with db.connect() as conn:
        found = {state: (count, oldest) for state, count, oldest in await conn.execute(statement)}
    for state in OPEN:
        count, oldest = found.get(state.value, (0, None))
        PENDING.labels(state.value).set(count)
        OLDEST_AGE.labels(state.value).set(0 if oldest is None else (now - aware(oldest)).total_seconds())
