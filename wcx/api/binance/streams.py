"""Binance market streams at /ws/<streams> (raw) and /stream?streams=a/b (combined), fed by the same
bus channels as our native `/ws` (see `wcx.stream.publisher`).

Streams (symbols lower-case): `<s>@depth`, `<s>@depth@100ms`, `<s>@depth@1000ms` (diffs with `U`/`u`
= engine sequence numbers, the numbering of REST depth's `lastUpdateId`, so the documented
snapshot-plus-diff procedure keeps an exact book); `<s>@depth5|10|20[@100ms]` (partial book);
`<s>@trade`, `<s>@aggTrade`, `<s>@kline_<1m|5m|15m|1h|4h|1d>`, `<s>@bookTicker`, `<s>@ticker` and
`<s>@miniTicker` (REST ticker/24hr's figures, at most once a second). Requests: SUBSCRIBE,
UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY `combined`. The server pings every 20 s
(uvicorn's WebSocket keep-alive) and drops a client that does not answer. The bare path `/ws` is our
native protocol; Binance clients use `/ws/<anything>`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket

from wcx.api.binance.connection import CLOSE_SLOW_CONSUMER, MAX_MESSAGE_BYTES, Connection
from wcx.api.binance.klines import SEED_WAIT_S, KlineBuilder
from wcx.api.binance.market import rolling_24h
from wcx.api.binance.params import symbol_index
from wcx.api.binance.views import Formats
from wcx.engine.state import Market
from wcx.marketdata.candles import INTERVALS
from wcx.runtime import Runtime
from wcx.stream import BookGapError, BusError, ClientBook, Publisher, SlowConsumerError, Subscription

logger = logging.getLogger(__name__)

router = APIRouter()

MAX_STREAMS = 1024
NS_PER_MS = 1_000_000
TICKER_EVERY_S = 1.0
_NAME = re.compile(r"([a-z0-9]{2,32})@([A-Za-z0-9_@]{1,32})")
_ID = re.compile(r"[A-Za-z0-9]{1,36}")


def _ms(ts_ns: Any) -> int:
    return ts_ns // NS_PER_MS if isinstance(ts_ns, int) else time.time_ns() // NS_PER_MS


@dataclass
class Stream:
    """One Binance stream: the bus channel it reads and how it turns our messages into Binance events."""

    name: str
    kind: str
    fmt: Formats
    channel: str
    arg: str = ""
    book: ClientBook | None = None
    kline: KlineBuilder | None = None
    top: tuple[Any, ...] = ()
    market: Market = field(init=False)
    symbol: str = field(init=False)

    def __post_init__(self) -> None:
        self.market = self.fmt.market
        self.symbol = self.fmt.symbol

    # -- snapshots taken at subscription time (no await between bus subscribe and these) --------

    def first(self, publisher: Publisher) -> list[Any]:
        """Events to send at once: partial book / book ticker state, the ticker (klines: `_forward`)."""
        inner = self.market.symbol
        if self.kind in ("partial", "bookTicker"):
            snapshot = publisher.book_snapshot(inner, None)
            if snapshot is None:
                return []
            self.book = ClientBook(orjson.loads(snapshot[1]))
            return self._book_events(force=True)
        return []

    # -- live messages ----------------------------------------------------------------------------

    def convert(self, message: dict[str, Any], publisher: Publisher) -> list[Any]:
        """Binance events for one of our channel messages."""
        kind = self.kind
        if kind == "depth":
            return [self._depth_update(message)]
        if kind in ("partial", "bookTicker"):
            assert self.book is not None
            try:
                if not self.book.apply(message):
                    return []
            except BookGapError:  # the publisher dropped a batch: start again from its mirror
                snapshot = publisher.book_snapshot(self.market.symbol, None)
                if snapshot is None:
                    return []
                self.book = ClientBook(orjson.loads(snapshot[1]))
            return self._book_events(force=False)
        if kind in ("trade", "aggTrade"):
            return self._trades(message)
        if self.kline is not None:
            return self.kline.trades(message)
        return []  # tickers are computed in `_forward_ticker`, at most once a second

    def _depth_update(self, diff: dict[str, Any]) -> dict[str, Any]:
        return {
            "e": "depthUpdate",
            "E": _ms(diff.get("ts")),
            "s": self.symbol,
            "U": diff["prev_seq"] + 1,
            "u": diff["seq"],
            "b": diff["bids"],
            "a": diff["asks"],
        }

    def _book_events(self, *, force: bool) -> list[Any]:
        assert self.book is not None
        if self.kind == "partial":
            levels = int(self.arg)
            bids, asks = self.book.depth()
            top = (bids[:levels], asks[:levels])
            if top == self.top and not force:
                return []
            self.top = top
            return [
                {
                    "lastUpdateId": self.book.seq,
                    "bids": [list(level) for level in top[0]],
                    "asks": [list(level) for level in top[1]],
                }
            ]
        best_bid = max(self.book.bids.items(), key=lambda level: Decimal(level[0]), default=None)
        best_ask = min(self.book.asks.items(), key=lambda level: Decimal(level[0]), default=None)
        best = (best_bid, best_ask)
        if best == self.top and not force:
            return []
        self.top = best
        return [
            {
                "u": self.book.seq,
                "s": self.symbol,
                "b": best_bid[0] if best_bid else "0",
                "B": best_bid[1] if best_bid else "0",
                "a": best_ask[0] if best_ask else "0",
                "A": best_ask[1] if best_ask else "0",
            }
        ]

    def _trades(self, message: dict[str, Any]) -> list[Any]:
        trades = message["trades"]
        now = time.time_ns() // NS_PER_MS
        if self.kind == "trade":
            return [
                {
                    "e": "trade",
                    "E": now,
                    "s": self.symbol,
                    "t": t["id"],
                    "p": t["price"],
                    "q": t["quantity"],
                    "T": _ms(t["ts"]),
                    "m": t["taker_side"] == "sell",
                    "M": True,
                }
                for t in trades
            ]
        # One aggregate per taker order and price: same command timestamp, price and taker side.
        out: list[dict[str, Any]] = []
        key: tuple[Any, ...] | None = None
        total = Decimal(0)
        for t in trades:
            here = (t["ts"], t["price"], t["taker_side"])
            if out and here == key:
                total += Decimal(t["quantity"])
                out[-1]["q"] = _decimal(total, self.fmt.base_scale)
                out[-1]["l"] = t["id"]
                continue
            key, total = here, Decimal(t["quantity"])
            out.append(
                {
                    "e": "aggTrade",
                    "E": now,
                    "s": self.symbol,
                    "a": t["id"],
                    "p": t["price"],
                    "q": t["quantity"],
                    "f": t["id"],
                    "l": t["id"],
                    "T": _ms(t["ts"]),
                    "m": t["taker_side"] == "sell",
                    "M": True,
                }
            )
        return out

    async def ticker(self, runtime: Runtime) -> list[Any]:
        """The 24 h statistics event, from the same SQL figures as REST ticker/24hr (none before a trade)."""
        # Trades published before the subscription reach this stream only through SQL: let it catch up.
        await runtime.projected(SEED_WAIT_S)
        stats = await rolling_24h(runtime, self.market, self.kind == "miniTicker")
        if stats["count"] == 0:
            return []
        common = {
            "E": time.time_ns() // NS_PER_MS,
            "s": self.symbol,
            "c": stats["lastPrice"],
            "o": stats["openPrice"],
            "h": stats["highPrice"],
            "l": stats["lowPrice"],
            "v": stats["volume"],
            "q": stats["quoteVolume"],
        }
        if self.kind == "miniTicker":
            return [{"e": "24hrMiniTicker", **common}]
        return [
            {
                "e": "24hrTicker",
                **common,
                "p": stats["priceChange"],
                "P": stats["priceChangePercent"],
                "w": stats["weightedAvgPrice"],
                "x": stats["prevClosePrice"],
                "Q": stats["lastQty"],
                "b": stats["bidPrice"],
                "B": stats["bidQty"],
                "a": stats["askPrice"],
                "A": stats["askQty"],
                "O": stats["openTime"],
                "C": stats["closeTime"],
                "F": stats["firstId"],
                "L": stats["lastId"],
                "n": stats["count"],
            }
        ]


def _decimal(value: Decimal, scale: int) -> str:
    """A derived figure (change, average, aggregate) written at an asset's scale."""
    return f"{value.quantize(Decimal(1).scaleb(-scale)):f}"


