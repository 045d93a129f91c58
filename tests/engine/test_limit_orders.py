"""Limit orders: resting, fills, priority, time in force, post-only, validation and client order ids."""

from __future__ import annotations

import pytest

from wcx.engine import (
    AddAsset,
    AddMarket,
    CancelOrder,
    Event,
    ExpireReason,
    OrderType,
    PlaceOrder,
    Reject,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from wcx.engine.events import OrderAccepted, OrderExpired, OrderFilled, OrderRejected
from wcx.engine.state import FEE_ACCOUNT

from .conftest import BTC_USDT, A, B, C, D, Exchange, btc, kinds, of, only, usdt


def fill_rows(events: list[Event]) -> list[tuple[int, int, int, int, int, int, int, int]]:
    """(price, qty, quote, maker id, maker fee, maker remaining, taker fee, taker remaining) per trade."""
    return [
        (
            e.price,
            e.quantity,
            e.quote_quantity,
            e.maker_order_id,
            e.maker_fee,
            e.maker_remaining,
            e.taker_fee,
            e.taker_remaining,
        )
        for e in events
        if isinstance(e, OrderFilled)
    ]


def test_gtc_buy_rests_holding_notional_plus_the_larger_fee(h: Exchange) -> None:
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "1", client_order_id="my-1")
    assert events == [
        OrderAccepted(
            h.seq,
            h.seq * 1000,
            1,
            A,
            BTC_USDT,
            Side.BUY,
            OrderType.LIMIT,
            TimeInForce.GTC,
            usdt("100"),
            btc("1"),
            0,
            usdt("100.2"),
            False,
            "my-1",
            SelfTradePrevention.CANCEL_TAKER,
        )
    ]
    assert h.balance(A, "USDT") == (usdt("899.8"), usdt("100.2"))
    assert h.bids() == [(usdt("100"), btc("1"))]
    assert h.asks() == []
    assert h.open_orders(A) == [1]


def test_gtc_sell_rests_holding_base(h: Exchange) -> None:
    h.fund(A, "BTC", btc("2"))
    accepted = only(h.sell(A, "100", "1.5"), OrderAccepted)
    assert accepted.hold == btc("1.5")
    assert h.balance(A, "BTC") == (btc("0.5"), btc("1.5"))
    assert h.balance(A, "USDT") == (0, 0)
    assert h.asks() == [(usdt("100"), btc("1.5"))]


def test_exact_fill_settles_both_sides_and_charges_fees_in_quote(h: Exchange) -> None:
    maker = h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "1")
    assert kinds(events) == ["OrderAccepted", "OrderFilled"]
    assert events[1] == OrderFilled(
        h.seq,
        h.seq * 1000,
        1,
        BTC_USDT,
        usdt("100"),
        btc("1"),
        usdt("100"),
        Side.BUY,
        maker,
        B,
        usdt("0.1"),
        0,
        maker + 1,
        A,
        usdt("0.2"),
        0,
    )
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert h.balance(A, "USDT") == (usdt("899.8"), 0)
    assert h.balance(B, "BTC") == (0, 0)
    assert h.balance(B, "USDT") == (usdt("99.9"), 0)
    assert h.balance(FEE_ACCOUNT, "USDT") == (usdt("0.3"), 0)
    assert h.bids() == h.asks() == []
    assert h.open_orders(A) == h.open_orders(B) == []


def test_partial_fill_rests_the_taker_remainder_with_its_exact_hold(h: Exchange) -> None:
    maker = h.rest(B, Side.SELL, "100", "0.4")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "1")
    assert fill_rows(events) == [
        (usdt("100"), btc("0.4"), usdt("40"), maker, usdt("0.04"), 0, usdt("0.08"), btc("0.6"))
    ]
    # 40 + 0.08 spent; 60 + 0.12 still held for the 0.6 left.
    assert h.balance(A, "USDT") == (usdt("899.8"), usdt("60.12"))
    assert h.balance(A, "BTC") == (btc("0.4"), 0)
    assert h.bids() == [(usdt("100"), btc("0.6"))]
    assert h.asks() == []


