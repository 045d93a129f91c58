"""Market status: what trading, cancel-only and halted markets allow."""

from __future__ import annotations

import pytest

from wcx.engine import (
    AddAsset,
    AddMarket,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CreditDeposit,
    HoldWithdrawal,
    MarketStatus,
    OrderType,
    PlaceOrder,
    Reject,
    SetMarketStatus,
    Side,
)
from wcx.engine.events import (
    CommandRejected,
    DepositCredited,
    MarketStatusChanged,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    WithdrawalHeld,
)

from .conftest import BTC_USDT, A, B, C, Exchange, btc, kinds, of, only, units, usdt

ETH = units("0.01", "ETH")


@pytest.fixture
def book(h: Exchange) -> dict[str, int]:
    """A bids 1 BTC at 100 and 0.01 ETH at 3200; B offers 1 BTC at 101; A and C have spare funds."""
    ids = {"bid": h.rest(A, Side.BUY, "100", "1"), "ask": h.rest(B, Side.SELL, "101", "1")}
    h.fund(A, "USDT", usdt("1000"))
    ids["eth_bid"] = only(
        h.apply(PlaceOrder(A, "ETH-USDT", Side.BUY, price=usdt("3200"), quantity=ETH)), OrderAccepted
    ).order_id
    h.fund(C, "BTC", btc("5"))
    return ids


def set_status(h: Exchange, status: MarketStatus) -> None:
    """Switch BTC-USDT to `status` and check the event."""
    events = h.apply(SetMarketStatus(BTC_USDT, status))
    assert events == [MarketStatusChanged(h.seq, h.seq * 1000, BTC_USDT, status)]
    assert h.engine.state.markets[BTC_USDT].status is status


PLACES = [
    PlaceOrder(C, BTC_USDT, Side.SELL, price=usdt("102"), quantity=btc("1")),
    PlaceOrder(C, BTC_USDT, Side.SELL, price=usdt("100"), quantity=btc("1")),
    PlaceOrder(C, BTC_USDT, Side.SELL, OrderType.MARKET, quantity=btc("1")),
    PlaceOrder(C, BTC_USDT, Side.SELL, price=usdt("100.001"), quantity=btc("1")),
]


@pytest.mark.parametrize(
    ("status", "code"),
    [(MarketStatus.CANCEL_ONLY, Reject.MARKET_CANCEL_ONLY), (MarketStatus.HALTED, Reject.MARKET_HALTED)],
)
@pytest.mark.parametrize("command", PLACES)
def test_new_orders_are_refused_unless_trading(
    h: Exchange, book: dict[str, int], status: MarketStatus, code: Reject, command: PlaceOrder
) -> None:
    set_status(h, status)
    assert h.reject(command) is code


@pytest.mark.parametrize(
    ("status", "code"),
    [(MarketStatus.CANCEL_ONLY, Reject.MARKET_CANCEL_ONLY), (MarketStatus.HALTED, Reject.MARKET_HALTED)],
)
def test_amends_are_refused_unless_trading(
    h: Exchange, book: dict[str, int], status: MarketStatus, code: Reject
) -> None:
    set_status(h, status)
    assert h.reject(AmendOrder(A, order_id=book["bid"], quantity=btc("0.5"))) is code


def test_cancel_only_allows_cancels(h: Exchange, book: dict[str, int]) -> None:
    set_status(h, MarketStatus.CANCEL_ONLY)
    cancelled = only(h.apply(CancelOrder(A, order_id=book["bid"])), OrderCancelled)
    assert cancelled.order_id == book["bid"]
    events = h.apply(CancelAll(B))
    assert [c.order_id for c in of(events, OrderCancelled)] == [book["ask"]]
    assert h.bids() == h.asks() == []
    assert h.balance(B, "BTC") == (btc("1"), 0)


def test_halted_market_refuses_cancels(h: Exchange, book: dict[str, int]) -> None:
    set_status(h, MarketStatus.HALTED)
    events = h.apply_unchanged(CancelOrder(A, order_id=book["bid"]))
    assert events == [OrderRejected(h.seq, h.seq * 1000, A, "", Reject.MARKET_HALTED, book["bid"], "")]


def test_cancel_all_skips_halted_markets_but_cancels_elsewhere(h: Exchange, book: dict[str, int]) -> None:
    set_status(h, MarketStatus.HALTED)
    events = h.apply(CancelAll(A))
    assert [c.order_id for c in of(events, OrderCancelled)] == [book["eth_bid"]]
    assert h.open_orders(A) == [book["bid"]]
    assert h.apply_unchanged(CancelAll(A, symbol=BTC_USDT)) == []


def test_other_markets_keep_trading(h: Exchange, book: dict[str, int]) -> None:
    set_status(h, MarketStatus.HALTED)
    h.fund(C, "ETH", ETH)
    events = h.apply(PlaceOrder(C, "ETH-USDT", Side.SELL, price=usdt("3200"), quantity=ETH))
    assert only(events, OrderFilled).quote_quantity == usdt("32")


def test_money_movements_work_while_halted(h: Exchange, book: dict[str, int]) -> None:
    set_status(h, MarketStatus.HALTED)
    assert kinds(h.apply(CreditDeposit(C, "USDT", usdt("5"), "halted-dep"))) == [DepositCredited.__name__]
    assert kinds(h.apply(HoldWithdrawal("halted-wd", C, "BTC", btc("1")))) == [WithdrawalHeld.__name__]
    assert h.balance(C, "BTC") == (btc("4"), btc("1"))


def test_resting_orders_survive_a_halt_and_trade_when_it_ends(h: Exchange, book: dict[str, int]) -> None:
    set_status(h, MarketStatus.HALTED)
    set_status(h, MarketStatus.TRADING)
    assert h.bids() == [(usdt("100"), btc("1"))]
    assert h.asks() == [(usdt("101"), btc("1"))]
    fill = only(h.sell(C, "100", "1"), OrderFilled)
    assert (fill.maker_order_id, fill.maker_account) == (book["bid"], A)


def test_status_of_an_unknown_market_is_rejected(h: Exchange) -> None:
    events = h.apply_unchanged(SetMarketStatus("DOGE-USDT", MarketStatus.HALTED))
    assert events == [CommandRejected(h.seq, h.seq * 1000, Reject.UNKNOWN_MARKET, "status")]


def test_a_market_can_open_in_cancel_only(h: Exchange) -> None:
    h.apply(AddAsset("SOL", 9))
    h.apply(AddMarket("SOL-USDT", "SOL", "USDT", 1000, 10**7, 10**7, 10**11, status=MarketStatus.CANCEL_ONLY))
    h.fund(A, "USDT", usdt("100"))
    command = PlaceOrder(A, "SOL-USDT", Side.BUY, price=usdt("10"), quantity=10**9)
    assert h.reject(command) is Reject.MARKET_CANCEL_ONLY
    h.apply(SetMarketStatus("SOL-USDT", MarketStatus.TRADING))
    assert only(h.apply(command), OrderAccepted).hold == usdt("10.02")
