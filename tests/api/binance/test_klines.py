"""The kline builder: Binance's fields from trades, the closing event, trades already seeded skipped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from wcx.api.binance.klines import KlineBuilder
from wcx.api.binance.views import Formats
from wcx.engine import MarketStatus
from wcx.engine.state import Balance, Market

MINUTE_NS = 60 * 10**9


def builder() -> KlineBuilder:
    market = Market("BTC-USDT", "BTC", "USDT", 8, 1, 1, 1, 10**11, 0, MarketStatus.TRADING, Balance())
    runtime: Any = SimpleNamespace(
        engine=SimpleNamespace(state=SimpleNamespace(assets={"BTC": 8, "USDT": 6}))
    )
    return KlineBuilder(Formats(runtime, market), "1m")


def trade(trade_id: int, ts_ns: int, price: str, qty: str, quote: str, taker: str) -> dict[str, Any]:
    return {
        "id": trade_id,
        "ts": ts_ns,
        "price": price,
        "quantity": qty,
        "quote_quantity": quote,
        "taker_side": taker,
    }


def test_a_candle_from_trades_then_closed_when_the_next_interval_trades() -> None:
    klines = builder()
    start = 1_700_000_040 * 10**9  # a minute boundary
    first = klines.trades(
        {
            "trades": [
                trade(7, start + 1, "100.000000", "0.50000000", "50.000000", "buy"),
                trade(8, start + 2, "90.000000", "1.00000000", "90.000000", "sell"),
            ]
        }
    )
    (event,) = first
    k = event["k"]
    assert (k["t"], k["T"], k["f"], k["L"], k["n"], k["x"]) == (
        start // 10**6,
        start // 10**6 + 59_999,
        7,
        8,
        2,
        False,
    )
    assert (k["o"], k["h"], k["l"], k["c"]) == ("100.000000", "100.000000", "90.000000", "90.000000")
    assert (k["v"], k["q"], k["V"], k["Q"]) == ("1.50000000", "140.000000", "0.50000000", "50.000000")
    assert (
        klines.trades({"trades": [trade(8, start + 2, "90.000000", "1.00000000", "90.000000", "sell")]}) == []
    )
    closed, opened = klines.trades(
        {"trades": [trade(9, start + MINUTE_NS, "95.000000", "0.10000000", "9.500000", "buy")]}
    )
    assert closed["k"]["x"] is True and closed["k"]["L"] == 8
    assert (
        opened["k"]["t"] == (start + MINUTE_NS) // 10**6
        and opened["k"]["o"] == "95.000000"
        and opened["k"]["n"] == 1
    )
    (final,) = klines.close()
    assert final["k"]["x"] is True and klines.close() == [] and klines.seconds_to_close() is None
