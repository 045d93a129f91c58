"""Per-market book mirror: the published state of every price level, and the diffs between states.

The mirror is exactly what a client holds after applying every diff so far, so a snapshot taken
from it is consistent with the diff stream by construction (its `seq` is the last diff's).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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


class BookGapError(RuntimeError):
    """A diff does not follow the last one applied: the client missed one and must resubscribe."""


class ClientBook:
    """The client side of the book channel: a `book_snapshot` message, then `book` diffs applied in order.

    A reference for client authors, load generators and tests. Prices and quantities stay the exact
    decimal strings the server sent.
    """

    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        self.seq: int = snapshot["seq"]
        self.bids: dict[str, str] = {price: quantity for price, quantity in snapshot["bids"]}
        self.asks: dict[str, str] = {price: quantity for price, quantity in snapshot["asks"]}

    def apply(self, diff: Mapping[str, Any]) -> bool:
        """Apply a diff; False for one the book already reflects; BookGapError when one was missed."""
        if diff["seq"] <= self.seq:
            return False
        if diff["prev_seq"] != self.seq:
            raise BookGapError(f"diff {diff['seq']} follows {diff['prev_seq']}, the book is at {self.seq}")
        for levels, changes in ((self.bids, diff["bids"]), (self.asks, diff["asks"])):
            for price, quantity in changes:
                if Decimal(quantity):
                    levels[price] = quantity
                else:
                    levels.pop(price, None)
        self.seq = diff["seq"]
        return True

    def depth(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(bids best first, asks best first)."""
        bids = sorted(self.bids.items(), key=lambda level: Decimal(level[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda level: Decimal(level[0]))
        return bids, asks
