"""Self-trade prevention: cancel-taker (default), cancel-maker and cancel-both."""

from __future__ import annotations

import pytest

from wcx.engine import CancelReason, OrderType, PlaceOrder, Reject, SelfTradePrevention, Side, TimeInForce
from wcx.engine.events import OrderAccepted, OrderCancelled, OrderFilled

from .conftest import BTC_USDT, A, B, C, Exchange, btc, kinds, of, only, usdt

STP = SelfTradePrevention


@pytest.fixture
def queue(h: Exchange) -> tuple[int, int, int]:
    """Asks at 100 in time order: B 1 BTC, A 1 BTC, C 1 BTC; A also has 1000 USDT."""
    ids = (
        h.rest(B, Side.SELL, "100", "1"),
        h.rest(A, Side.SELL, "100", "1"),
        h.rest(C, Side.SELL, "100", "1"),
    )
    h.fund(A, "USDT", usdt("1000"))
    return ids


def test_cancel_taker_is_the_default(h: Exchange) -> None:
    assert PlaceOrder(A, BTC_USDT, Side.BUY).stp is STP.CANCEL_TAKER
    h.fund(A, "USDT", usdt("1000"))
    assert only(h.buy(A, "100", "1"), OrderAccepted).stp is STP.CANCEL_TAKER


def test_cancel_taker_trades_with_others_then_cancels_the_incoming_order(
    h: Exchange, queue: tuple[int, int, int]
) -> None:
    events = h.buy(A, "100", "3")
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderCancelled"]
    taker = only(events, OrderAccepted).order_id
    assert only(events, OrderFilled).maker_order_id == queue[0]
    assert events[2] == OrderCancelled(
        h.seq, h.seq * 1000, taker, A, BTC_USDT, btc("2"), CancelReason.SELF_TRADE, ""
    )
    assert h.queue() == [queue[1], queue[2]]
    assert h.balance(A, "USDT") == (usdt("899.8"), 0)
    assert h.balance(A, "BTC") == (btc("1"), btc("1"))
    assert h.open_orders(A) == [queue[1]]


def test_cancel_maker_cancels_the_resting_order_and_keeps_trading_with_others(
    h: Exchange, queue: tuple[int, int, int]
) -> None:
    events = h.buy(A, "100", "3", stp=STP.CANCEL_MAKER)
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderCancelled", "OrderFilled"]
    taker = only(events, OrderAccepted).order_id
    assert [f.maker_order_id for f in of(events, OrderFilled)] == [queue[0], queue[2]]
    assert events[2] == OrderCancelled(
        h.seq, h.seq * 1000, queue[1], A, BTC_USDT, btc("1"), CancelReason.SELF_TRADE, ""
    )
    # The unfilled third BTC rests as a bid now that no ask is left.
    assert h.queue() == [taker]
    assert h.bids() == [(usdt("100"), btc("1"))]
    assert h.balance(A, "BTC") == (btc("3"), 0)
    assert h.balance(A, "USDT") == (usdt("1000") - usdt("200.4") - usdt("100.2"), usdt("100.2"))


def test_cancel_both_cancels_the_resting_and_the_incoming_order(
    h: Exchange, queue: tuple[int, int, int]
) -> None:
    events = h.buy(A, "100", "3", stp=STP.CANCEL_BOTH)
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderCancelled", "OrderCancelled"]
    taker = only(events, OrderAccepted).order_id
    cancelled = of(events, OrderCancelled)
    assert [(c.order_id, c.remaining, c.reason) for c in cancelled] == [
        (queue[1], btc("1"), CancelReason.SELF_TRADE),
        (taker, btc("2"), CancelReason.SELF_TRADE),
    ]
    assert h.queue() == [queue[2]]
    assert h.balance(A, "BTC") == (btc("2"), 0)
    assert h.balance(A, "USDT") == (usdt("899.8"), 0)
    assert h.open_orders(A) == []