def test_partial_fill_keeps_the_maker_remainder_on_the_book(h: Exchange) -> None:
    maker = h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "0.25")
    assert fill_rows(events) == [
        (usdt("100"), btc("0.25"), usdt("25"), maker, usdt("0.025"), btc("0.75"), usdt("0.05"), 0)
    ]
    assert h.balance(B, "BTC") == (0, btc("0.75"))
    assert h.balance(B, "USDT") == (usdt("24.975"), 0)
    assert h.balance(A, "USDT") == (usdt("974.95"), 0)
    assert h.asks() == [(usdt("100"), btc("0.75"))]
    assert h.bids() == []


def test_taker_walks_several_levels_at_each_makers_price(h: Exchange) -> None:
    first = h.rest(B, Side.SELL, "100", "0.5")
    second = h.rest(C, Side.SELL, "101", "0.5")
    third = h.rest(B, Side.SELL, "102", "1")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "102", "1.2")
    assert fill_rows(events) == [
        (usdt("100"), btc("0.5"), usdt("50"), first, usdt("0.05"), 0, usdt("0.1"), btc("0.7")),
        (usdt("101"), btc("0.5"), usdt("50.5"), second, usdt("0.0505"), 0, usdt("0.101"), btc("0.2")),
        (usdt("102"), btc("0.2"), usdt("20.4"), third, usdt("0.0204"), btc("0.8"), usdt("0.0408"), 0),
    ]
    assert [e.trade_id for e in of(events, OrderFilled)] == [1, 2, 3]
    assert h.balance(A, "USDT") == (usdt("878.8582"), 0)
    assert h.balance(A, "BTC") == (btc("1.2"), 0)
    assert h.balance(B, "USDT") == (usdt("50") - usdt("0.05") + usdt("20.4") - usdt("0.0204"), 0)
    assert h.balance(C, "USDT") == (usdt("50.4495"), 0)
    assert h.asks() == [(usdt("102"), btc("0.8"))]


def test_buy_price_improvement_trades_at_the_maker_price_and_releases_the_excess(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("101.202"))
    events = h.buy(A, "101", "1")
    assert only(events, OrderAccepted).hold == usdt("101.202")
    trade = only(events, OrderFilled)
    assert (trade.price, trade.quote_quantity, trade.taker_fee) == (usdt("100"), usdt("100"), usdt("0.2"))
    assert h.balance(A, "USDT") == (usdt("1.002"), 0)
    assert h.balance(A, "BTC") == (btc("1"), 0)


def test_sell_price_improvement_trades_at_the_bid_and_the_maker_gets_its_fee_reserve_back(
    h: Exchange,
) -> None:
    h.rest(B, Side.BUY, "100", "1")
    assert h.balance(B, "USDT") == (0, usdt("100.2"))
    h.fund(A, "BTC", btc("1"))
    trade = only(h.sell(A, "99", "1"), OrderFilled)
    assert (trade.price, trade.taker_side, trade.maker_fee, trade.taker_fee) == (
        usdt("100"),
        Side.SELL,
        usdt("0.1"),
        usdt("0.2"),
    )
    assert h.balance(A, "USDT") == (usdt("99.8"), 0)
    assert h.balance(A, "BTC") == (0, 0)
    # The maker reserved the 0.2 taker rate but pays the 0.1 maker rate.
    assert h.balance(B, "USDT") == (usdt("0.1"), 0)
    assert h.balance(B, "BTC") == (btc("1"), 0)


def test_orders_at_one_price_fill_oldest_first(h: Exchange) -> None:
    first = h.rest(B, Side.SELL, "100", "1")
    second = h.rest(C, Side.SELL, "100", "1")
    third = h.rest(D, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    fills = of(h.buy(A, "100", "1.5"), OrderFilled)
    assert [(f.maker_order_id, f.quantity) for f in fills] == [(first, btc("1")), (second, btc("0.5"))]
    assert h.queue() == [second, third]
    assert h.asks() == [(usdt("100"), btc("1.5"))]


def test_better_price_beats_earlier_time(h: Exchange) -> None:
    h.rest(B, Side.BUY, "100", "1")
    better = h.rest(C, Side.BUY, "100.01", "1")
    h.fund(A, "BTC", btc("1"))
    fill = only(h.sell(A, "100", "1"), OrderFilled)
    assert (fill.maker_order_id, fill.price) == (better, usdt("100.01"))


def test_ioc_remainder_expires_and_its_hold_is_released(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "0.4")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "1", tif=TimeInForce.IOC, client_order_id="ioc-1")
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderExpired"]
    order_id = only(events, OrderAccepted).order_id
    assert events[2] == OrderExpired(
        h.seq, h.seq * 1000, order_id, A, BTC_USDT, btc("0.6"), ExpireReason.IOC, "ioc-1"
    )
    assert h.balance(A, "USDT") == (usdt("959.92"), 0)
    assert h.bids() == h.asks() == []
    assert h.open_orders(A) == []


