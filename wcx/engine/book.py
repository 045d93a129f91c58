"""The fast order book: price levels in a sorted list, FIFO queues with lazy removal.

Level keys live in a plain list kept sorted by C `bisect`, with the best price LAST: activity
concentrates near the touch, so inserts move few items and removing the best level is a pop.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from typing import Final

from wcx.engine.orders import Order

# Under mypyc an imported name is a module-dict lookup on every use; a Final alias is a C static.
_insort: Final = insort
_bisect_left: Final = bisect_left


class Level:
    """All open orders at one price, in time priority.

    The queue is `orders[head:]`: a list with a moving head, not a deque, whose append and popleft
    are generic method calls under mypyc. Removed orders stay queued until they reach the head.
    """

    __slots__ = ("head", "live", "orders", "price", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: list[Order] = []
        self.head = 0
        self.total = 0  # open quantity of the live orders
        self.live = 0

    def first(self) -> Order:
        """The first live order (there must be one); removed orders before it leave the queue."""
        orders = self.orders
        head = self.head
        while not orders[head].is_open:
            head += 1
        self.head = head
        return orders[head]

    def pop_first(self) -> None:
        """Dequeue the order at the head; the list sheds its consumed front once it dominates."""
        head = self.head + 1
        if head >= 32 and 2 * head >= len(self.orders):
            del self.orders[:head]
            head = 0
        self.head = head

    def purge(self, order: Order) -> None:
        """Drop a queued order now rather than lazily (it is about to be queued again)."""
        orders = self.orders
        for i in range(self.head, len(orders)):
            if orders[i] is order:
                del orders[i]
                return

    def live_orders(self) -> Iterator[Order]:
        """The live orders in priority order."""
        orders = self.orders
        return (orders[i] for i in range(self.head, len(orders)) if orders[i].is_open)


class BookSide:
    """One side of a book. `keys` ascend towards the best price: price for bids, -price for asks."""

    __slots__ = ("is_bid", "keys", "levels", "top", "total")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, Level] = {}
        self.keys: list[int] = []
        # The best level is read on every incoming order, so it is cached rather than looked up.
        self.top: Level | None = None
        # Open quantity of the whole side: an order bigger than the side needs no walk to price it.
        self.total = 0

    def best(self) -> Level | None:
        """The best level, or None when the side is empty."""
        return self.top

    def price_to_fill(self, quantity: int) -> int:
        """Price of the level where `quantity`, taken from the best level down, fills (else the worst)."""
        keys = self.keys
        if not keys:
            return 0
        is_bid = self.is_bid
        if quantity >= self.total:
            return keys[0] if is_bid else -keys[0]
        # An index walk: pricing runs for every market buy, and a generator per call costs more here.
        levels = self.levels
        i = len(keys) - 1
        while True:
            key = keys[i]
            level = levels[key if is_bid else -key]
            quantity -= level.total
            if quantity <= 0 or i == 0:
                return level.price
            i -= 1

    def add(self, order: Order) -> None:
        """Append an order at the back of its price level."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            _insort(self.keys, price if self.is_bid else -price)
            top = self.top
            if top is None or (price > top.price if self.is_bid else price < top.price):
                self.top = level
        order.level = level
        level.orders.append(order)
        level.total += order.remaining
        level.live += 1
        self.total += order.remaining

    def reduce(self, order: Order, quantity: int) -> None:
        """An order in the book lost `quantity` of its remainder (fill or amend down)."""
        order.level.total -= quantity
        self.total -= quantity

    def remove(self, order: Order) -> None:
        """Take an open order out (cancel, full fill, or amend that loses priority)."""
        level = order.level
        level.total -= order.remaining
        self.total -= order.remaining
        level.live -= 1
        order.is_open = False
        if level.live == 0:
            price = level.price
            del self.levels[price]
            keys = self.keys
            if self.top is level:
                keys.pop()
                self.top = self.levels[keys[-1] if self.is_bid else -keys[-1]] if keys else None
            else:
                del keys[_bisect_left(keys, price if self.is_bid else -price)]
        elif level.orders[level.head] is order:
            level.pop_first()
        elif len(level.orders) - level.head > 2 * level.live + 32:
            # Cancelled orders are skipped lazily; compact when they dominate the queue.
            level.orders = list(level.live_orders())
            level.head = 0

    def take_out(self, order: Order) -> None:
        """Remove an order that will be re-queued: unlike `remove`, purge it from its queue now.

        Lazy removal relies on a removed order never reopening; an amend reopens the same object.
        """
        level = order.level
        self.remove(order)
        level.purge(order)

    def iter_levels(self) -> Iterator[Level]:
        """Levels from best to worst."""
        levels = self.levels
        if self.is_bid:
            return (levels[key] for key in reversed(self.keys))
        return (levels[-key] for key in reversed(self.keys))

    def depth(self, limit: int) -> list[tuple[int, int]]:
        """(price, open quantity) of the best `limit` levels."""
        out: list[tuple[int, int]] = []
        for level in self.iter_levels():
            if len(out) == limit:
                break
            out.append((level.price, level.total))
        return out


class OrderBook:
    """Bids and asks of one market."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)

    def side(self, is_buy: bool) -> BookSide:
        """The side an order of this direction rests on."""
        return self.bids if is_buy else self.asks

    def opposite(self, is_buy: bool) -> BookSide:
        """The side an order of this direction trades against."""
        return self.asks if is_buy else self.bids

    def orders(self) -> Iterator[Order]:
        """Every resting order, bids then asks, each best price first and in time priority."""
        for side in (self.bids, self.asks):
            for level in side.iter_levels():
                yield from level.live_orders()
