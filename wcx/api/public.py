"""Public market data under /api/v1: time, assets, markets, book, trades, candles, 24 h ticker.

Markets, the book and the ticker's top of book come from engine memory; trades, candles and 24 h
statistics from the SQL projection (`wcx.store.queries`), so they trail the engine by the projector's lag.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from wcx.api.errors import ApiError
from wcx.api.ratelimit import public_rate_limit
from wcx.api.schemas import AssetOut, BookOut, CandleOut, MarketOut, ServerTime, TickerOut, TradeOut
from wcx.engine import Side
from wcx.engine.state import Market
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store import queries

router = APIRouter(tags=["public"], dependencies=[Depends(public_rate_limit)])

MAX_DEPTH = 500
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a datetime holds
DAY_S = 86_400
Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]


async def runtime_of(request: Request) -> Runtime:
    """The app's runtime (FastAPI dependency; a coroutine, so FastAPI does not hop to a worker thread)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def market_of(runtime: Runtime, symbol: str) -> Market:
    """The engine's market, or 404 UNKNOWN_MARKET."""
    market = runtime.engine.state.markets.get(symbol)
    if market is None:
        raise ApiError(404, "UNKNOWN_MARKET", f"no market {symbol!r}")
    return market


def scales(runtime: Runtime, market: Market) -> tuple[int, int]:
    """(quote scale, base scale) of a market."""
    assets = runtime.engine.state.assets
    return assets[market.quote], assets[market.base]


def _market_out(runtime: Runtime, market: Market) -> MarketOut:
    quote, base = scales(runtime, market)
    return MarketOut(
        symbol=market.symbol,
        base=market.base,
        quote=market.quote,
        status=market.status,
        tick_size=format_amount(market.tick_size, quote),
        lot_step=format_amount(market.lot_step, base),
        min_quantity=format_amount(market.min_quantity, base),
        max_quantity=format_amount(market.max_quantity, base),
        min_notional=format_amount(market.min_notional, quote),
        price_decimals=quote,
        quantity_decimals=base,
    )


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


@router.get("/time")
async def server_time() -> ServerTime:
    """The server clock (milliseconds since the epoch and ISO 8601)."""
    now = time.time_ns()
    return ServerTime(time_ms=now // 1_000_000, iso=datetime.fromtimestamp(now / 1e9, UTC))


@router.get("/assets")
async def list_assets(runtime: RuntimeDep) -> list[AssetOut]:
    """Every asset and its scale (decimals of the minor unit)."""
    return [AssetOut(code=code, scale=scale) for code, scale in sorted(runtime.engine.state.assets.items())]


@router.get("/markets")
async def list_markets(runtime: RuntimeDep) -> list[MarketOut]:
    """Every market with its filters and status."""
    markets = runtime.engine.state.markets
    return [_market_out(runtime, markets[symbol]) for symbol in sorted(markets)]


@router.get("/markets/{symbol}")
async def get_market(symbol: str, runtime: RuntimeDep) -> MarketOut:
    """One market."""
    return _market_out(runtime, market_of(runtime, symbol))


@router.get("/markets/{symbol}/book")
async def get_book(
    symbol: str, runtime: RuntimeDep, depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 50
) -> BookOut:
    """Aggregated levels from engine memory, with the engine sequence number they reflect."""
    market = market_of(runtime, symbol)
    quote, base = scales(runtime, market)

    def levels(side: list[tuple[int, int]]) -> list[tuple[str, str]]:
        return [(format_amount(p, quote), format_amount(q, base)) for p, q in side]

    return BookOut(
        symbol=symbol,
        seq=runtime.engine.state.last_seq,
        bids=levels(market.book.bids.depth(depth)),
        asks=levels(market.book.asks.depth(depth)),
    )


@router.get("/markets/{symbol}/trades")
async def recent_trades(
    symbol: str, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 100
) -> list[TradeOut]:
    """The market's newest trades, newest first (from the SQL projection)."""
    market = market_of(runtime, symbol)
    quote, base = scales(runtime, market)
    return [
        TradeOut(
            trade_id=t.trade_id,
            symbol=t.symbol,
            price=format_amount(t.price, quote),
            quantity=format_amount(t.quantity, base),
            quote_quantity=format_amount(t.quote_quantity, quote),
            taker_side=Side(t.taker_side),
            seq=t.seq,
            time=t.ts,
        )
        for t in await queries.recent_trades(runtime.db, symbol, limit=limit)
    ]


def _from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


@router.get("/markets/{symbol}/candles")
async def get_candles(
    symbol: str,
    runtime: RuntimeDep,
    interval: Annotated[Interval, Query()] = "1m",
    start: Annotated[int | None, Query(ge=0, le=MAX_MS, description="ms since the epoch, inclusive")] = None,
    end: Annotated[int | None, Query(ge=0, le=MAX_MS, description="ms since the epoch, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 500,
) -> list[CandleOut]:
    """OHLCV candles, oldest first: the first `limit` from `start`, or the newest `limit` without one."""
    market = market_of(runtime, symbol)
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "INVALID_RANGE", "start must be before end")
    quote, base = scales(runtime, market)
    records = await queries.candle_range(
        runtime.db, symbol, interval, start=_from_ms(start), end=_from_ms(end), limit=limit
    )
    return [
        CandleOut(
            open_time=c.open_time,
            open=format_amount(c.open, quote),
            high=format_amount(c.high, quote),
            low=format_amount(c.low, quote),
            close=format_amount(c.close, quote),
            volume=format_amount(c.volume, base),
            quote_volume=format_amount(c.quote_volume, quote),
            trades=c.trades,
        )
        for c in records
    ]


@router.get("/markets/{symbol}/ticker")
async def ticker(symbol: str, runtime: RuntimeDep) -> TickerOut:
    """Rolling 24 h statistics (at one-minute granularity, from 1m candles) and the live top of book."""
    market = market_of(runtime, symbol)
    quote, base = scales(runtime, market)
    # Read the book before awaiting the database, so the top and `seq` describe the same moment.
    bids, asks = market.book.bids.depth(1), market.book.asks.depth(1)
    seq = runtime.engine.state.last_seq
    start = datetime.fromtimestamp(time.time() // 60 * 60 - DAY_S, UTC)
    window: list[queries.CandleRecord] = []
    while True:
        page = await queries.candle_range(runtime.db, symbol, "1m", start=start, limit=queries.MAX_LIMIT)
        window += page
        if len(page) < queries.MAX_LIMIT:
            break
        start = page[-1].open_time + timedelta(minutes=1)

    def price(units: int | None) -> str | None:
        return None if units is None else format_amount(units, quote)

    return TickerOut(
        symbol=symbol,
        last=price(window[-1].close if window else None),
        open=price(window[0].open if window else None),
        high=price(max((c.high for c in window), default=None)),
        low=price(min((c.low for c in window), default=None)),
        volume=format_amount(sum(c.volume for c in window), base),
        quote_volume=format_amount(sum(c.quote_volume for c in window), quote),
        trades=sum(c.trades for c in window),
        best_bid=price(bids[0][0] if bids else None),
        best_ask=price(asks[0][0] if asks else None),
        seq=seq,
    )
