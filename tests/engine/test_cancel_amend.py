"""Cancels (one, by client id, all) and amends (priority, holds, re-matching, rejections)."""

from __future__ import annotations

import pytest

from wcx.engine import AmendOrder, CancelAll, CancelOrder, CancelReason, PlaceOrder, Reject, Side
from wcx.engine.events import OrderAccepted, OrderAmended, OrderCancelled, OrderFilled, OrderRejected

from .conftest import BTC_USDT, A, B, C, D, Exchange, btc, kinds, of, only, units, usdt


def test_cancel_by_order_id_releases_the_hold(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1", client_order_id="c-1")
    events = h.apply(CancelOrder(A, order_id=order))
    assert events == [
        OrderCancelled(h.seq, h.seq * 1000, order, A, BTC_USDT, btc("1"), CancelReason.USER, "c-1")
    ]
    assert h.balance(A, "USDT") == (usdt("100.2"), 0)
    assert h.bids() == []
    assert h.open_orders(A) == []


def test_cancel_by_client_order_id(h: Exchange) -> None:
    order = h.rest(A, Side.SELL, "100", "1", client_order_id="mine")
    cancelled = only(h.apply(CancelOrder(A, client_order_id="mine")), OrderCancelled)
    assert (cancelled.order_id, cancelled.client_order_id) == (order, "mine")
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert "mine" not in h.engine.state.accounts[A].client_ids


def test_cancel_of_a_partly_filled_buy_releases_only_the_rest(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1")
    h.fund(B, "BTC", btc("0.4"))
    h.sell(B, "100", "0.4")
    # 40 + 0.04 maker fee paid; the unused 0.04 of the fee reserve was freed at the fill.
    assert h.balance(A, "USDT") == (usdt("0.04"), usdt("60.12"))
    cancelled = only(h.apply(CancelOrder(A, order_id=order)), OrderCancelled)
    assert cancelled.remaining == btc("0.6")
    assert h.balance(A, "USDT") == (usdt("60.16"), 0)
    assert h.balance(A, "BTC") == (btc("0.4"), 0)


def test_admin_cancel_says_so(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1")
    assert (
        only(h.apply(CancelOrder(A, order_id=order, admin=True)), OrderCancelled).reason is CancelReason.ADMIN
    )


def test_cancel_of_another_accounts_order_is_not_owner(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1", client_order_id="a-1")
    events = h.apply_unchanged(CancelOrder(B, order_id=order))
    assert events == [OrderRejected(h.seq, h.seq * 1000, B, "", Reject.NOT_OWNER, order, "")]
    # Client order ids are looked up in the caller's own account only.
    assert h.reject(CancelOrder(B, client_order_id="a-1")) is Reject.UNKNOWN_ORDER


def test_cancel_of_unknown_or_closed_orders_is_unknown_order(h: Exchange) -> None:
    cancelled = h.rest(A, Side.BUY, "100", "1")
    h.apply(CancelOrder(A, order_id=cancelled))
    filled = h.rest(A, Side.SELL, "100", "1")
    h.fund(B, "USDT", usdt("1000"))
    h.buy(B, "100", "1")
    for order_id in (cancelled, filled, 999):
        assert h.reject(CancelOrder(A, order_id=order_id)) is Reject.UNKNOWN_ORDER
    assert h.reject(CancelOrder(A, client_order_id="never")) is Reject.UNKNOWN_ORDER
    assert h.reject(CancelOrder(77, client_order_id="never")) is Reject.UNKNOWN_ORDER


def test_cancel_without_any_id_is_invalid(h: Exchange) -> None:
    assert h.reject(CancelOrder(A)) is Reject.INVALID_ORDER


@pytest.fixture
def spread(h: Exchange) -> dict[str, int]:
    """A: a bid and an ask on BTC-USDT and a bid on ETH-USDT; B: a bid on BTC-USDT."""
    ids = {
        "a_btc_bid": h.rest(A, Side.BUY, "100", "1"),
        "a_btc_ask": h.rest(A, Side.SELL, "110", "0.5"),
        "b_btc_bid": h.rest(B, Side.BUY, "99", "1"),
    }
    h.fund(A, "USDT", usdt("32.064"))
    eth = h.apply(PlaceOrder(A, "ETH-USDT", Side.BUY, price=usdt("3200"), quantity=units("0.01", "ETH")))
    ids["a_eth_bid"] = only(eth, OrderAccepted).order_id
    return ids


def test_cancel_all_cancels_every_order_of_the_account_only(h: Exchange, spread: dict[str, int]) -> None:
    events = h.apply(CancelAll(A))
    assert sorted(c.order_id for c in of(events, OrderCancelled)) == sorted(
        [spread["a_btc_bid"], spread["a_btc_ask"], spread["a_eth_bid"]]
    )
    assert {c.reason for c in of(events, OrderCancelled)} == {CancelReason.CANCEL_ALL}
    assert h.open_orders(A) == []
    assert h.open_orders(B) == [spread["b_btc_bid"]]
    assert h.balance(A, "USDT") == (usdt("100.2") + usdt("32.064"), 0)
    assert h.balance(A, "BTC") == (btc("0.5"), 0)


def test_cancel_all_in_one_market_leaves_the_others(h: Exchange, spread: dict[str, int]) -> None:
    events = h.apply(CancelAll(A, symbol=BTC_USDT))
    assert kinds(events) == ["OrderCancelled", "OrderCancelled"]
    assert h.open_orders(A) == [spread["a_eth_bid"]]
    assert h.balance(A, "USDT") == (usdt("100.2"), usdt("32.064"))


def test_admin_cancel_all_says_so(h: Exchange, spread: dict[str, int]) -> None:
    events = h.apply(CancelAll(B, admin=True))
    assert [(c.order_id, c.reason) for c in of(events, OrderCancelled)] == [
        (spread["b_btc_bid"], CancelReason.ADMIN)
    ]


def test_cancel_all_of_an_unknown_market_is_rejected(h: Exchange, spread: dict[str, int]) -> None:
    assert h.reject(CancelAll(A, symbol="DOGE-USDT")) is Reject.UNKNOWN_MARKET


def test_cancel_all_with_nothing_open_does_nothing(h: Exchange, spread: dict[str, int]) -> None:
    assert h.apply_unchanged(CancelAll(C)) == []
    h.fund(D, "USDT", 1)
    assert h.apply_unchanged(CancelAll(D)) == []


def test_amend_quantity_down_keeps_priority_and_releases_base(h: Exchange) -> None:
    first = h.rest(B, Side.SELL, "100", "1")
    second = h.rest(C, Side.SELL, "100", "1")
    events = h.apply(AmendOrder(B, order_id=first, quantity=btc("0.5")))
    assert events == [
        OrderAmended(
            h.seq, h.seq * 1000, first, B, BTC_USDT, usdt("100"), btc("0.5"), btc("0.5"), True, btc("0.5")
        )
    ]
    assert h.balance(B, "BTC") == (btc("0.5"), btc("0.5"))
    assert h.queue() == [first, second]
    assert h.asks() == [(usdt("100"), btc("1.5"))]
    h.fund(A, "USDT", usdt("1000"))
    assert only(h.buy(A, "100", "0.5"), OrderFilled).maker_order_id == first


def test_amend_quantity_down_on_a_buy_releases_quote(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1")
    amended = only(h.apply(AmendOrder(A, order_id=order, quantity=btc("0.4"))), OrderAmended)
    assert (amended.kept_priority, amended.hold) == (True, usdt("40.08"))
    assert h.balance(A, "USDT") == (usdt("60.12"), usdt("40.08"))
    assert h.bids() == [(usdt("100"), btc("0.4"))]


def test_amend_of_a_partly_filled_order_counts_the_filled_part(h: Exchange) -> None:
    order = h.rest(A, Side.SELL, "100", "1")
    h.fund(B, "USDT", usdt("1000"))
    h.buy(B, "100", "0.6")
    amended = only(h.apply(AmendOrder(A, order_id=order, quantity=btc("0.8"))), OrderAmended)
    assert (amended.quantity, amended.remaining, amended.kept_priority) == (btc("0.8"), btc("0.2"), True)
    assert h.balance(A, "BTC") == (btc("0.2"), btc("0.2"))
    assert h.asks() == [(usdt("100"), btc("0.2"))]


@pytest.mark.parametrize("quantity", ["0.6", "0.5"])
def test_amend_to_no_more_than_the_filled_quantity_is_rejected(h: Exchange, quantity: str) -> None:
    order = h.rest(A, Side.SELL, "100", "1")
    h.fund(B, "USDT", usdt("1000"))
    h.buy(B, "100", "0.6")
    assert h.reject(AmendOrder(A, order_id=order, quantity=btc(quantity))) is Reject.INVALID_QUANTITY


def test_amend_quantity_up_loses_priority(h: Exchange) -> None:
    first = h.rest(B, Side.SELL, "100", "1")
    second = h.rest(C, Side.SELL, "100", "1")
    h.fund(B, "BTC", btc("1"))
    amended = only(h.apply(AmendOrder(B, order_id=first, quantity=btc("2"))), OrderAmended)
    assert (amended.kept_priority, amended.hold) == (False, btc("2"))
    assert h.queue() == [second, first]
    assert h.balance(B, "BTC") == (0, btc("2"))


def test_amend_price_loses_priority_and_moves_level(h: Exchange) -> None:
    first = h.rest(B, Side.SELL, "100", "1")
    second = h.rest(C, Side.SELL, "100", "1")
    amended = only(h.apply(AmendOrder(B, order_id=first, price=usdt("100.5"))), OrderAmended)
    assert (amended.price, amended.kept_priority) == (usdt("100.5"), False)
    assert h.asks() == [(usdt("100"), btc("1")), (usdt("100.5"), btc("1"))]
    assert h.queue() == [second, first]


@pytest.fixture
def moved_from_the_middle(h: Exchange) -> tuple[int, int, int]:
    """Asks of B, C and D at 100 in that order; then C's, in the middle of the queue, moves to 101."""
    ids = h.rest(B, Side.SELL, "100", "1"), h.rest(C, Side.SELL, "100", "1"), h.rest(D, Side.SELL, "100", "1")
    h.apply(AmendOrder(C, order_id=ids[1], price=usdt("101")))
    return ids


def test_order_moved_away_from_the_middle_of_a_level_is_listed_once(
    h: Exchange, moved_from_the_middle: tuple[int, int, int]
) -> None:
    first, moved, third = moved_from_the_middle
    assert h.queue() == [first, third, moved]


def test_order_moved_away_from_the_middle_of_a_level_no_longer_trades_there(
    h: Exchange, moved_from_the_middle: tuple[int, int, int]
) -> None:
    first, _, third = moved_from_the_middle
    h.fund(A, "USDT", usdt("1000"))
    fills = of(h.buy(A, "100", "2"), OrderFilled)
    assert [(f.maker_order_id, f.price) for f in fills] == [(first, usdt("100")), (third, usdt("100"))]
    assert h.asks() == [(usdt("101"), btc("1"))]


def test_amend_price_across_the_spread_trades_as_taker(h: Exchange) -> None:
    bid = h.rest(A, Side.BUY, "99", "1")
    ask = h.rest(B, Side.SELL, "101", "1")
    events = h.apply(AmendOrder(B, order_id=ask, price=usdt("99")))
    assert kinds(events) == ["OrderAmended", "OrderFilled"]
    fill = only(events, OrderFilled)
    assert (fill.maker_order_id, fill.taker_order_id, fill.taker_side, fill.price) == (
        bid,
        ask,
        Side.SELL,
        usdt("99"),
    )
    assert (fill.maker_fee, fill.taker_fee) == (usdt("0.099"), usdt("0.198"))
    assert h.balance(B, "USDT") == (usdt("98.802"), 0)
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert h.bids() == h.asks() == []


def test_amended_buy_that_crosses_rests_its_remainder_with_the_exact_hold(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "99", "1")
    h.rest(B, Side.SELL, "100", "0.4")
    h.fund(A, "USDT", usdt("1.002"))
    events = h.apply(AmendOrder(A, order_id=order, price=usdt("100")))
    assert only(events, OrderAmended).hold == usdt("100.2")
    assert only(events, OrderFilled).quantity == btc("0.4")
    assert h.balance(A, "USDT") == (0, usdt("60.12"))
    assert h.bids() == [(usdt("100"), btc("0.6"))]


def test_amend_needing_more_funds_than_available_is_rejected(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1")
    h.fund(A, "USDT", usdt("1"))
    assert h.reject(AmendOrder(A, order_id=order, quantity=btc("1.01"))) is Reject.INSUFFICIENT_FUNDS
    assert h.reject(AmendOrder(A, order_id=order, price=usdt("101"))) is Reject.INSUFFICIENT_FUNDS


def test_amend_of_a_post_only_order_that_would_cross_is_rejected(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "99", "1", post_only=True)
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("10"))
    assert h.reject(AmendOrder(A, order_id=order, price=usdt("100"))) is Reject.POST_ONLY_WOULD_CROSS
    assert only(h.apply(AmendOrder(A, order_id=order, price=usdt("99.99"))), OrderAmended).price == usdt(
        "99.99"
    )


@pytest.mark.parametrize(
    ("quantity", "price"),
    [("0", "0"), ("1", "0"), ("0", "100"), ("1", "100")],
)
def test_amend_that_changes_nothing_is_rejected(h: Exchange, quantity: str, price: str) -> None:
    order = h.rest(A, Side.BUY, "100", "1")
    command = AmendOrder(A, order_id=order, quantity=btc(quantity), price=usdt(price))
    assert h.reject(command) is Reject.NOTHING_TO_AMEND


@pytest.mark.parametrize(
    ("quantity", "price", "code"),
    [
        ("0", "100.001", Reject.BAD_TICK),
        ("0.50005", "0", Reject.BAD_STEP),
        ("0.0001", "0", Reject.BELOW_MIN_NOTIONAL),
        ("1000.0001", "0", Reject.ABOVE_MAX_QUANTITY),
    ],
)
def test_amend_to_invalid_values_is_rejected(h: Exchange, quantity: str, price: str, code: Reject) -> None:
    order = h.rest(A, Side.SELL, "100", "1")
    h.fund(A, "BTC", btc("1000"))
    assert h.reject(AmendOrder(A, order_id=order, quantity=btc(quantity), price=usdt(price))) is code


def test_amend_of_another_accounts_order_is_not_owner(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1")
    h.fund(B, "USDT", usdt("1000"))
    assert h.reject(AmendOrder(B, order_id=order, quantity=btc("0.5"))) is Reject.NOT_OWNER


def test_amend_of_an_unknown_order_or_without_id_is_rejected(h: Exchange) -> None:
    h.rest(A, Side.BUY, "100", "1", client_order_id="x")
    assert h.reject(AmendOrder(A, order_id=999, quantity=btc("0.5"))) is Reject.UNKNOWN_ORDER
    assert h.reject(AmendOrder(B, client_order_id="x", quantity=btc("0.5"))) is Reject.UNKNOWN_ORDER
    assert h.reject(AmendOrder(A, quantity=btc("0.5"))) is Reject.INVALID_ORDER


def test_amend_by_client_order_id(h: Exchange) -> None:
    order = h.rest(A, Side.BUY, "100", "1", client_order_id="x")
    amended = only(h.apply(AmendOrder(A, client_order_id="x", quantity=btc("0.5"))), OrderAmended)
    assert (amended.order_id, amended.quantity) == (order, btc("0.5"))