def test_ioc_that_does_not_cross_expires_whole(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "BTC", btc("1"))
    h.fund(C, "USDT", usdt("1000"))
    events = h.buy(C, "99.99", "1", tif=TimeInForce.IOC)
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    assert only(events, OrderExpired).remaining == btc("1")
    assert h.balance(C, "USDT") == (usdt("1000"), 0)
    assert h.bids() == []


def test_fok_that_can_fill_walks_levels_completely(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "0.5")
    h.rest(C, Side.SELL, "101", "0.5")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "101", "1", tif=TimeInForce.FOK)
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    assert [f.taker_remaining for f in of(events, OrderFilled)] == [btc("0.5"), 0]
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert h.balance(A, "USDT") == (usdt("1000") - usdt("100.5") - usdt("0.201"), 0)
    assert h.asks() == []


@pytest.mark.parametrize(
    ("levels", "limit"),
    [
        ([("100", "0.5")], "100"),  # not enough quantity at all
        ([("100", "0.5"), ("102", "0.5")], "101"),  # enough only beyond the limit price
    ],
)
def test_fok_that_cannot_fill_is_rejected_without_any_effect(
    h: Exchange, levels: list[tuple[str, str]], limit: str
) -> None:
    for price, quantity in levels:
        h.rest(B, Side.SELL, price, quantity)
    h.fund(A, "USDT", usdt("1000"))
    command = PlaceOrder(A, BTC_USDT, Side.BUY, tif=TimeInForce.FOK, price=usdt(limit), quantity=btc("1"))
    assert h.reject(command) is Reject.FOK_CANNOT_FILL


def test_fok_sell_fills_exactly_the_bid_quantity(h: Exchange) -> None:
    h.rest(B, Side.BUY, "100", "0.3")
    h.rest(C, Side.BUY, "99", "0.7")
    h.fund(A, "BTC", btc("1"))
    events = h.sell(A, "99", "1", tif=TimeInForce.FOK)
    assert [(f.price, f.quantity) for f in of(events, OrderFilled)] == [
        (usdt("100"), btc("0.3")),
        (usdt("99"), btc("0.7")),
    ]
    assert h.balance(A, "USDT") == (usdt("99.3") - usdt("0.1986"), 0)


def test_post_only_rests_when_it_does_not_cross(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "99.99", "1", post_only=True)
    assert kinds(events) == ["OrderAccepted"]
    assert only(events, OrderAccepted).post_only
    assert h.bids() == [(usdt("99.99"), btc("1"))]


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, "100"), (Side.BUY, "101"), (Side.SELL, "99")])
def test_post_only_that_would_cross_is_rejected_without_any_effect(
    h: Exchange, side: Side, price: str
) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.rest(B, Side.BUY, "99", "1")
    h.fund(A, "USDT", usdt("1000"))
    h.fund(A, "BTC", btc("1"))
    command = PlaceOrder(A, BTC_USDT, side, price=usdt(price), quantity=btc("1"), post_only=True)
    assert h.reject(command) is Reject.POST_ONLY_WOULD_CROSS


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_post_only_must_be_gtc(h: Exchange, tif: TimeInForce) -> None:
    h.fund(A, "USDT", usdt("1000"))
    command = PlaceOrder(A, BTC_USDT, Side.BUY, tif=tif, price=usdt("100"), quantity=btc("1"), post_only=True)
    assert h.reject(command) is Reject.INVALID_ORDER


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize(
    ("price", "quantity", "code"),
    [
        ("100.001", "1", Reject.BAD_TICK),
        ("100", "1.00005", Reject.BAD_STEP),
        ("0", "1", Reject.INVALID_PRICE),
        ("-100", "1", Reject.INVALID_PRICE),
        ("100", "0", Reject.INVALID_QUANTITY),
        ("100", "-1", Reject.INVALID_QUANTITY),
        ("100", "1000.0001", Reject.ABOVE_MAX_QUANTITY),
        ("100", "0.0001", Reject.BELOW_MIN_NOTIONAL),
        ("99.99", "0.05", Reject.BELOW_MIN_NOTIONAL),
    ],
)
def test_invalid_limit_orders_are_rejected_without_any_effect(
    h: Exchange, side: Side, price: str, quantity: str, code: Reject
) -> None:
    h.fund(A, "USDT", usdt("1000000"))
    h.fund(A, "BTC", btc("2000"))
    command = PlaceOrder(A, BTC_USDT, side, price=usdt(price), quantity=btc(quantity))
    assert h.reject(command) is code


