"""Direct tests of the reference book, so that the oracle itself is known to be right."""

from __future__ import annotations

from typing import Any

import pytest

from wcx.engine import OrderType, PlaceOrder, Reject, SelfTradePrevention, Side, TimeInForce
from wcx.testing.reference_book import Fill, Outcome, ReferenceBook

A, B, C = 1, 2, 3
BUY, SELL = Side.BUY, Side.SELL
MARKET = OrderType.MARKET
# Base scale 2 and a 0.1 lot: notional = price × quantity / 100, one lot at price p costs p / 10.
BASE_UNIT, LOT = 100, 10


class Book(ReferenceBook):
    """A reference book with shorthand that numbers orders 1, 2, 3, … as it places them."""

    def __init__(self) -> None:
        super().__init__(BASE_UNIT, LOT)
        self.next_id = 0

    def order(self, account: int, side: Side, price: int = 0, quantity: int = 0, **fields: Any) -> Outcome:
        """Place an order (default: limit GTC) with taker fees of 20 bps."""
        self.next_id += 1
        cmd = PlaceOrder(account, "AAA-QQQ", side, price=price, quantity=quantity, **fields)
        return self.place(self.next_id, cmd, taker_bps=20)


def test_price_time_priority_at_the_makers_price() -> None:
    book = Book()
    book.order(A, SELL, 110, 20)
    book.order(A, SELL, 100, 20)
    book.order(A, SELL, 100, 30)
    outcome = book.order(B, BUY, 120, 60)
    assert outcome.fills == [Fill(2, 100, 20), Fill(3, 100, 30), Fill(1, 110, 10)]
    assert book.snapshot() == ([], [(1, 110, 10)])
    assert not outcome.expired


def test_gtc_remainder_rests_behind_earlier_orders_and_ioc_remainder_expires() -> None:
    book = Book()
    book.order(A, BUY, 100, 10)
    assert book.order(B, SELL, 90, 30).fills == [Fill(1, 100, 10)]
    assert book.order(A, SELL, 90, 10).fills == []
    ioc = book.order(C, BUY, 95, 50, tif=TimeInForce.IOC)
    assert ioc.fills == [Fill(2, 90, 20), Fill(3, 90, 10)]
    assert ioc.expired
    assert book.snapshot() == ([], [])


def test_post_only_is_rejected_when_it_would_cross_and_rests_otherwise() -> None:
    book = Book()
    book.order(A, SELL, 100, 10)
    assert book.order(B, BUY, 100, 10, post_only=True).rejected is Reject.POST_ONLY_WOULD_CROSS
    assert book.order(B, BUY, 90, 10, post_only=True).rejected is None
    assert book.snapshot() == ([(3, 90, 10)], [(1, 100, 10)])


@pytest.mark.parametrize(
    ("stp", "cancelled", "fills", "left"),
    [
        (SelfTradePrevention.CANCEL_TAKER, [3], [Fill(1, 100, 10)], [(2, 100, 20)]),
        (SelfTradePrevention.CANCEL_MAKER, [2], [Fill(1, 100, 10)], []),
        (SelfTradePrevention.CANCEL_BOTH, [2, 3], [Fill(1, 100, 10)], []),
    ],
)
def test_self_trade_prevention(
    stp: SelfTradePrevention, cancelled: list[int], fills: list[Fill], left: list[tuple[int, int, int]]
) -> None:
    book = Book()
    book.order(B, SELL, 100, 10)
    book.order(A, SELL, 100, 20)
    outcome = book.order(A, BUY, 100, 20, stp=stp)
    assert (outcome.fills, outcome.cancelled) == (fills, cancelled)
    # Cancel-maker keeps going and the taker's unfilled 10 rests as a bid.
    bids = [(3, 100, 10)] if stp is SelfTradePrevention.CANCEL_MAKER else []
    assert book.snapshot() == (bids, left)
    assert not outcome.expired


