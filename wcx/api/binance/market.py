"""Public Binance endpoints under /api/v3: ping, time, exchangeInfo, depth, trades, aggTrades, klines,
ticker/24hr, ticker/price, ticker/bookTicker.

The book and exchange rules come from engine memory; trades, klines and 24 h statistics from the SQL
projection, like `/api/v1`. `depth`'s `lastUpdateId` is the engine sequence number the book reflects,
the same numbering as the `U`/`u` of the `@depth` stream (see `wcx.api.binance.streams`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request

from wcx.api.binance import limits
from wcx.api.binance.errors import BinanceError, BinanceRoute
from wcx.api.binance.params import Params, binance_symbol, symbol_index
from wcx.api.binance.queries import market_trades_range, taker_buys, to_ms, trade_id_range
from wcx.api.binance.views import Formats, agg_trades, trade_view
from wcx.engine import MarketStatus
from wcx.engine.state import Market
from wcx.marketdata.candles import INTERVALS
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store import queries

router = APIRouter(route_class=BinanceRoute, dependencies=[Depends(limits.public)], include_in_schema=False)

MAX_DEPTH = 5000
DAY_MS = 86_400_000
STATUS = {MarketStatus.TRADING: "TRADING", MarketStatus.CANCEL_ONLY: "HALT", MarketStatus.HALTED: "BREAK"}
"""Our market status as a Binance symbol status (ccxt counts only TRADING as active)."""


async def params_of(request: Request) -> Params:
    """The request's parameters (query string, then form body)."""
    return Params.parse(request.scope.get("query_string", b""), await request.body())


def runtime_of(request: Request) -> Runtime:
    """The app's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def projected(request: Request) -> Runtime:
    """The runtime, once SQL holds every event sequenced so far (bounded wait), so a client sees the
    trades its own orders just made, as Binance's memory-sourced trade lists do."""
    runtime = runtime_of(request)
    await runtime.projected()
    return runtime


def now_ms() -> int:
    """The server clock in milliseconds."""
    return time.time_ns() // 1_000_000


@router.get("/ping")
async def ping() -> dict[str, Any]:
    """Connectivity check."""
    return {}


@router.get("/time")
async def server_time() -> dict[str, Any]:
    """The server clock."""
    return {"serverTime": now_ms()}


def _filters(fmt: Formats) -> list[dict[str, Any]]:
    market = fmt.market
    lot = {
        "minQty": fmt.qty(market.min_quantity),
        "maxQty": fmt.qty(market.max_quantity),
        "stepSize": fmt.qty(market.lot_step),
    }
    return [
        # maxPrice 0: no upper bound (the engine has none), as the filter documents.
        {
            "filterType": "PRICE_FILTER",
            "minPrice": fmt.price(market.tick_size),
            "maxPrice": fmt.price(0),
            "tickSize": fmt.price(market.tick_size),
        },
        {"filterType": "LOT_SIZE", **lot},
        {"filterType": "MARKET_LOT_SIZE", **lot},
        {
            "filterType": "NOTIONAL",
            "minNotional": fmt.price(market.min_notional),
            "applyMinToMarket": True,
            "avgPriceMins": 0,
        },
    ]