def test_cancel_taker_against_own_best_order_trades_nothing(h: Exchange) -> None:
    own = h.rest(A, Side.SELL, "100", "1")
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "1")
    assert kinds(events) == ["OrderAccepted", "OrderCancelled"]
    assert only(events, OrderCancelled).remaining == btc("1")
    assert h.balance(A, "USDT") == (usdt("1000"), 0)
    assert h.open_orders(A) == [own]


def test_cancel_maker_on_a_sell_taker_releases_the_own_bid(h: Exchange) -> None:
    own = h.rest(A, Side.BUY, "100", "1")
    other = h.rest(B, Side.BUY, "99", "1")
    h.fund(A, "BTC", btc("1"))
    events = h.sell(A, "99", "1", stp=STP.CANCEL_MAKER)
    assert kinds(events) == ["OrderAccepted", "OrderCancelled", "OrderFilled"]
    assert only(events, OrderCancelled).order_id == own
    fill = only(events, OrderFilled)
    assert (fill.maker_order_id, fill.price) == (other, usdt("99"))
    assert h.balance(A, "USDT") == (usdt("100.2") + usdt("99") - usdt("0.198"), 0)
    assert h.bids() == []


@pytest.mark.parametrize("stp", [STP.CANCEL_TAKER, STP.CANCEL_BOTH])
def test_fok_that_would_meet_its_own_order_is_rejected(
    h: Exchange, queue: tuple[int, int, int], stp: STP
) -> None:
    command = PlaceOrder(
        A, BTC_USDT, Side.BUY, tif=TimeInForce.FOK, price=usdt("100"), quantity=btc("2"), stp=stp
    )
    assert h.reject(command) is Reject.FOK_CANNOT_FILL


def test_fok_with_cancel_maker_fills_from_the_other_accounts(
    h: Exchange, queue: tuple[int, int, int]
) -> None:
    events = h.buy(A, "100", "2", tif=TimeInForce.FOK, stp=STP.CANCEL_MAKER)
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderCancelled", "OrderFilled"]
    assert h.asks() == []
    assert h.balance(A, "BTC") == (btc("3"), 0)


def test_fok_with_cancel_maker_still_needs_enough_from_others(
    h: Exchange, queue: tuple[int, int, int]
) -> None:
    command = PlaceOrder(
        A,
        BTC_USDT,
        Side.BUY,
        tif=TimeInForce.FOK,
        price=usdt("100"),
        quantity=btc("2.5"),
        stp=STP.CANCEL_MAKER,
    )
    assert h.reject(command) is Reject.FOK_CANNOT_FILL


def test_market_buy_by_quote_meeting_its_own_order_is_cancelled_and_refunded(h: Exchange) -> None:
    h.rest(A, Side.SELL, "100", "1")
    h.rest(B, Side.SELL, "101", "1")
    h.fund(A, "USDT", usdt("500"))
    events = h.apply(PlaceOrder(A, BTC_USDT, Side.BUY, OrderType.MARKET, quote_amount=usdt("500")))
    assert kinds(events) == ["OrderAccepted", "OrderCancelled"]
    assert only(events, OrderCancelled).reason is CancelReason.SELF_TRADE
    assert h.balance(A, "USDT") == (usdt("500"), 0)


def test_market_buy_by_quantity_with_cancel_maker_reaches_past_its_own_order(h: Exchange) -> None:
    h.rest(A, Side.SELL, "100", "1")
    other = h.rest(B, Side.SELL, "101", "1")
    h.fund(A, "USDT", usdt("1000"))
    events = h.apply(
        PlaceOrder(A, BTC_USDT, Side.BUY, OrderType.MARKET, quantity=btc("1"), stp=STP.CANCEL_MAKER)
    )
    # No price bound was given and B offers 1 BTC: the order should fill there after cancelling A's ask.
    fill = only(events, OrderFilled)
    assert (fill.maker_order_id, fill.price, fill.quantity) == (other, usdt("101"), btc("1"))
    assert h.balance(A, "USDT") == (usdt("898.798"), 0)
    assert h.asks() == []
