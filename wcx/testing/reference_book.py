"""A slow, obviously correct order book: the oracle the engine's fast book is tested against.

One market, plain lists re-sorted on every look, no balances. It restates the matching rules of
`wcx.engine.trading` from scratch: price-time priority, trades at the maker's price, GTC limits rest
their remainder, IOC and market remainders expire, FOK is all-or-nothing, post-only never crosses,
self-trade prevention, market orders by quote amount, amends and cancels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from wcx.engine import OrderType, PlaceOrder, Reject, SelfTradePrevention, Side, TimeInForce

BPS = 10_000
_STP_CANCELS_MAKER = (SelfTradePrevention.CANCEL_MAKER, SelfTradePrevention.CANCEL_BOTH)
_STP_CANCELS_TAKER = (SelfTradePrevention.CANCEL_TAKER, SelfTradePrevention.CANCEL_BOTH)


class Fill(NamedTuple):
    """One trade: the resting order that was hit, at its price, for this base quantity."""

    maker_id: int
    price: int
    quantity: int


@dataclass(eq=False)
class Resting:
    """An order on the book. `arrival` orders time priority; `quantity` includes what has filled."""

    order_id: int
    account: int
    is_buy: bool
    price: int
    quantity: int
    filled: int
    post_only: bool
    stp: SelfTradePrevention
    arrival: int

    @property
    def remaining(self) -> int:
        """Open quantity."""
        return self.quantity - self.filled


@dataclass
class Outcome:
    """What one place or amend did: a rejection, or fills, self-trade cancels and how it ended."""

    rejected: Reject | None = None
    quantity: int = 0  # base quantity the order was accepted for (computed for a sell by quote amount)
    fills: list[Fill] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)  # ids cancelled by self-trade prevention, in order
    expired: bool = False
    kept_priority: bool = False


@dataclass(eq=False)
class _Taker:
    order_id: int
    account: int
    is_buy: bool
    bound: int  # worst price it may trade at; 0 = unbounded
    remaining: int
    stp: SelfTradePrevention
    budget: int = 0  # quote to spend, fees included, for a market buy by quote amount
    taker_bps: int = 0
    spent_notional: int = 0

    @property
    def by_quote(self) -> bool:
        return self.budget > 0

    def fee_on(self, notional: int) -> int:
        """Fee on the order's total notional so far, rounded up in the exchange's favour."""
        return -(-notional * self.taker_bps // BPS)

    def budget_left(self) -> int:
        return self.budget - self.spent_notional - self.fee_on(self.spent_notional)


def _within(is_buy: bool, price: int, bound: int) -> bool:
    """Whether a taker of this direction may trade at `price`."""
    return bound == 0 or (price <= bound if is_buy else price >= bound)


class ReferenceBook:
    """All resting orders of one market in a flat list; every question is answered by scanning it."""

    def __init__(self, base_unit: int, lot_step: int) -> None:
        self.base_unit = base_unit
        self.lot_step = lot_step
        self.resting: list[Resting] = []
        self._arrivals = 0

    def queue(self, is_buy: bool) -> list[Resting]:
        """One side's resting orders in priority order: best price first, then first come."""
        side = [order for order in self.resting if order.is_buy == is_buy]
        return sorted(side, key=lambda order: (-order.price if is_buy else order.price, order.arrival))

    def snapshot(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """(bids, asks), each a list of (order id, price, remaining) in priority order."""
        bids, asks = (
            [(o.order_id, o.price, o.remaining) for o in self.queue(is_buy)] for is_buy in (True, False)
        )
        return bids, asks

    def find(self, order_id: int) -> Resting:
        """The resting order with this id (KeyError when there is none)."""
        for order in self.resting:
            if order.order_id == order_id:
                return order
        raise KeyError(order_id)

    def cancel(self, order_id: int) -> int:
        """Take an order off the book and return the remainder it had."""
        order = self.find(order_id)
        self.resting.remove(order)
        return order.remaining

    def would_cross(self, is_buy: bool, price: int) -> bool:
        """Whether a limit order at `price` would trade against the best opposite order."""
        makers = self.queue(not is_buy)
        return bool(makers) and _within(is_buy, makers[0].price, price)

    def place(self, order_id: int, cmd: PlaceOrder, taker_bps: int) -> Outcome:
        """Refuse a validated order for a reason the book gives, or trade it and rest or expire the rest."""
        is_buy = cmd.side is Side.BUY
        makers = self.queue(not is_buy)
        taker = _Taker(order_id, cmd.account, is_buy, cmd.price, cmd.quantity, cmd.stp)
        if cmd.type is OrderType.LIMIT:
            if cmd.post_only and self.would_cross(is_buy, cmd.price):
                return Outcome(Reject.POST_ONLY_WOULD_CROSS)
        elif not makers:
            return Outcome(Reject.NO_LIQUIDITY)
        elif cmd.quote_amount and is_buy:
            taker.budget, taker.taker_bps = cmd.quote_amount, taker_bps
        elif cmd.quote_amount:
            taker.remaining = self._quantity_for_proceeds(makers, taker, cmd.quote_amount)
            if taker.remaining == 0:
                return Outcome(Reject.NO_LIQUIDITY)
        if cmd.tif is TimeInForce.FOK and not self._fillable(makers, taker):
            return Outcome(Reject.FOK_CANNOT_FILL)
        quantity = taker.remaining
        outcome = Outcome(quantity=quantity)
        stopped = self._match(taker, outcome)
        if stopped:
            return outcome
        if taker.remaining and cmd.type is OrderType.LIMIT and cmd.tif is TimeInForce.GTC:
            self._rest(taker, cmd.price, quantity, cmd.post_only)
        else:
            outcome.expired = taker.remaining > 0 or (taker.by_quote and taker.budget_left() > 0)
        return outcome

    def amend(self, order_id: int, price: int, quantity: int) -> Outcome:
        """Set a resting order's price and total quantity: only a quantity decrease keeps its place."""
        order = self.find(order_id)
        if price == order.price and quantity < order.quantity:
            order.quantity = quantity
            return Outcome(quantity=quantity, kept_priority=True)
        if order.post_only and self.would_cross(order.is_buy, price):
            return Outcome(Reject.POST_ONLY_WOULD_CROSS)
        self.resting.remove(order)
        taker = _Taker(order_id, order.account, order.is_buy, price, quantity - order.filled, order.stp)
        outcome = Outcome(quantity=quantity)
        if not self._match(taker, outcome) and taker.remaining:
            self._rest(taker, price, quantity, order.post_only)
        return outcome

    def _rest(self, taker: _Taker, price: int, quantity: int, post_only: bool) -> None:
        self._arrivals += 1
        filled = quantity - taker.remaining
        self.resting.append(
            Resting(
                taker.order_id,
                taker.account,
                taker.is_buy,
                price,
                quantity,
                filled,
                post_only,
                taker.stp,
                self._arrivals,
            )
        )

    def _notional(self, price: int, quantity: int) -> int:
        return price * quantity // self.base_unit

    def _match(self, taker: _Taker, outcome: Outcome) -> bool:
        """Trade the taker down the opposite queue; True when self-trade prevention cancelled it."""
        while taker.by_quote or taker.remaining > 0:
            makers = self.queue(not taker.is_buy)
            if not makers or not _within(taker.is_buy, makers[0].price, taker.bound):
                return False
            maker = makers[0]
            if maker.account == taker.account:
                if taker.stp in _STP_CANCELS_MAKER:
                    self.resting.remove(maker)
                    outcome.cancelled.append(maker.order_id)
                if taker.stp in _STP_CANCELS_TAKER:
                    outcome.cancelled.append(taker.order_id)
                    return True
                continue
            if taker.by_quote:
                quantity = self._affordable_lots(taker, maker) * self.lot_step
                if quantity == 0:
                    return False
                taker.spent_notional += self._notional(maker.price, quantity)
            else:
                quantity = min(maker.remaining, taker.remaining)
                taker.remaining -= quantity
            maker.filled += quantity
            if maker.remaining == 0:
                self.resting.remove(maker)
            outcome.fills.append(Fill(maker.order_id, maker.price, quantity))
        return False

    def _affordable_lots(self, taker: _Taker, maker: Resting) -> int:
        """Most whole lots of this maker whose cost, fee included, the buyer's budget still covers."""
        for lots in range(maker.remaining // self.lot_step, 0, -1):
            notional = taker.spent_notional + self._notional(maker.price, lots * self.lot_step)
            if notional + taker.fee_on(notional) <= taker.budget:
                return lots
        return 0

    def _quantity_for_proceeds(self, makers: list[Resting], taker: _Taker, quote_amount: int) -> int:
        """Base quantity of the longest run of lots, down the bids, whose proceeds stay within the amount.

        Under cancel-maker the seller's own bids are skipped: they will be cancelled, not traded.
        """
        skip_own = taker.stp is SelfTradePrevention.CANCEL_MAKER
        lot_prices = [
            m.price
            for m in makers
            if _within(False, m.price, taker.bound) and not (skip_own and m.account == taker.account)
            for _ in range(m.remaining // self.lot_step)
        ]
        proceeds = lots = 0
        for price in lot_prices:
            proceeds += self._notional(price, self.lot_step)
            if proceeds > quote_amount:
                break
            lots += 1
        return lots * self.lot_step

    @staticmethod
    def _fillable(makers: list[Resting], taker: _Taker) -> bool:
        """Whether the taker's whole quantity can trade now, within its bound and self-trade prevention."""
        quantity = taker.remaining
        for maker in makers:
            if not _within(taker.is_buy, maker.price, taker.bound):
                return False
            if maker.account == taker.account:
                if taker.stp is SelfTradePrevention.CANCEL_MAKER:
                    continue
                return False
            quantity -= maker.remaining
            if quantity <= 0:
                return True
        return False
