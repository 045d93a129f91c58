"""The `<symbol>@kline_<interval>` stream, built from trades so every Binance field is exact.

The current candle is seeded from the projection's trades of the current interval, then advanced by
the live `trades.<SYMBOL>` channel (trade ids are increasing, so a trade already in the seed is
skipped). When the interval ends the candle is sent once more with `x: true`; the next candle starts
with the next trade (intervals without trades send nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wcx.api.binance.queries import as_datetime, market_trades_since, to_ms
from wcx.api.binance.views import Formats
from wcx.marketdata.candles import INTERVALS
from wcx.runtime import Runtime
from wcx.store.queries import TradeRecord

NS_PER_MS = 1_000_000
SEED_WAIT_S = 10.0
"""How long a seed waits for the projection to hold every trade sequenced before the subscription."""


@dataclass
class _Candle:
    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    first_id: int
    last_id: int
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trades: int = 0
    buy_volume: Decimal = Decimal(0)
    buy_quote_volume: Decimal = Decimal(0)


class KlineBuilder:
    """One connection's current candle of one market and interval."""

    def __init__(self, fmt: Formats, interval: str) -> None:
        self.fmt = fmt
        self.interval = interval
        self.length_ms = INTERVALS[interval] * 1000
        self.candle: _Candle | None = None
        self.last_id = 0

    def bucket(self, ms: int) -> int:
        """Open time (ms) of the interval containing `ms`."""
        return ms // self.length_ms * self.length_ms

    async def seed(self, runtime: Runtime) -> list[dict[str, Any]]:
        """The current candle from the projection (call after subscribing to the trades channel)."""
        await runtime.projected(SEED_WAIT_S)
        start = self.bucket(time.time_ns() // NS_PER_MS)
        rows: list[TradeRecord] = await market_trades_since(
            runtime.db, self.fmt.market.symbol, as_datetime(start)
        )
        for row in rows:
            self._add(
                row.trade_id,
                to_ms(row.ts),
                Decimal(self.fmt.price(row.price)),
                Decimal(self.fmt.qty(row.quantity)),
                Decimal(self.fmt.price(row.quote_quantity)),
                row.taker_side == "buy",
            )
        return [self.event(closed=False)] if self.candle is not None else []

    def trades(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Events for one trades-channel message: a closed candle first if a new interval began."""
        out: list[dict[str, Any]] = []
        changed = False
        for t in message["trades"]:
            if t["id"] <= self.last_id:
                continue
            changed = True
            ms = t["ts"] // NS_PER_MS
            if self.candle is not None and self.bucket(ms) != self.candle.start:
                out.append(self.event(closed=True))
                self.candle = None
            price, qty = Decimal(t["price"]), Decimal(t["quantity"])
            self._add(t["id"], ms, price, qty, Decimal(t["quote_quantity"]), t["taker_side"] == "buy")
        if changed and self.candle is not None:
            out.append(self.event(closed=False))
        return out

    def seconds_to_close(self) -> float | None:
        """Seconds until the current candle's interval ends (None without a candle)."""
        if self.candle is None:
            return None
        return max(0.0, (self.candle.start + self.length_ms - time.time_ns() / NS_PER_MS) / 1000)

    def close(self) -> list[dict[str, Any]]:
        """The final event of the current candle (its interval ended without a newer trade)."""
        if self.candle is None:
            return []
        event = self.event(closed=True)
        self.candle = None
        return [event]

    def _add(
        self, trade_id: int, ms: int, price: Decimal, qty: Decimal, quote: Decimal, buyer_taker: bool
    ) -> None:
        candle = self.candle
        if candle is None:
            candle = self.candle = _Candle(self.bucket(ms), price, price, price, price, trade_id, trade_id)
        candle.high, candle.low, candle.close = max(candle.high, price), min(candle.low, price), price
        candle.last_id = trade_id
        candle.volume += qty
        candle.quote_volume += quote
        candle.trades += 1
        if buyer_taker:
            candle.buy_volume += qty
            candle.buy_quote_volume += quote
        self.last_id = max(self.last_id, trade_id)

    def event(self, *, closed: bool) -> dict[str, Any]:
        """The kline event of the current candle."""
        candle = self.candle
        assert candle is not None
        fmt = self.fmt
        price = fmt.quote_scale
        base = fmt.base_scale
        return {
            "e": "kline",
            "E": time.time_ns() // NS_PER_MS,
            "s": fmt.symbol,
            "k": {
                "t": candle.start,
                "T": candle.start + self.length_ms - 1,
                "s": fmt.symbol,
                "i": self.interval,
                "f": candle.first_id,
                "L": candle.last_id,
                "o": _at(candle.open, price),
                "c": _at(candle.close, price),
                "h": _at(candle.high, price),
                "l": _at(candle.low, price),
                "v": _at(candle.volume, base),
                "n": candle.trades,
                "x": closed,
                "q": _at(candle.quote_volume, price),
                "V": _at(candle.buy_volume, base),
                "Q": _at(candle.buy_quote_volume, price),
                "B": "0",
            },
        }


def _at(value: Decimal, scale: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-scale)):f}"
