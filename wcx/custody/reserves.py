"""The reserves side of proof of reserves: on-chain balances of hot and cold wallets vs liabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from prometheus_client import Gauge

from wcx.custody.por_rounds import ReserveRow
from wcx.primitives import format_amount

WALLET_BALANCE = Gauge(
    "wallet_balance",
    "On-chain balance of the exchange's wallets in whole units, by asset and tier (hot / cold / deposit).",
    ["asset", "tier"],
)
LIABILITIES = Gauge(
    "custody_por_liabilities",
    "Total user liabilities in whole units (the proof-of-reserves root sum), by asset.",
    ["asset"],
)
RESERVE_RATIO = Gauge(
    "custody_por_reserve_ratio",
    "On-chain reserves divided by user liabilities, by asset (below 1 means not fully backed).",
    ["asset"],
)


class Tier(StrEnum):
    """Hot wallets sign online through the HSM; cold wallets only through the recovery ceremony;
    deposit addresses hold what users sent until it is swept into the hot wallet."""

    HOT = "hot"
    COLD = "cold"
    DEPOSIT = "deposit"


class BalanceSource(Protocol):
    """What reserves need from a chain: the `ChainNode` port's `balance` (every adapter has it)."""

    async def balance(self, address: str, asset: str) -> int:
        """The confirmed on-chain balance of `address` in `asset`, in minor units."""
        ...


@dataclass(frozen=True, slots=True)
class ReserveWallet:
    """An exchange-controlled address holding an asset on a chain."""

    asset: str
    chain: str
    tier: Tier
    address: str


@dataclass(frozen=True, slots=True)
class AssetReserves:
    """One asset's reserves against its liabilities (minor units)."""

    asset: str
    scale: int
    hot: int
    cold: int
    liabilities: int
    deposit: int = 0

    @property
    def reserves(self) -> int:
        """Hot plus cold plus what waits on deposit addresses."""
        return self.hot + self.cold + self.deposit

    @property
    def surplus(self) -> int:
        """Reserves minus liabilities (negative: a shortfall)."""
        return self.reserves - self.liabilities

    @property
    def covered(self) -> bool:
        """Whether every liability is backed on chain."""
        return self.surplus >= 0

    def ratio(self) -> Decimal | None:
        """Reserves / liabilities, None when nothing is owed."""
        return None if self.liabilities == 0 else Decimal(self.reserves) / Decimal(self.liabilities)

    def to_json(self) -> dict[str, Any]:
        """Decimal strings in whole units, as on the wire."""
        ratio = self.ratio()
        return {
            "asset": self.asset,
            "hot": format_amount(self.hot, self.scale),
            "cold": format_amount(self.cold, self.scale),
            "deposit": format_amount(self.deposit, self.scale),
            "reserves": format_amount(self.reserves, self.scale),
            "liabilities": format_amount(self.liabilities, self.scale),
            "surplus": format_amount(self.surplus, self.scale),
            "ratio": None if ratio is None else f"{ratio:.6f}",
            "covered": self.covered,
        }


@dataclass(frozen=True, slots=True)
class ReservesReport:
    """Per-asset reserves and the balances read, at one instant."""

    checked_at: datetime
    assets: list[AssetReserves]
    rows: list[ReserveRow]

    @property
    def covered(self) -> bool:
        """Whether every asset is fully backed."""
        return all(asset.covered for asset in self.assets)


async def check_reserves(
    wallets: Sequence[ReserveWallet],
    nodes: Mapping[str, BalanceSource],
    liabilities: Mapping[str, int],
    scales: Mapping[str, int],
    *,
    now: datetime,
) -> ReservesReport:
    """Read every wallet's balance through its chain's node, compare per asset, update the gauges."""
    rows: list[ReserveRow] = []
    for wallet in wallets:
        node = nodes.get(wallet.chain)
        if node is None:
            raise LookupError(f"no node configured for chain {wallet.chain!r} (wallet {wallet.address})")
        balance = await node.balance(wallet.address, wallet.asset)
        if wallet.tier is Tier.DEPOSIT and balance == 0:
            continue  # one row per funded deposit address, not per user
        rows.append(ReserveRow(wallet.asset, wallet.tier.value, wallet.address, balance, now))
    assets = []
    for asset in sorted(set(liabilities) | {row.asset for row in rows}):
        held = {tier: sum(r.balance for r in rows if r.asset == asset and r.tier == tier) for tier in Tier}
        line = AssetReserves(
            asset,
            scales[asset],
            held[Tier.HOT],
            held[Tier.COLD],
            liabilities.get(asset, 0),
            held[Tier.DEPOSIT],
        )
        assets.append(line)
        unit = Decimal(10) ** line.scale
        for tier in Tier:
            WALLET_BALANCE.labels(asset, tier.value).set(float(Decimal(held[tier]) / unit))
        LIABILITIES.labels(asset).set(float(Decimal(line.liabilities) / unit))
        ratio = line.ratio()
        RESERVE_RATIO.labels(asset).set(float(ratio) if ratio is not None else float("inf"))
    return ReservesReport(checked_at=now, assets=assets, rows=rows)
