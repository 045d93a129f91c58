"""Fees: basis points in quote, rounded up on a running total, overrides, income and conservation."""

from __future__ import annotations

from wcx.engine import (
    AdjustBalance,
    Event,
    HoldWithdrawal,
    PlaceOrder,
    SetFeeSchedule,
    SettleWithdrawal,
    Side,
    TimeInForce,
)
from wcx.engine.events import OrderAccepted, OrderFilled
from wcx.engine.state import ADJUSTMENT_ACCOUNT, FEE_ACCOUNT, OMNIBUS_ACCOUNT

from .conftest import A, B, C, Exchange, btc, kinds, of, only, units, usdt

# One lot (0.0001 BTC) at 65000.01 is worth 6.500001 USDT: every fee on it has a fraction to round.
ODD_PRICE = "65000.01"
LOT = "0.0001"


def test_fees_round_up_to_the_minor_unit(h: Exchange) -> None:
    h.rest(B, Side.SELL, ODD_PRICE, LOT)
    h.fund(A, "USDT", usdt("6.513002"))
    fill = only(h.buy(A, ODD_PRICE, LOT), OrderFilled)
    # 6.500001 × 10 bps = 0.0065000010 → 0.006501; × 20 bps = 0.0130000020 → 0.013001.
    assert (fill.quote_quantity, fill.maker_fee, fill.taker_fee) == (usdt("6.500001"), 6501, 13001)
    assert h.balance(A, "USDT") == (0, 0)
    assert h.balance(B, "USDT") == (usdt("6.500001") - 6501, 0)
    assert h.balance(FEE_ACCOUNT, "USDT") == (6501 + 13001, 0)


def test_many_small_maker_fills_pay_what_one_fill_would(h: Exchange) -> None:
    h.rest(A, Side.SELL, ODD_PRICE, "0.001")
    fees = []
    for taker in range(10, 20):
        h.fund(taker, "USDT", usdt("10"))
        fees.append(only(h.buy(taker, ODD_PRICE, LOT), OrderFilled).maker_fee)
    # Rounded per fill this would be 10 × 6501; on the running total it is ceil(65.00001) = 65001.
    assert fees == [6501] + [6500] * 9
    single = Exchange()
    single.rest(A, Side.SELL, ODD_PRICE, "0.001")
    single.fund(B, "USDT", usdt("100"))
    assert sum(fees) == only(single.buy(B, ODD_PRICE, "0.001"), OrderFilled).maker_fee == 65001
    assert h.balance(A, "USDT") == (usdt("65.00001") - 65001, 0)


def test_many_small_taker_fills_pay_what_one_fill_would(h: Exchange) -> None:
    for maker in range(10, 20):
        h.rest(maker, Side.SELL, ODD_PRICE, LOT)
    h.fund(A, "USDT", usdt("65.130011"))
    events = h.buy(A, ODD_PRICE, "0.001")
    assert only(events, OrderAccepted).hold == usdt("65.130011")
    fees = [f.taker_fee for f in of(events, OrderFilled)]
    assert fees == [13001] + [13000] * 9
    assert sum(fees) == 130001  # ceil(0.001 BTC × 65000.01 × 20 bps) = ceil(130000.02)
    # The hold covered notional plus the whole-order fee exactly: nothing left over, nothing short.
    assert h.balance(A, "USDT") == (0, 0)
    assert h.balance(A, "BTC") == (btc("0.001"), 0)


def test_fee_account_receives_exactly_the_maker_and_taker_fees(h: Exchange) -> None:
    h.rest(B, Side.SELL, ODD_PRICE, "0.0003")
    h.rest(C, Side.SELL, "65000.02", "0.0007")
    h.fund(A, "USDT", usdt("100"))
    fills = of(h.buy(A, "65000.02", "0.001"), OrderFilled)
    assert len(fills) == 2
    expected = sum(f.maker_fee + f.taker_fee for f in fills)
    assert h.balance(FEE_ACCOUNT, "USDT") == (expected, 0)
    # 19.500003 and 45.500014 USDT at 10 and 20 bps; the taker's second fee is what lifts its running
    # total to ceil(130.000034) = 130001, one unit less than rounding each fill on its own.
    assert [(f.maker_fee, f.taker_fee) for f in fills] == [(19501, 39001), (45501, 91000)]


def test_account_override_sets_its_taker_fee_and_its_hold(h: Exchange) -> None:
    h.apply(SetFeeSchedule(0, 5, account=A))
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("100.05"))
    events = h.buy(A, "100", "1")
    assert only(events, OrderAccepted).hold == usdt("100.05")
    fill = only(events, OrderFilled)
    assert (fill.taker_fee, fill.maker_fee) == (usdt("0.05"), usdt("0.1"))
    assert h.balance(A, "USDT") == (0, 0)