def test_fok_counts_own_orders_only_under_cancel_maker() -> None:
    book = Book()
    book.order(A, SELL, 100, 10)
    book.order(B, SELL, 100, 10)
    fok = {"tif": TimeInForce.FOK}
    assert book.order(A, BUY, 100, 10, **fok).rejected is Reject.FOK_CANNOT_FILL
    assert book.order(B, BUY, 100, 20, **fok).rejected is Reject.FOK_CANNOT_FILL
    outcome = book.order(A, BUY, 100, 10, stp=SelfTradePrevention.CANCEL_MAKER, **fok)
    assert (outcome.cancelled, outcome.fills) == ([1], [Fill(2, 100, 10)])
    assert book.snapshot() == ([], [])


def test_market_buy_by_quote_amount_buys_the_lots_it_can_pay_for_fees_included() -> None:
    book = Book()
    book.order(B, SELL, 1000, 50)  # one lot costs 100
    # Three lots would cost 300 + ceil(300 × 20 / 10000) = 301: one more than the budget.
    outcome = book.order(A, BUY, type=MARKET, quote_amount=300)
    assert (outcome.fills, outcome.expired) == ([Fill(1, 1000, 20)], True)
    outcome = book.order(A, BUY, type=MARKET, quote_amount=301)
    assert (outcome.fills, outcome.expired) == ([Fill(1, 1000, 30)], False)


def test_market_sell_by_quote_amount_sells_the_lots_whose_proceeds_fit() -> None:
    book = Book()
    book.order(B, BUY, 1000, 20)
    book.order(B, BUY, 900, 20)
    outcome = book.order(A, SELL, type=MARKET, quote_amount=290)
    assert (outcome.quantity, outcome.fills) == (30, [Fill(1, 1000, 20), Fill(2, 900, 10)])
    assert book.order(A, SELL, type=MARKET, quote_amount=89).rejected is Reject.NO_LIQUIDITY


def test_market_sell_by_quote_amount_under_cancel_maker_sizes_itself_past_its_own_bids() -> None:
    book = Book()
    book.order(A, BUY, 1000, 10)
    book.order(B, BUY, 900, 20)
    outcome = book.order(A, SELL, type=MARKET, quote_amount=180, stp=SelfTradePrevention.CANCEL_MAKER)
    assert (outcome.quantity, outcome.cancelled, outcome.fills) == (20, [1], [Fill(2, 900, 20)])


def test_market_buy_without_bound_reaches_past_its_own_cancelled_order() -> None:
    book = Book()
    book.order(A, SELL, 100, 10)
    book.order(B, SELL, 110, 10)
    outcome = book.order(A, BUY, type=MARKET, quantity=10, stp=SelfTradePrevention.CANCEL_MAKER)
    assert (outcome.cancelled, outcome.fills, outcome.expired) == ([1], [Fill(2, 110, 10)], False)


def test_market_order_stops_at_its_protection_bound() -> None:
    book = Book()
    book.order(B, SELL, 100, 10)
    book.order(B, SELL, 110, 10)
    outcome = book.order(A, BUY, 100, 20, type=MARKET, tif=TimeInForce.IOC)
    assert (outcome.fills, outcome.expired) == ([Fill(1, 100, 10)], True)
    assert book.order(A, BUY, 100, 10, type=MARKET, tif=TimeInForce.FOK).rejected is Reject.FOK_CANNOT_FILL


def test_amend_down_keeps_priority_and_anything_else_requeues_and_may_trade() -> None:
    book = Book()
    book.order(A, BUY, 100, 30)
    book.order(A, BUY, 100, 30)
    assert book.amend(1, 100, 20).kept_priority
    assert book.snapshot()[0] == [(1, 100, 20), (2, 100, 30)]
    assert book.amend(1, 100, 40).fills == []
    assert book.snapshot()[0] == [(2, 100, 30), (1, 100, 40)]
    book.order(B, SELL, 120, 10)
    outcome = book.amend(2, 120, 30)
    assert (outcome.kept_priority, outcome.fills) == (False, [Fill(3, 120, 10)])
    assert book.snapshot()[0] == [(2, 120, 20), (1, 100, 40)]


def test_cancel_returns_the_remainder_and_refuses_unknown_orders() -> None:
    book = Book()
    book.order(A, BUY, 100, 30)
    book.order(B, SELL, 100, 10)
    assert book.cancel(1) == 20
    with pytest.raises(KeyError):
        book.cancel(1)
