"""Tier limits in the reference asset: the price-source port and the usage read from the ledger.

Windows are rolling: "daily" is the last 24 hours, "monthly" the last 30 days. Usage is what the
engine actually moved, read from the projected ledger: withdrawal holds (amount + fee) that were not
released, and credited deposits. Amounts in other assets are valued at the current price (rounded
up, so a limit is never exceeded by rounding); an asset without a price is refused, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Protocol

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.store.schema import ledger_entries

DAY = timedelta(days=1)
MONTH = timedelta(days=30)


class PriceSource(Protocol):
    """Values amounts in the reference asset (the API supplies one built from the engine's last prices)."""

    def reference_value(self, asset: str, amount: int) -> int | None:
        """`amount` minor units of `asset` in minor units of the reference asset (rounded up), or None."""
        ...


@dataclass(frozen=True, slots=True)
class FixedPrices:
    """A PriceSource from a table: reference minor units per one minor unit of each asset."""

    reference: str
    rates: Mapping[str, Fraction]

    def reference_value(self, asset: str, amount: int) -> int | None:
        """The value, rounded up; None for an asset without a rate."""
        if asset == self.reference:
            return amount
        rate = self.rates.get(asset)
        if rate is None:
            return None
        return -(-amount * rate.numerator // rate.denominator)


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    """Why an operation is refused; amounts in minor units of the reference asset."""

    code: str
    message: str
    limit: int | None = None
    used: int | None = None
    requested: int | None = None


async def _withdrawn(conn: AsyncConnection, user_id: int, since: datetime) -> dict[str, int]:
    """Per asset, amount + fee of the user's withdrawal holds since `since` that were not released."""
    released = select(ledger_entries.c.ref).where(
        ledger_entries.c.account_id == user_id, ledger_entries.c.kind == "withdrawal_release"
    )
    rows = await conn.execute(
        select(ledger_entries.c.asset, func.sum(ledger_entries.c.held_delta))
        .where(
            and_(
                ledger_entries.c.account_id == user_id,
                ledger_entries.c.kind == "withdrawal_hold",
                ledger_entries.c.ts >= since,
                ledger_entries.c.ref.not_in(released),
            )
        )
        .group_by(ledger_entries.c.asset)
    )
    return {asset: int(total or 0) for asset, total in rows}


async def _deposited(conn: AsyncConnection, user_id: int, since: datetime) -> dict[str, int]:
    rows = await conn.execute(
        select(ledger_entries.c.asset, func.sum(ledger_entries.c.available_delta))
        .where(
            ledger_entries.c.account_id == user_id,
            ledger_entries.c.kind == "deposit",
            ledger_entries.c.ts >= since,
        )
        .group_by(ledger_entries.c.asset)
    )
    return {asset: int(total or 0) for asset, total in rows}


def value_of(amounts: Mapping[str, int], prices: PriceSource) -> int | None:
    """The total reference value of per-asset amounts; None if any asset has no price."""
    total = 0
    for asset, amount in amounts.items():
        if not amount:
            continue
        value = prices.reference_value(asset, amount)
        if value is None:
            return None
        total += value
    return total


@dataclass(frozen=True, slots=True)
class Usage:
    """What a user moved in the rolling windows, in reference minor units (None = not priceable)."""

    daily: int | None
    monthly: int | None


async def withdrawal_usage(conn: AsyncConnection, user_id: int, prices: PriceSource, now: datetime) -> Usage:
    """Withdrawals in the last 24 hours and 30 days."""
    return Usage(
        value_of(await _withdrawn(conn, user_id, now - DAY), prices),
        value_of(await _withdrawn(conn, user_id, now - MONTH), prices),
    )


async def deposit_usage(conn: AsyncConnection, user_id: int, prices: PriceSource, now: datetime) -> Usage:
    """Deposits in the last 24 hours and 30 days."""
    return Usage(
        value_of(await _deposited(conn, user_id, now - DAY), prices),
        value_of(await _deposited(conn, user_id, now - MONTH), prices),
    )


def check_against(
    what: str, usage: Usage, requested: int, daily: int | None, monthly: int | None
) -> LimitExceeded | None:
    """Refusal if `requested` on top of `usage` passes a limit (`what`: WITHDRAWAL or DEPOSIT)."""
    for period, limit, used in (("DAILY", daily, usage.daily), ("MONTHLY", monthly, usage.monthly)):
        if limit is None:
            continue
        if used is None:
            return LimitExceeded(
                "KYC_PRICE_UNAVAILABLE",
                "an asset moved in the limit window has no price in the reference asset",
                limit=limit,
            )
        if used + requested > limit:
            return LimitExceeded(
                f"KYC_{what}_{period}_LIMIT",
                f"the {period.lower()} {what.lower()} limit of your verification tier would be exceeded",
                limit=limit,
                used=used,
                requested=requested,
            )
    return None