def test_min_notional_is_inclusive(h: Exchange) -> None:
    h.fund(A, "USDT", usdt("10"))
    assert only(h.buy(A, "100", "0.05"), OrderAccepted).hold == usdt("5.01")


def test_below_min_quantity_on_a_market_whose_minimum_exceeds_the_step(h: Exchange) -> None:
    h.apply(AddAsset("SOL", 9))
    h.apply(AddMarket("SOL-USDT", "SOL", "USDT", usdt("0.001"), 10**7, 10**8, 10**11))
    h.fund(A, "USDT", usdt("10"))
    below = PlaceOrder(A, "SOL-USDT", Side.BUY, price=usdt("10"), quantity=9 * 10**7)
    assert h.reject(below) is Reject.BELOW_MIN_QUANTITY
    accepted = only(
        h.apply(PlaceOrder(A, "SOL-USDT", Side.BUY, price=usdt("10"), quantity=10**8)), OrderAccepted
    )
    assert accepted.hold == usdt("1.002")


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (PlaceOrder(A, "DOGE-USDT", Side.BUY, price=usdt("1"), quantity=btc("1")), Reject.UNKNOWN_MARKET),
        (PlaceOrder(0, BTC_USDT, Side.BUY, price=usdt("100"), quantity=btc("1")), Reject.INVALID_ACCOUNT),
        (
            PlaceOrder(FEE_ACCOUNT, BTC_USDT, Side.SELL, price=usdt("100"), quantity=btc("1")),
            Reject.INVALID_ACCOUNT,
        ),
        (
            PlaceOrder(A, BTC_USDT, Side.BUY, price=usdt("100"), quantity=btc("1"), quote_amount=usdt("100")),
            Reject.INVALID_ORDER,
        ),
    ],
)
def test_malformed_orders_are_rejected_without_any_effect(
    h: Exchange, command: PlaceOrder, code: Reject
) -> None:
    h.fund(A, "USDT", usdt("1000"))
    h.fund(A, "BTC", btc("1"))
    assert h.reject(command) is code


def test_rejection_event_names_account_symbol_and_client_order_id(h: Exchange) -> None:
    events = h.buy(A, "100", "1", client_order_id="c-1")
    assert events == [OrderRejected(h.seq, h.seq * 1000, A, BTC_USDT, Reject.INSUFFICIENT_FUNDS, 0, "c-1")]


def test_buy_needs_notional_plus_fee_reserve_to_the_minor_unit(h: Exchange) -> None:
    h.fund(A, "USDT", usdt("100.199999"))
    assert h.reject(PlaceOrder(A, BTC_USDT, Side.BUY, price=usdt("100"), quantity=btc("1"))) is (
        Reject.INSUFFICIENT_FUNDS
    )
    h.fund(A, "USDT", 1)
    assert kinds(h.buy(A, "100", "1")) == ["OrderAccepted"]
    assert h.balance(A, "USDT") == (0, usdt("100.2"))


