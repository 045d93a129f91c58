"""Per-market book mirror: the published state of every price level, and the diffs between states.

The mirror is exactly what a client holds after applying every diff so far, so a snapshot taken
from it is consistent with the diff stream by construction (its `seq` is the last diff's).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from wcx.engine.book import BookSide, OrderBook

Levels = list[tuple[int, int]]
"""(price, quantity) pairs in book order (bids descending, asks ascending)."""


@dataclass(frozen=True, slots=True)
class BookDiff:
    """Levels that changed since `prev_seq` (quantity 0 = level removed), as of engine seq `seq`."""

    seq: int
    prev_seq: int
    bids: Levels
    asks: Levels


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The best levels of a book as of engine seq `seq`."""

    seq: int
    bids: Levels
    asks: Levels


def _level_quantity(side: BookSide, price: int) -> int:
    level = side.levels.get(price)
    return level.total if level is not None else 0


def _sync(mirror: dict[int, int], side: BookSide, prices: set[int]) -> Levels:
    changes: Levels = []
    for price in prices:
        quantity = _level_quantity(side, price)
        if mirror.get(price, 0) != quantity:
            if quantity:
                mirror[price] = quantity
            else:
                del mirror[price]
            changes.append((price, quantity))
    return changes


class BookTracker:
    """The published levels of one market's book and the seq of the last published change."""

    __slots__ = ("asks", "bids", "seq")

    def __init__(self, book: OrderBook, seq: int) -> None:
        self.bids: dict[int, int] = {level.price: level.total for level in book.bids.iter_levels()}
        self.asks: dict[int, int] = {level.price: level.total for level in book.asks.iter_levels()}
        self.seq = seq

    def update(
        self, book: OrderBook, bid_prices: set[int], ask_prices: set[int], seq: int
    ) -> BookDiff | None:
        """Bring the touched prices up to the engine's book; the diff, or None if nothing changed."""
        bids = _sync(self.bids, book.bids, bid_prices)
        asks = _sync(self.asks, book.asks, ask_prices)
        if not bids and not asks:
            return None
        bids.sort(reverse=True)
        asks.sort()
        diff = BookDiff(seq, self.seq, bids, asks)
        self.seq = seq
        return diff

    def snapshot(self, depth: int | None) -> BookSnapshot:
        """The best `depth` levels per side (all levels when depth is None)."""
        if depth is None:
            bids = sorted(self.bids.items(), reverse=True)
            asks = sorted(self.asks.items())
        else:
            bids = heapq.nlargest(depth, self.bids.items())
            asks = heapq.nsmallest(depth, self.asks.items())
        return BookSnapshot(self.seq, bids, asks)
