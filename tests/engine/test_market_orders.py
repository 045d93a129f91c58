"""Market orders: by base quantity or quote amount, with and without a protection bound."""

from __future__ import annotations

from typing import Any

import pytest

from wcx.engine import ExpireReason, OrderType, PlaceOrder, Reject, Side, TimeInForce
from wcx.engine.events import OrderAccepted, OrderExpired, OrderFilled
from wcx.engine.state import FEE_ACCOUNT

from .conftest import BTC_USDT, A, B, C, Exchange, btc, kinds, of, only, usdt


def market(side: Side, **fields: Any) -> PlaceOrder:
    """A BTC-USDT market order command from account A."""
    return PlaceOrder(A, BTC_USDT, side, OrderType.MARKET, **fields)


@pytest.fixture
def asks(h: Exchange) -> tuple[int, int]:
    """B offers 0.5 BTC at 100 and C 1 BTC at 101; A has 1000 USDT."""
    ids = h.rest(B, Side.SELL, "100", "0.5"), h.rest(C, Side.SELL, "101", "1")
    h.fund(A, "USDT", usdt("1000"))
    return ids


@pytest.fixture
def bids(h: Exchange) -> tuple[int, int]:
    """B bids 1 BTC at 100 and C 1 BTC at 99; A has 2 BTC."""
    ids = h.rest(B, Side.BUY, "100", "1"), h.rest(C, Side.BUY, "99", "1")
    h.fund(A, "BTC", btc("2"))
    return ids