def test_account_override_with_the_larger_maker_fee_reserves_the_maker_fee(h: Exchange) -> None:
    h.apply(SetFeeSchedule(30, 10, account=B))
    h.fund(B, "USDT", usdt("100.3"))
    assert only(h.buy(B, "100", "1"), OrderAccepted).hold == usdt("100.3")
    h.fund(A, "BTC", btc("1"))
    fill = only(h.sell(A, "100", "1"), OrderFilled)
    assert (fill.maker_fee, fill.taker_fee) == (usdt("0.3"), usdt("0.2"))
    assert h.balance(B, "USDT") == (0, 0)


def test_cleared_override_falls_back_to_the_default(h: Exchange) -> None:
    h.apply(SetFeeSchedule(0, 0, account=A))
    h.apply(SetFeeSchedule(0, 0, account=A, clear=True))
    h.fund(A, "USDT", usdt("1000"))
    assert only(h.buy(A, "100", "1"), OrderAccepted).hold == usdt("100.2")


def test_override_applies_to_its_account_only(h: Exchange) -> None:
    h.apply(SetFeeSchedule(0, 0, account=B))
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("1000"))
    fill = only(h.buy(A, "100", "1"), OrderFilled)
    assert (fill.maker_fee, fill.taker_fee) == (0, usdt("0.2"))


def test_open_orders_keep_the_fees_they_were_accepted_with(h: Exchange) -> None:
    h.rest(B, Side.SELL, "100", "1")
    h.apply(SetFeeSchedule(50, 50))
    h.fund(A, "USDT", usdt("1000"))
    events = h.buy(A, "100", "1")
    assert only(events, OrderAccepted).hold == usdt("100.5")
    fill = only(events, OrderFilled)
    assert (fill.maker_fee, fill.taker_fee) == (usdt("0.1"), usdt("0.5"))


def test_zero_fees_hold_and_charge_nothing(h: Exchange) -> None:
    h.apply(SetFeeSchedule(0, 0))
    h.rest(B, Side.SELL, "100", "1")
    h.fund(A, "USDT", usdt("100"))
    events = h.buy(A, "100", "1")
    assert kinds(events) == ["OrderAccepted", "OrderFilled"]
    fill = only(events, OrderFilled)
    assert (fill.maker_fee, fill.taker_fee) == (0, 0)
    assert h.balance(FEE_ACCOUNT, "USDT") == (0, 0)
    assert h.balance(B, "USDT") == (usdt("100"), 0)


def test_cross_market_fees_are_charged_in_that_markets_quote(h: Exchange) -> None:
    eth = units("1", "ETH")
    h.fund(B, "ETH", eth)
    h.apply(PlaceOrder(B, "ETH-BTC", Side.SELL, price=btc("0.05"), quantity=eth))
    h.fund(A, "BTC", btc("0.0501"))
    fill = only(h.apply(PlaceOrder(A, "ETH-BTC", Side.BUY, price=btc("0.05"), quantity=eth)), OrderFilled)
    assert (fill.quote_quantity, fill.maker_fee, fill.taker_fee) == (
        btc("0.05"),
        btc("0.00005"),
        btc("0.0001"),
    )
    assert h.balance(FEE_ACCOUNT, "BTC") == (btc("0.00015"), 0)
    assert h.balance(FEE_ACCOUNT, "ETH") == (0, 0)
    assert h.balance(A, "ETH") == (eth, 0)
    assert h.balance(B, "BTC") == (btc("0.04995"), 0)


def test_every_asset_sums_to_zero_over_all_accounts_through_a_mixed_session(h: Exchange) -> None:
    events: list[Event] = []
    h.rest(B, Side.SELL, ODD_PRICE, "0.0007")
    h.rest(C, Side.BUY, "64999.99", "0.0009")
    h.fund(A, "USDT", usdt("1000"))
    h.fund(A, "BTC", btc("1"))
    events += h.buy(A, "65000.02", "0.0011", tif=TimeInForce.IOC)
    events += h.sell(A, "64999.98", "0.0004")
    h.apply(HoldWithdrawal("w-1", A, "USDT", usdt("10"), usdt("0.5")))
    h.apply(SettleWithdrawal("w-1"))
    h.apply(AdjustBalance(A, "BTC", -btc("0.0001"), "correction", "adj-1"))
    fills = of(events, OrderFilled)
    assert len(fills) == 2
    for asset in ("BTC", "ETH", "USDT"):
        assert h.total(asset) == 0
    trade_fees = sum(f.maker_fee + f.taker_fee for f in fills)
    assert h.balance(FEE_ACCOUNT, "USDT") == (trade_fees + usdt("0.5"), 0)
    assert h.balance(ADJUSTMENT_ACCOUNT, "BTC") == (btc("0.0001"), 0)
    user_usdt = sum(sum(h.balance(account, "USDT")) for account in (A, B, C))
    assert user_usdt == -h.balance(OMNIBUS_ACCOUNT, "USDT")[0] - h.balance(FEE_ACCOUNT, "USDT")[0]