def parse_stream(name: str, runtime: Runtime) -> Stream | None:
    """The stream a Binance stream name denotes, or None when it names none."""
    matched = _NAME.fullmatch(name)
    if matched is None:
        return None
    market = symbol_index(runtime).get(matched.group(1).upper())
    if market is None:
        return None
    rest, inner, fmt = matched.group(2), market.symbol, Formats(runtime, market)
    if rest in ("depth", "depth@100ms", "depth@1000ms"):
        return Stream(name, "depth", fmt, f"book.{inner}")
    partial = re.fullmatch(r"depth(5|10|20)(@100ms|@1000ms)?", rest)
    if partial:
        return Stream(name, "partial", fmt, f"book.{inner}", partial.group(1))
    if rest == "bookTicker":
        return Stream(name, "bookTicker", fmt, f"book.{inner}")
    if rest in ("trade", "aggTrade"):
        return Stream(name, rest, fmt, f"trades.{inner}")
    if rest.startswith("kline_") and rest[6:] in INTERVALS:
        stream = Stream(name, "kline", fmt, f"trades.{inner}", rest[6:])
        stream.kline = KlineBuilder(fmt, rest[6:])
        return stream
    if rest in ("ticker", "miniTicker"):
        return Stream(name, rest, fmt, f"ticker.{inner}")
    return None