def symbol_info(runtime: Runtime, market: Market) -> dict[str, Any]:
    """One `symbols` entry of exchangeInfo."""
    fmt = Formats(runtime, market)
    return {
        "symbol": fmt.symbol,
        "status": STATUS[market.status],
        "baseAsset": market.base,
        "baseAssetPrecision": fmt.base_scale,
        "quoteAsset": market.quote,
        "quotePrecision": fmt.quote_scale,
        "quoteAssetPrecision": fmt.quote_scale,
        "baseCommissionPrecision": fmt.base_scale,
        "quoteCommissionPrecision": fmt.quote_scale,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(fmt),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_TAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info_body(runtime: Runtime, app_state: Any, markets: list[Market] | None) -> dict[str, Any]:
    """exchangeInfo: rate limits and the given markets (all when None) with their filters."""
    if markets is None:
        markets = sorted(symbol_index(runtime).values(), key=binance_symbol)
    return {
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": limits.rate_limits(app_state),
        "exchangeFilters": [],
        "symbols": [symbol_info(runtime, market) for market in markets],
    }


@router.get("/exchangeInfo")
async def exchange_info(request: Request) -> dict[str, Any]:
    """Trading rules: rate limits and every (or the requested) symbol with its filters."""
    runtime = runtime_of(request)
    markets = (await params_of(request)).symbols(runtime)
    return exchange_info_body(runtime, request.app.state, markets)


@router.get("/depth")
async def depth(request: Request) -> dict[str, Any]:
    """The book from engine memory; `lastUpdateId` is the engine sequence number it reflects."""
    runtime = runtime_of(request)
    params = await params_of(request)
    market = params.market(runtime)
    limit = params.limit(100, MAX_DEPTH)
    fmt = Formats(runtime, market)

    def levels(side: list[tuple[int, int]]) -> list[list[str]]:
        return [[fmt.price(p), fmt.qty(q)] for p, q in side]

    return {
        "lastUpdateId": runtime.engine.state.last_seq,
        "bids": levels(market.book.bids.depth(limit)),
        "asks": levels(market.book.asks.depth(limit)),
    }


@router.get("/trades")
async def trades(request: Request) -> list[dict[str, Any]]:
    """The market's newest trades, oldest first."""
    runtime = await projected(request)
    params = await params_of(request)
    market = params.market(runtime)
    limit = params.limit(500, queries.MAX_LIMIT)
    fmt = Formats(runtime, market)
    rows = await market_trades_range(runtime.db, market.symbol, limit=limit)
    return [trade_view(fmt, row) for row in rows]


@router.get("/aggTrades")
async def aggregate_trades(request: Request) -> list[dict[str, Any]]:
    """Trades merged per taker order and price, oldest first."""
    runtime = await projected(request)
    params = await params_of(request)
    market = params.market(runtime)
    limit = params.limit(500, queries.MAX_LIMIT)
    from_id = params.integer("fromId")
    start, end = params.time_range()
    if start is not None and end is not None and end - start > 3_600_000:
        raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
    fmt = Formats(runtime, market)
    rows = await market_trades_range(
        runtime.db, market.symbol, from_id=from_id, start=start, end=end, limit=limit
    )
    return agg_trades(fmt, rows)


@router.get("/klines")
async def klines(request: Request) -> list[list[Any]]:
    """Candles (1m 5m 15m 1h 4h 1d), oldest first."""
    runtime = await projected(request)
    params = await params_of(request)
    market = params.market(runtime)
    interval = params.required("interval", 8)
    if interval not in INTERVALS:
        raise BinanceError(-1120, "Invalid interval.")
    limit = params.limit(500, queries.MAX_LIMIT)
    start, end = params.time_range()
    fmt = Formats(runtime, market)
    candles = await queries.candle_range(
        runtime.db,
        market.symbol,
        interval,
        start=None if start is None else datetime.fromtimestamp(start / 1000, UTC),
        end=None if end is None else datetime.fromtimestamp((end + 1) / 1000, UTC),
        limit=limit,
    )
    if not candles:
        return []
    length = timedelta(seconds=INTERVALS[interval])
    buys: dict[datetime, list[int]] = {c.open_time: [0, 0] for c in candles}
    seconds = INTERVALS[interval]
    for ts, quantity, quote in await taker_buys(
        runtime.db, market.symbol, candles[0].open_time, candles[-1].open_time + length
    ):
        bucket = datetime.fromtimestamp(int(ts.timestamp()) // seconds * seconds, UTC)
        if bucket in buys:
            buys[bucket][0] += quantity
            buys[bucket][1] += quote
    return [
        [
            to_ms(c.open_time),
            fmt.price(c.open),
            fmt.price(c.high),
            fmt.price(c.low),
            fmt.price(c.close),
            fmt.qty(c.volume),
            to_ms(c.open_time + length) - 1,
            fmt.price(c.quote_volume),
            c.trades,
            fmt.qty(buys[c.open_time][0]),
            fmt.price(buys[c.open_time][1]),
            "0",
        ]
        for c in candles
    ]


def _markets(request: Request, params: Params) -> tuple[list[Market], bool]:
    """(markets asked for, whether one symbol was asked for: then the answer is an object)."""
    runtime = runtime_of(request)
    markets = params.symbols(runtime)
    if markets is None:
        return sorted(symbol_index(runtime).values(), key=binance_symbol), False
    return markets, params.text("symbol") is not None


def _ratio(numerator: int, denominator: int, scale: int) -> str:
    """numerator / denominator rounded to `scale` decimals (statistics, not money movement)."""
    if denominator == 0:
        return format_amount(0, scale)
    quantum = Decimal(1).scaleb(-scale)
    return str((Decimal(numerator) / Decimal(denominator)).quantize(quantum, ROUND_HALF_EVEN))


async def rolling_24h(runtime: Runtime, market: Market, mini: bool) -> dict[str, Any]:
    """Rolling 24 h statistics from 1m candles (one-minute granularity) and the live top of book
    (REST ticker/24hr and the @ticker streams)."""
    fmt = Formats(runtime, market)
    bids, asks = market.book.bids.depth(1), market.book.asks.depth(1)
    close_ms = now_ms()
    start = datetime.fromtimestamp((close_ms // 60_000) * 60 - DAY_MS // 1000, UTC)
    window: list[queries.CandleRecord] = []
    page_start = start
    while True:
        page = await queries.candle_range(
            runtime.db, market.symbol, "1m", start=page_start, limit=queries.MAX_LIMIT
        )
        window += page
        if len(page) < queries.MAX_LIMIT:
            break
        page_start = page[-1].open_time + timedelta(minutes=1)
    last_trades = await market_trades_range(runtime.db, market.symbol, limit=1)
    ids = await trade_id_range(runtime.db, market.symbol, start)
    open_price = window[0].open if window else 0
    last = last_trades[-1].price if last_trades else 0
    volume = sum(c.volume for c in window)
    quote_volume = sum(c.quote_volume for c in window)
    stats: dict[str, Any] = {
        "symbol": fmt.symbol,
        "openPrice": fmt.price(open_price),
        "highPrice": fmt.price(max((c.high for c in window), default=0)),
        "lowPrice": fmt.price(min((c.low for c in window), default=0)),
        "lastPrice": fmt.price(last),
        "volume": fmt.qty(volume),
        "quoteVolume": fmt.price(quote_volume),
        "openTime": close_ms - DAY_MS,
        "closeTime": close_ms,
        "firstId": ids[0] if ids else -1,
        "lastId": ids[1] if ids else -1,
        "count": sum(c.trades for c in window),
    }
    if mini:
        return stats
    base_unit = 10**fmt.base_scale
    return {
        **stats,
        "priceChange": fmt.price(last - open_price) if window else fmt.price(0),
        "priceChangePercent": _ratio((last - open_price) * 100, open_price, 3) if window else "0.000",
        "weightedAvgPrice": _ratio(quote_volume * base_unit, volume * 10**fmt.quote_scale, fmt.quote_scale),
        "prevClosePrice": fmt.price(open_price),
        "lastQty": fmt.qty(last_trades[-1].quantity) if last_trades else fmt.qty(0),
        "bidPrice": fmt.price(bids[0][0] if bids else 0),
        "bidQty": fmt.qty(bids[0][1] if bids else 0),
        "askPrice": fmt.price(asks[0][0] if asks else 0),
        "askQty": fmt.qty(asks[0][1] if asks else 0),
    }


@router.get("/ticker/24hr")
async def ticker_24h(request: Request) -> Any:
    """24 h rolling statistics of one symbol (an object), several or all (a list); type FULL or MINI."""
    params = await params_of(request)
    kind = params.choice("type", ("FULL", "MINI"), -1130, "Data sent for parameter 'type' is not valid.")
    markets, single = _markets(request, params)
    runtime = await projected(request)
    out = [await rolling_24h(runtime, market, kind == "MINI") for market in markets]
    return out[0] if single else out


@router.get("/ticker/price")
async def ticker_price(request: Request) -> Any:
    """Last trade price of one symbol (an object), several or all (a list)."""
    params = await params_of(request)
    markets, single = _markets(request, params)
    runtime = await projected(request)
    out = []
    for market in markets:
        fmt = Formats(runtime, market)
        last = await market_trades_range(runtime.db, market.symbol, limit=1)
        out.append({"symbol": fmt.symbol, "price": fmt.price(last[-1].price if last else 0)})
    return out[0] if single else out


@router.get("/ticker/bookTicker")
async def book_ticker(request: Request) -> Any:
    """Best bid and ask (engine memory) of one symbol (an object), several or all (a list)."""
    params = await params_of(request)
    markets, single = _markets(request, params)
    runtime = runtime_of(request)
    out = []
    for market in markets:
        fmt = Formats(runtime, market)
        bids, asks = market.book.bids.depth(1), market.book.asks.depth(1)
        out.append(
            {
                "symbol": fmt.symbol,
                "bidPrice": fmt.price(bids[0][0] if bids else 0),
                "bidQty": fmt.qty(bids[0][1] if bids else 0),
                "askPrice": fmt.price(asks[0][0] if asks else 0),
                "askQty": fmt.qty(asks[0][1] if asks else 0),
            }
        )
    return out[0] if single else out