def test_sell_needs_the_whole_base_quantity(h: Exchange) -> None:
    h.fund(A, "BTC", btc("0.9999"))
    assert h.reject(PlaceOrder(A, BTC_USDT, Side.SELL, price=usdt("100"), quantity=btc("1"))) is (
        Reject.INSUFFICIENT_FUNDS
    )


def test_held_funds_cannot_back_a_second_order(h: Exchange) -> None:
    h.rest(A, Side.BUY, "100", "1")
    h.fund(A, "USDT", usdt("10"))
    assert h.reject(PlaceOrder(A, BTC_USDT, Side.BUY, price=usdt("100"), quantity=btc("0.1"))) is (
        Reject.INSUFFICIENT_FUNDS
    )


def test_an_account_the_engine_has_never_seen_has_insufficient_funds(h: Exchange) -> None:
    assert h.reject(PlaceOrder(99, BTC_USDT, Side.SELL, price=usdt("100"), quantity=btc("1"))) is (
        Reject.INSUFFICIENT_FUNDS
    )
    assert 99 not in h.engine.state.accounts


def test_duplicate_client_order_id_is_rejected_while_the_first_is_open(h: Exchange) -> None:
    h.rest(A, Side.BUY, "100", "1", client_order_id="dup")
    h.fund(A, "USDT", usdt("1000"))
    command = PlaceOrder(A, BTC_USDT, Side.BUY, price=usdt("99"), quantity=btc("1"), client_order_id="dup")
    assert h.reject(command) is Reject.DUPLICATE_CLIENT_ORDER_ID


def test_client_order_ids_are_per_account(h: Exchange) -> None:
    h.rest(A, Side.BUY, "100", "1", client_order_id="same")
    first = h.engine.state.accounts[A].client_ids["same"].id
    second = h.rest(B, Side.BUY, "100", "1", client_order_id="same")
    assert first != second
    assert h.engine.state.accounts[B].client_ids["same"].id == second


def test_client_order_id_is_reusable_after_cancel(h: Exchange) -> None:
    first = h.rest(A, Side.BUY, "100", "1", client_order_id="again")
    h.apply(CancelOrder(A, client_order_id="again"))
    second = h.rest(A, Side.BUY, "100", "1", client_order_id="again")
    assert second != first
    assert h.open_orders(A) == [second]


def test_client_order_id_is_reusable_after_a_full_fill(h: Exchange) -> None:
    h.rest(A, Side.SELL, "100", "1", client_order_id="sold")
    h.fund(B, "USDT", usdt("1000"))
    h.buy(B, "100", "1")
    assert h.open_orders(A) == []
    h.rest(A, Side.SELL, "100", "1", client_order_id="sold")
    assert h.asks() == [(usdt("100"), btc("1"))]


def test_client_order_id_is_reusable_after_an_ioc_expires(h: Exchange) -> None:
    h.fund(A, "USDT", usdt("1000"))
    assert kinds(h.buy(A, "100", "1", tif=TimeInForce.IOC, client_order_id="ioc")) == [
        "OrderAccepted",
        "OrderExpired",
    ]
    assert kinds(h.buy(A, "100", "1", client_order_id="ioc")) == ["OrderAccepted"]


@pytest.mark.parametrize(
    "client_order_id",
    ["0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 64, "A-z_0.9:~!"],
)
def test_valid_client_order_ids_are_accepted(h: Exchange, client_order_id: str) -> None:
    h.fund(A, "USDT", usdt("1000"))
    accepted = only(h.buy(A, "100", "1", client_order_id=client_order_id), OrderAccepted)
    assert accepted.client_order_id == client_order_id
    assert h.engine.state.accounts[A].client_ids[client_order_id].id == accepted.order_id


@pytest.mark.parametrize("client_order_id", ["x" * 65, "has space", "tab\there", "ordré", "new\nline"])
def test_invalid_client_order_ids_are_rejected(h: Exchange, client_order_id: str) -> None:
    h.fund(A, "USDT", usdt("1000"))
    command = PlaceOrder(
        A, BTC_USDT, Side.BUY, price=usdt("100"), quantity=btc("1"), client_order_id=client_order_id
    )
    assert h.reject(command) is Reject.INVALID_CLIENT_ORDER_ID