class _Connection(Connection):
    """A market-stream client: one forwarding task per stream."""

    def __init__(self, websocket: WebSocket, runtime: Runtime, combined: bool, initial: list[str]) -> None:
        super().__init__(websocket, runtime)
        self.publisher = runtime.publisher
        self.combined = combined
        self.initial = initial
        self.streams: dict[str, tuple[Stream, Subscription, asyncio.Task[None]]] = {}

    async def opened(self) -> None:
        """Subscribe the streams named in the URL."""
        await self._subscribe(
            [s for s in (parse_stream(n, self.runtime) for n in self.initial) if s is not None]
        )

    async def closing(self) -> None:
        """Close every bus subscription."""
        for name in list(self.streams):
            await self._drop(name)

    def emit(self, stream: Stream, events: list[Any]) -> None:
        """Send a stream's events, wrapped as {"stream", "data"} when combined."""
        for event in events:
            self.push({"stream": stream.name, "data": event} if self.combined else event)

    def too_large(self) -> None:
        """Refuse an oversized request."""
        self._error(2, f"Invalid request: messages are limited to {MAX_MESSAGE_BYTES} bytes")

    def _error(self, code: int, msg: str, request_id: Any = None) -> None:
        self.push({"code": code, "msg": msg, "id": request_id})

    async def handle(self, raw: str | bytes) -> None:
        """One request: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY."""
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._error(3, f"Invalid JSON: {exc}")
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self._error(2, "Invalid request: missing field `method`")
            return
        request_id = request.get("id")
        valid_id = request_id is None or (
            (type(request_id) is int and request_id >= 0)
            or (isinstance(request_id, str) and _ID.fullmatch(request_id))
        )
        if not valid_id:
            self._error(2, "Invalid request: request ID must be an unsigned integer")
            return
        method, params = request["method"], request.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            await self._change(method, params, request_id)
        elif method == "LIST_SUBSCRIPTIONS":
            self.push({"result": list(self.streams), "id": request_id})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            self._property(method, params, request_id)
        else:
            self._error(
                2,
                f"Invalid request: unknown variant {method}, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
                "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                request_id,
            )

    def _property(self, method: str, params: Any, request_id: Any) -> None:
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            self._error(2, "Invalid request: property name must be a string", request_id)
        elif params[0] != "combined":
            self._error(0, "Unknown property", request_id)
        elif method == "GET_PROPERTY":
            self.push({"result": self.combined, "id": request_id})
        elif len(params) != 2 or not isinstance(params[1], bool):
            self._error(1, "Invalid value type: expected Boolean", request_id)
        else:
            self.combined = params[1]
            self.push({"result": None, "id": request_id})

    async def _change(self, method: str, params: Any, request_id: Any) -> None:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            self._error(2, "Invalid request: params must be a list of stream names", request_id)
            return
        streams = [parse_stream(name, self.runtime) for name in dict.fromkeys(params)]
        unknown = [name for name, s in zip(dict.fromkeys(params), streams, strict=True) if s is None]
        if unknown:
            self._error(2, f"Invalid request: unknown stream name {unknown[0]!r}", request_id)
            return
        if method == "UNSUBSCRIBE":
            for stream in streams:
                if stream is not None and stream.name in self.streams:
                    await self._drop(stream.name)
            self.push({"result": None, "id": request_id})
            return
        new = [s for s in streams if s is not None and s.name not in self.streams]
        if len(self.streams) + len(new) > MAX_STREAMS:
            self._error(2, f"Invalid request: at most {MAX_STREAMS} streams per connection", request_id)
            return
        # Acknowledge first: Binance answers the request before the streams' first events.
        self.push({"result": None, "id": request_id})
        await self._subscribe(new)

    async def _subscribe(self, streams: list[Stream]) -> None:
        for stream in streams:
            try:
                subscription = await self.runtime.bus.subscribe(stream.channel)
            except BusError:
                logger.warning("could not subscribe to %s", stream.channel, exc_info=True)
                self._error(2, f"Stream {stream.name} is unavailable, retry later")
                continue
            # No await between the bus subscription and the snapshot: nothing is published in between.
            self.emit(stream, stream.first(self.publisher))
            task = self.spawn(self._forward(stream, subscription))
            self.streams[stream.name] = (stream, subscription, task)

    async def _forward_ticker(self, stream: Stream, subscription: Subscription) -> None:
        """Tickers like Binance's: now, then at most once a second after the market changed."""
        payloads = aiter(subscription)
        self.emit(stream, await stream.ticker(self.runtime))
        sent, changed = time.monotonic(), False
        try:
            while True:
                wait = max(0.0, sent + TICKER_EVERY_S - time.monotonic()) if changed else None
                try:
                    await asyncio.wait_for(anext(payloads), wait)
                    changed = True
                except TimeoutError:
                    pass
                except StopAsyncIteration:
                    break
                if changed and time.monotonic() - sent >= TICKER_EVERY_S:
                    self.emit(stream, await stream.ticker(self.runtime))
                    sent, changed = time.monotonic(), False
        except SlowConsumerError:
            self.finish(CLOSE_SLOW_CONSUMER)

    async def _forward(self, stream: Stream, subscription: Subscription) -> None:
        if stream.kind in ("ticker", "miniTicker"):
            await self._forward_ticker(stream, subscription)
            return
        kline = stream.kline
        if kline is not None:
            self.emit(stream, await kline.seed(self.runtime))
        payloads = aiter(subscription)
        try:
            while True:
                wait = kline.seconds_to_close() if kline is not None else None
                try:
                    payload = await asyncio.wait_for(anext(payloads), wait)
                except TimeoutError:  # the kline's interval ended: send it closed
                    assert kline is not None
                    self.emit(stream, kline.close())
                    continue
                except StopAsyncIteration:
                    break
                self.emit(stream, stream.convert(orjson.loads(payload), self.publisher))
        except SlowConsumerError:
            self.finish(CLOSE_SLOW_CONSUMER)

    async def _drop(self, name: str) -> None:
        _, subscription, task = self.streams.pop(name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await subscription.close()


@router.websocket("/ws/{path:path}")
async def raw_streams(websocket: WebSocket, path: str) -> None:
    """Raw streams: /ws/<stream>[/<stream>...]; segments that name no stream are ignored (ccxt's /ws/0)."""
    await _Connection(websocket, websocket.app.state.runtime, False, path.split("/")).run()


@router.websocket("/stream")
async def combined_streams(websocket: WebSocket) -> None:
    """Combined streams: /stream?streams=<a>/<b>; events arrive as {"stream", "data"}."""
    names = websocket.query_params.get("streams", "")
    initial = names.split("/") if names else []
    await _Connection(websocket, websocket.app.state.runtime, True, initial).run()
