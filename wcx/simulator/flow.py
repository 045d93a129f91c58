"""A seeded, reproducible stream of trading commands shaped like a busy exchange.

Mix per trading command: 60 % resting limits 1–50 ticks from mid, 20 % crossing limits,
10 % market orders, 10 % cancels of an order the trader believes is open.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from wcx.config.markets import MarketSpec, ReferenceData
from wcx.engine import CancelOrder, Command, CreditDeposit, OrderType, PlaceOrder, Side, TimeInForce
from wcx.primitives import Asset

FUNDING_WHOLE_UNITS = 10_000_000


@dataclass(slots=True)
class _MarketWalk:
    spec: MarketSpec
    mid_ticks: int


@dataclass(slots=True)
class OrderFlow:
    """Generates commands for `accounts` traders over `markets` from one seed."""

    data: ReferenceData
    markets: list[MarketSpec]
    accounts: int = 1_000
    seed: int = 42
    _rng: random.Random = field(init=False)
    _walks: list[_MarketWalk] = field(init=False)
    _placed: list[tuple[int, str]] = field(init=False, default_factory=list)
    _next_cid: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._walks = [_MarketWalk(m, max(m.demo_price // m.tick_size, 1_000)) for m in self.markets]

    def funding(self) -> list[Command]:
        """Deposits that let every trader trade every market for a long time."""
        commands: list[Command] = []
        assets = sorted({m.base for m in self.markets} | {m.quote for m in self.markets})
        scales = {a.code: a.scale for a in self.data.assets}
        for account in range(1, self.accounts + 1):
            for asset in assets:
                amount = FUNDING_WHOLE_UNITS * 10 ** scales[asset]
                commands.append(CreditDeposit(account, asset, amount, f"seed-{account}-{asset}"))
        return commands

    def _price(self, walk: _MarketWalk, ticks_from_mid: int) -> int:
        return max(walk.mid_ticks + ticks_from_mid, 1) * walk.spec.tick_size

    def _cancel(self) -> Command:
        account, cid = self._placed.pop(self._rng.randrange(len(self._placed)))
        return CancelOrder(account, client_order_id=cid)

    def next_command(self) -> Command:
        """One command of the mix."""
        rng = self._rng
        roll = rng.random()
        if roll >= 0.9 and self._placed:
            return self._cancel()
        walk = self._walks[rng.randrange(len(self._walks))]
        if rng.random() < 0.02:
            walk.mid_ticks = max(walk.mid_ticks + rng.choice((-1, 1)), 10)
        spec = walk.spec
        account = rng.randint(1, self.accounts)
        buy = rng.random() < 0.5
        side = Side.BUY if buy else Side.SELL
        quantity = spec.min_quantity * rng.randint(1, 20)
        if roll < 0.6:
            offset = rng.randint(1, 50)
            price = self._price(walk, -offset if buy else offset)
        elif roll < 0.8:
            offset = rng.randint(0, 10)
            price = self._price(walk, offset if buy else -offset)
        else:
            return PlaceOrder(
                account, spec.symbol, side, OrderType.MARKET, TimeInForce.IOC, quantity=quantity
            )
        self._next_cid += 1
        cid = f"c{self._next_cid}"
        if len(self._placed) < 100_000:
            self._placed.append((account, cid))
        return PlaceOrder(account, spec.symbol, side, price=price, quantity=quantity, client_order_id=cid)

    def commands(self, count: int) -> Iterator[Command]:
        """`count` trading commands."""
        for _ in range(count):
            yield self.next_command()


def synthetic_reference_data(markets: int, base: ReferenceData) -> ReferenceData:
    """`markets` BTC-USDT-shaped markets (M0-USDT, M1-USDT, …) for multi-market benchmarks."""
    template = base.market("BTC-USDT")
    quote = next(a for a in base.assets if a.code == template.quote)
    scale = next(a for a in base.assets if a.code == template.base).scale
    assets = [quote, *(Asset(f"M{i}", scale) for i in range(markets))]
    specs = [
        replace(template, symbol=f"M{i}-{quote.code}", base=f"M{i}", demo_price=template.demo_price + i)
        for i in range(markets)
    ]
    return ReferenceData(tuple(assets), tuple(specs), base.maker_bps, base.taker_bps)
