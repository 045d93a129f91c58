"""Simulated traders: market makers quoting around a random-walking mid, and takers hitting them.

The traders only emit engine Commands and learn from the Events they are handed back (which order ids
they have open, what filled), so the same traders can drive an in-process engine or, later, the REST API.
Everything random comes from one seeded generator: the same seed and the same events give the same commands.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from wcx.config.markets import MarketSpec, ReferenceData
from wcx.engine import AmendOrder, CancelOrder, Command, Event, OrderType, PlaceOrder, Side, TimeInForce
from wcx.engine.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from wcx.simulator.flow import OrderFlow

TAKER_SLOT = -1
MAX_TAKER_OPEN = 8


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclass(slots=True)
class OpenOrder:
    """An order a trader believes is open (quantities in base minor units, price in quote per whole base)."""

    symbol: str
    is_buy: bool
    price: int
    quantity: int
    remaining: int
    slot: int
    order_id: int = 0

    @property
    def filled(self) -> int:
        """Base quantity already traded."""
        return self.quantity - self.remaining


@dataclass(slots=True)
class _Market:
    """A market's filters and the simulated fair value everybody trades around, in ticks."""

    spec: MarketSpec
    base_unit: int
    anchor: int
    mid: int = field(init=False)
    half_spread: int = field(init=False)
    gap: int = field(init=False)
    move: int = field(init=False)

    def __post_init__(self) -> None:
        self.mid = self.anchor
        # Spreads and moves in basis points of the starting price, at least one tick.
        self.half_spread = max(self.anchor * 2 // 10_000, 1)
        self.gap = max(self.anchor // 10_000, 1)
        self.move = max(self.anchor // 20_000, 1)

    def price(self, ticks: int) -> int:
        """Price of `ticks` ticks, never below one tick."""
        return max(ticks, 1) * self.spec.tick_size

    def walk(self, rng: random.Random) -> int:
        """Move the mid by a small random step, pulled back once it strays 5 % from the anchor."""
        delta = rng.choice((-1, 0, 0, 1)) * self.move
        if abs(self.mid - self.anchor) * 20 > self.anchor:
            delta = -self.move if self.mid > self.anchor else self.move
        self.mid = max(self.mid + delta, 2 * self.half_spread + 1)
        return delta

    def quantity(self, price: int, lots: int) -> int:
        """`lots` times the smallest quantity that passes the step, minimum and min-notional filters."""
        spec = self.spec
        need = max(spec.min_quantity, _ceil_div(spec.min_notional * self.base_unit, price))
        smallest = _ceil_div(need, spec.lot_step) * spec.lot_step
        return min(smallest * lots, spec.max_quantity // spec.lot_step * spec.lot_step)


@dataclass(slots=True)
class DemoTraders:
    """`makers` market makers and `takers` takers (accounts 1, 2, …) over the markets of `data`."""

    data: ReferenceData
    seed: int = 1
    makers: int = 3
    takers: int = 6
    levels: int = 3
    maker_share: float = 0.3
    _rng: random.Random = field(init=False)
    _markets: list[_Market] = field(init=False)
    _queue: deque[Command] = field(init=False, default_factory=deque)
    _open: dict[int, dict[int, OpenOrder]] = field(init=False, default_factory=dict)
    _placing: dict[str, tuple[int, OpenOrder]] = field(init=False, default_factory=dict)
    _next_cid: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        scales = {a.code: a.scale for a in self.data.assets}
        self._markets = [
            _Market(spec, 10 ** scales[spec.base], max(spec.demo_price // spec.tick_size, 1_000))
            for spec in self.data.markets
        ]
        self._open = {account: {} for account in self.accounts}
        # Every maker quotes every market before the first taker arrives, so books start with liquidity.
        for maker in range(1, self.makers + 1):
            for market in self._markets:
                self._queue.extend(self._requote(maker, market, 0))

    @property
    def accounts(self) -> range:
        """The account ids the traders use: makers first, then takers."""
        return range(1, self.makers + self.takers + 1)

    def funding(self) -> list[Command]:
        """Deposits for every trader in every asset (apply these first)."""
        return OrderFlow(
            self.data, list(self.data.markets), accounts=len(self.accounts), seed=self.seed
        ).funding()

    def open_orders(self, account: int) -> dict[int, OpenOrder]:
        """Orders of `account` the traders believe are open, by order id."""
        return self._open[account]

    def next_command(self) -> Command:
        """The next command to send; hand the events it caused to `observe` before asking again."""
        while not self._queue:
            if self._rng.random() < self.maker_share:
                maker = self._rng.randint(1, self.makers)
                market = self._rng.choice(self._markets)
                self._queue.extend(self._requote(maker, market, market.walk(self._rng)))
            else:
                self._queue.extend(self._take(self._rng.randint(self.makers + 1, self.makers + self.takers)))
        return self._queue.popleft()

    def observe(self, events: Iterable[Event]) -> None:
        """Learn what happened to the traders' orders."""
        for event in events:
            if isinstance(event, OrderFilled):
                self._filled(event.maker_account, event.maker_order_id, event.maker_remaining)
                self._filled(event.taker_account, event.taker_order_id, event.taker_remaining)
            elif isinstance(event, OrderAccepted):
                placing = self._placing.pop(event.client_order_id, None)
                if placing is not None:
                    account, order = placing
                    order.order_id = event.order_id
                    order.quantity = order.remaining = event.quantity
                    self._open[account][event.order_id] = order
            elif isinstance(event, OrderAmended):
                amended = self._open.get(event.account, {}).get(event.order_id)
                if amended is not None:
                    amended.price, amended.quantity = event.price, event.quantity
                    amended.remaining = event.remaining
            elif isinstance(event, OrderCancelled | OrderExpired):
                self._open.get(event.account, {}).pop(event.order_id, None)
            elif isinstance(event, OrderRejected) and event.account in self._open:
                self._placing.pop(event.client_order_id, None)

    def _filled(self, account: int, order_id: int, remaining: int) -> None:
        order = self._open.get(account, {}).get(order_id)
        if order is None:
            return
        if remaining:
            order.remaining = remaining
        else:
            del self._open[account][order_id]

    def _place(
        self,
        account: int,
        market: _Market,
        is_buy: bool,
        slot: int,
        price: int,
        quantity: int,
        *,
        kind: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        quote_amount: int = 0,
    ) -> PlaceOrder:
        self._next_cid += 1
        cid = f"sim-{self.seed}-{self._next_cid}"
        symbol = market.spec.symbol
        self._placing[cid] = (account, OpenOrder(symbol, is_buy, price, quantity, quantity, slot))
        side = Side.BUY if is_buy else Side.SELL
        return PlaceOrder(
            account, symbol, side, kind, tif, price, quantity, quote_amount, client_order_id=cid
        )

    def _requote(self, maker: int, market: _Market, moved: int) -> list[Command]:
        """Bring one maker's ladder in one market to the current mid: place, re-price (amend or cancel
        and replace) or trim its quotes. The side moving away from the other goes first so the maker never
        crosses its own stale quotes."""
        rng = self._rng
        symbol = market.spec.symbol
        mine = {(o.is_buy, o.slot): o for o in self._open[maker].values() if o.symbol == symbol}
        half = market.half_spread + (maker - 1) * market.gap
        commands: list[Command] = []
        for is_buy in (False, True) if moved > 0 else (True, False):
            for slot in range(self.levels):
                distance = half + slot * market.gap
                price = market.price(market.mid - distance if is_buy else market.mid + distance)
                size = market.quantity(price, rng.randint(10, 400))
                order = mine.get((is_buy, slot))
                if order is None:
                    commands.append(self._place(maker, market, is_buy, slot, price, size))
                elif order.price != price and rng.random() < 0.5:
                    commands.append(
                        AmendOrder(maker, order.order_id, quantity=order.filled + size, price=price)
                    )
                elif order.price != price:
                    commands.append(CancelOrder(maker, order.order_id))
                    commands.append(self._place(maker, market, is_buy, slot, price, size))
                elif rng.random() < 0.1 and order.remaining // 2 >= market.quantity(price, 1):
                    trimmed = (
                        order.filled + order.remaining // 2 // market.spec.lot_step * market.spec.lot_step
                    )
                    commands.append(AmendOrder(maker, order.order_id, quantity=trimmed))
        return commands

    def _take(self, taker: int) -> list[Command]:
        """One taker action: cancel a resting order, or send a limit GTC, an IOC or a market order."""
        rng = self._rng
        mine = self._open[taker]
        roll = rng.random()
        if mine and (roll < 0.15 or len(mine) > MAX_TAKER_OPEN):
            order = (
                next(iter(mine.values())) if len(mine) > MAX_TAKER_OPEN else rng.choice(list(mine.values()))
            )
            return [CancelOrder(taker, order.order_id)]
        market = rng.choice(self._markets)
        is_buy = rng.random() < 0.5
        sign = 1 if is_buy else -1
        reach = market.half_spread + rng.randint(0, 3 * market.gap)
        size = market.quantity(market.price(market.mid), rng.randint(1, 120))
        if roll < 0.45:
            # Anywhere from a few ticks behind the best quote to well through it: rests, trades, or both.
            price = market.price(market.mid + sign * (reach - 2 * market.gap))
            return [self._place(taker, market, is_buy, TAKER_SLOT, price, size)]
        if roll < 0.75:
            price = market.price(market.mid + sign * reach)
            return [self._place(taker, market, is_buy, TAKER_SLOT, price, size, tif=TimeInForce.IOC)]
        bound = market.price(market.mid + sign * (reach + market.gap)) if rng.random() < 0.5 else 0
        by_quote = rng.random() < 0.3
        notional = market.price(market.mid) * size // market.base_unit
        market_order = self._place(
            taker,
            market,
            is_buy,
            TAKER_SLOT,
            bound,
            0 if by_quote else size,
            kind=OrderType.MARKET,
            tif=TimeInForce.IOC,
            quote_amount=notional if by_quote else 0,
        )
        return [market_order]