def test_market_buy_by_quantity_holds_at_the_worst_price_it_needs(h: Exchange, asks: tuple[int, int]) -> None:
    events = h.apply(market(Side.BUY, quantity=btc("1")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    accepted = only(events, OrderAccepted)
    assert (accepted.price, accepted.quantity, accepted.quote_amount) == (0, btc("1"), 0)
    assert accepted.hold == usdt("101.202")
    fills = of(events, OrderFilled)
    assert [(f.maker_order_id, f.price, f.quantity, f.taker_fee) for f in fills] == [
        (asks[0], usdt("100"), btc("0.5"), usdt("0.1")),
        (asks[1], usdt("101"), btc("0.5"), usdt("0.101")),
    ]
    assert h.balance(A, "USDT") == (usdt("899.299"), 0)
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert h.asks() == [(usdt("101"), btc("0.5"))]
    assert h.open_orders(A) == []


def test_market_buy_by_quantity_stops_at_its_price_bound(h: Exchange, asks: tuple[int, int]) -> None:
    events = h.apply(market(Side.BUY, quantity=btc("1"), price=usdt("100")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderExpired"]
    assert only(events, OrderAccepted).hold == usdt("100.2")
    assert only(events, OrderFilled).price == usdt("100")
    assert only(events, OrderExpired).remaining == btc("0.5")
    assert h.balance(A, "USDT") == (usdt("949.9"), 0)
    assert h.asks() == [(usdt("101"), btc("1"))]
    assert h.bids() == []


@pytest.mark.parametrize(
    "command",
    [
        market(Side.BUY, quantity=btc("1"), price=usdt("100")),
        market(Side.BUY, quote_amount=usdt("200"), price=usdt("100")),
    ],
)
def test_market_buy_stopped_by_its_bound_expires_with_reason_price_bound(
    h: Exchange, asks: tuple[int, int], command: PlaceOrder
) -> None:
    # Liquidity remains at 101: the protection bound, not the book, stopped the order.
    assert only(h.apply(command), OrderExpired).reason is ExpireReason.PRICE_BOUND


def test_market_buy_by_quantity_beyond_the_book_expires_the_rest(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "0.5")
    h.fund(A, "USDT", usdt("1000"))
    events = h.apply(market(Side.BUY, quantity=btc("1")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderExpired"]
    expired = only(events, OrderExpired)
    assert (expired.remaining, expired.reason) == (btc("0.5"), ExpireReason.MARKET)
    assert h.balance(A, "USDT") == (usdt("949.9"), 0)
    assert h.asks() == []


def test_market_buy_by_quote_keeps_fees_inside_the_budget_across_levels(
    h: Exchange, asks: tuple[int, int]
) -> None:
    events = h.apply(market(Side.BUY, quote_amount=usdt("100")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled", "OrderExpired"]
    accepted = only(events, OrderAccepted)
    assert (accepted.quantity, accepted.quote_amount, accepted.hold) == (0, usdt("100"), usdt("100"))
    fills = of(events, OrderFilled)
    assert [(f.price, f.quantity, f.quote_quantity, f.taker_fee, f.maker_fee) for f in fills] == [
        (usdt("100"), btc("0.5"), usdt("50"), usdt("0.1"), usdt("0.05")),
        (usdt("101"), btc("0.493"), usdt("49.793"), usdt("0.099586"), usdt("0.049793")),
    ]
    # One more lot at 101 would cost 49.902707 against 49.9 left: the 0.007414 rest is released.
    expired = only(events, OrderExpired)
    assert (expired.remaining, expired.reason) == (0, ExpireReason.MARKET)
    spent = usdt("1000") - h.balance(A, "USDT")[0]
    assert spent == usdt("99.992586") <= usdt("100")
    assert h.balance(A, "USDT")[1] == 0
    assert h.balance(A, "BTC") == (btc("0.993"), 0)
    assert h.balance(FEE_ACCOUNT, "USDT") == (usdt("0.299379"), 0)
    assert h.asks() == [(usdt("101"), btc("0.507"))]


def test_market_buy_by_quote_buys_less_because_the_fee_is_in_the_budget(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("50.05"))
    events = h.apply(market(Side.BUY, quote_amount=usdt("50.05")))
    fill = only(events, OrderFilled)
    # 0.5005 BTC would cost exactly 50.05 before fees; with 20 bps only 0.4995 fits.
    assert (fill.quantity, fill.quote_quantity, fill.taker_fee) == (
        btc("0.4995"),
        usdt("49.95"),
        usdt("0.0999"),
    )
    assert h.balance(A, "USDT") == (usdt("0.0001"), 0)
    assert only(events, OrderExpired).remaining == 0


def test_market_buy_by_quote_that_spends_exactly_its_budget_does_not_expire(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("50.1"))
    events = h.apply(market(Side.BUY, quote_amount=usdt("50.1")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled"]
    assert only(events, OrderFilled).quantity == btc("0.5")
    assert h.balance(A, "USDT") == (0, 0)
    assert h.balance(A, "BTC") == (btc("0.5"), 0)


def test_market_buy_by_quote_that_empties_the_book_releases_the_leftover(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "0.5")
    h.fund(A, "USDT", usdt("1000"))
    events = h.apply(market(Side.BUY, quote_amount=usdt("100")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderExpired"]
    assert h.balance(A, "USDT") == (usdt("949.9"), 0)
    assert h.asks() == []


def test_market_buy_by_quote_with_a_bound_only_takes_levels_within_it(
    h: Exchange, asks: tuple[int, int]
) -> None:
    events = h.apply(market(Side.BUY, quote_amount=usdt("100"), price=usdt("100")))
    assert [f.price for f in of(events, OrderFilled)] == [usdt("100")]
    assert only(events, OrderExpired).remaining == 0
    assert h.balance(A, "USDT") == (usdt("949.9"), 0)
    assert h.asks() == [(usdt("101"), btc("1"))]


def test_market_sell_by_quantity_walks_the_bids(h: Exchange, bids: tuple[int, int]) -> None:
    events = h.apply(market(Side.SELL, quantity=btc("1.5")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    assert only(events, OrderAccepted).hold == btc("1.5")
    fills = of(events, OrderFilled)
    assert [(f.maker_order_id, f.price, f.quantity, f.taker_fee) for f in fills] == [
        (bids[0], usdt("100"), btc("1"), usdt("0.2")),
        (bids[1], usdt("99"), btc("0.5"), usdt("0.099")),
    ]
    assert h.balance(A, "USDT") == (usdt("149.201"), 0)
    assert h.balance(A, "BTC") == (btc("0.5"), 0)
    assert h.bids() == [(usdt("99"), btc("0.5"))]


def test_market_sell_by_quantity_stops_at_its_price_bound(h: Exchange, bids: tuple[int, int]) -> None:
    events = h.apply(market(Side.SELL, quantity=btc("1.5"), price=usdt("100")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderExpired"]
    assert only(events, OrderExpired).remaining == btc("0.5")
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert h.balance(A, "USDT") == (usdt("99.8"), 0)
    assert h.bids() == [(usdt("99"), btc("1"))]


def test_market_sell_by_quote_sells_whole_lots_whose_proceeds_fit_the_amount(
    h: Exchange, bids: tuple[int, int]
) -> None:
    events = h.apply(market(Side.SELL, quote_amount=usdt("150")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    accepted = only(events, OrderAccepted)
    assert (accepted.quantity, accepted.quote_amount, accepted.hold) == (
        btc("1.505"),
        usdt("150"),
        btc("1.505"),
    )
    fills = of(events, OrderFilled)
    assert [(f.price, f.quantity, f.quote_quantity, f.taker_fee) for f in fills] == [
        (usdt("100"), btc("1"), usdt("100"), usdt("0.2")),
        (usdt("99"), btc("0.505"), usdt("49.995"), usdt("0.09999")),
    ]
    assert sum(f.quote_quantity for f in fills) <= usdt("150")
    assert h.balance(A, "USDT") == (usdt("149.69501"), 0)
    assert h.balance(A, "BTC") == (btc("0.495"), 0)


def test_market_sell_by_quote_needs_the_base_it_would_sell(h: Exchange) -> None:
    h.rest(B, Side.BUY, "100", "1")
    h.rest(C, Side.BUY, "99", "1")
    h.fund(A, "BTC", btc("1.5"))
    assert h.reject(market(Side.SELL, quote_amount=usdt("150"))) is Reject.INSUFFICIENT_FUNDS


def test_market_sell_by_quote_smaller_than_one_lot_finds_no_liquidity(h: Exchange) -> None:
    h.rest(B, Side.BUY, "65000.01", "0.0001")
    h.fund(A, "BTC", btc("1"))
    # One lot at 65000.01 is worth 6.500001 USDT, more than the 6 asked for.
    assert h.reject(market(Side.SELL, quote_amount=usdt("6"))) is Reject.NO_LIQUIDITY


@pytest.mark.parametrize(
    "command",
    [
        market(Side.BUY, quantity=btc("1")),
        market(Side.BUY, quote_amount=usdt("100")),
        market(Side.SELL, quantity=btc("1")),
        market(Side.SELL, quote_amount=usdt("100")),
    ],
)
def test_market_order_on_an_empty_opposite_side_finds_no_liquidity(h: Exchange, command: PlaceOrder) -> None:
    # Same-side orders do not count as liquidity.
    h.rest(B, command.side, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    h.fund(A, "BTC", btc("2"))
    assert h.reject(command) is Reject.NO_LIQUIDITY


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (market(Side.BUY, quantity=btc("1"), quote_amount=usdt("100")), Reject.INVALID_ORDER),
        (market(Side.BUY), Reject.INVALID_ORDER),
        (market(Side.SELL, quote_amount=-usdt("100")), Reject.INVALID_ORDER),
        (market(Side.BUY, quantity=btc("1"), post_only=True), Reject.INVALID_ORDER),
        (market(Side.BUY, quote_amount=usdt("100"), tif=TimeInForce.FOK), Reject.INVALID_ORDER),
        (market(Side.BUY, quote_amount=usdt("4.999999")), Reject.BELOW_MIN_NOTIONAL),
        (market(Side.SELL, quote_amount=usdt("4.999999")), Reject.BELOW_MIN_NOTIONAL),
        (market(Side.BUY, quantity=btc("1"), price=usdt("100.001")), Reject.BAD_TICK),
        (market(Side.SELL, quantity=btc("1"), price=-usdt("100")), Reject.INVALID_PRICE),
        (market(Side.SELL, quantity=btc("0.00015")), Reject.BAD_STEP),
        (market(Side.SELL, quantity=btc("1000.0001")), Reject.ABOVE_MAX_QUANTITY),
    ],
)
def test_invalid_market_orders_are_rejected_without_any_effect(
    h: Exchange, bids: tuple[int, int], command: PlaceOrder, code: Reject
) -> None:
    h.rest(B, Side.SELL, "101", "1")
    h.fund(A, "USDT", usdt("1000"))
    assert h.reject(command) is code


def test_market_buy_needs_funds_for_the_worst_price_it_would_reach(
    h: Exchange, asks: tuple[int, int]
) -> None:
    h.fund(C, "USDT", usdt("101.201999"))
    command = PlaceOrder(C, BTC_USDT, Side.BUY, OrderType.MARKET, quantity=btc("1"))
    assert h.reject(command) is Reject.INSUFFICIENT_FUNDS


def test_fok_market_order_fills_completely_or_is_rejected(h: Exchange, bids: tuple[int, int]) -> None:
    assert h.reject(market(Side.SELL, quantity=btc("2.0001"), tif=TimeInForce.FOK)) is Reject.FOK_CANNOT_FILL
    events = h.apply(market(Side.SELL, quantity=btc("2"), tif=TimeInForce.FOK))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    assert h.bids() == []
    assert h.balance(A, "BTC") == (0, 0)
