"""Engine events to channel messages: book diffs, trades, tickers, and private account updates.

`Publisher.on_events` is a sequencer listener. It runs on the event-loop thread right after a
durable batch was applied, when the engine state is exactly the batch's result: it reads the book
levels at the prices the batch touched, the balances of the accounts it touched, builds and
encodes every message synchronously, then queues them; a task publishes them to the bus.

Channels (all payloads are JSON objects; amounts are decimal strings at the asset's scale):
  book.<SYMBOL>     {"type":"book","symbol","seq","prev_seq","ts","bids":[[price,qty],...],"asks":[...]}
                    changed levels only, qty "0" = level removed; `seq` is the engine seq the book is
                    at, `prev_seq` the previous diff's (a client whose last seq differs has a gap).
  trades.<SYMBOL>   {"type":"trades","symbol","seq","trades":[{"id","ts","price","quantity",
                    "quote_quantity","taker_side"}, ...]}
  ticker.<SYMBOL>   {"type":"ticker","symbol","seq","ts","last","open","high","low","volume",
                    "quote_volume","trades","best_bid","best_ask"} after trades or a change of the
                    best prices; rolling 24 h figures at one-minute granularity, started from SQL's 1m
                    candles at start-up (`seed_history`) and followed from trades since.
  candles.<SYMBOL>.<INTERVAL>  (1m 5m 15m 1h 4h 1d) {"type":"candle","symbol","interval","seq",
                    "open_time","open","high","low","close","volume","quote_volume","trades"}: the
                    current candle after each batch with trades; at start-up each interval's newest
                    stored candle (the same rows REST candles come from).
  account.<ID>      {"type":"account","seq","ts","orders":[...],"fills":[...],"balances":{asset:
                    {"available","held"}}} one message per account per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from wcx.engine import Engine, Event, OrderType, Side, TimeInForce
from wcx.engine.book import OrderBook
from wcx.engine.events import (
    BalanceAdjusted,
    DepositCredited,
    MarketAdded,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    WithdrawalHeld,
    WithdrawalReleased,
    WithdrawalSettled,
)
from wcx.engine.orders import Order
from wcx.marketdata.candles import INTERVALS, Ohlcv, bucket_start
from wcx.primitives import format_amount
from wcx.stream.books import BookTracker, Levels
from wcx.stream.bus import Bus, Message

logger = logging.getLogger(__name__)

PUBLIC_KINDS = ("book", "trades", "ticker", "candles")
"""Public channel kinds: "<kind>.<SYMBOL>", and "candles.<SYMBOL>.<INTERVAL>"."""

_NS_PER_S = 10**9
_NS_PER_MINUTE = 60 * _NS_PER_S
_WINDOW_MINUTES = 24 * 60


def account_channel(account_id: int) -> str:
    """The private channel of one account."""
    return f"account.{account_id}"


@dataclass(frozen=True, slots=True)
class _Format:
    """How amounts of one market are written."""

    base: str
    quote: str
    base_scale: int
    quote_scale: int

    def price(self, units: int) -> str:
        return format_amount(units, self.quote_scale)

    def quantity(self, units: int) -> str:
        return format_amount(units, self.base_scale)

    def quote_amount(self, units: int) -> str:
        return format_amount(units, self.quote_scale)

    def held_asset_amount(self, is_buy: bool, units: int) -> str:
        return format_amount(units, self.quote_scale if is_buy else self.base_scale)

    def levels(self, levels: Levels) -> list[list[str]]:
        return [[self.price(price), self.quantity(quantity)] for price, quantity in levels]


@dataclass(slots=True)
class _OrderRef:
    """What the publisher remembers of an open order: where it rests and how the client names it."""

    symbol: str
    is_buy: bool
    price: int
    client_order_id: str


class _Rolling24h:
    """Trades of the last 24 h in one-minute candles, with running volume totals."""

    __slots__ = ("buckets", "last", "quote_volume", "trades", "volume")

    def __init__(self) -> None:
        self.buckets: deque[tuple[int, Ohlcv]] = deque()
        self.volume = self.quote_volume = self.trades = self.last = 0

    def add(self, ts: int, trade: Ohlcv) -> None:
        minute = ts // _NS_PER_MINUTE
        buckets = self.buckets
        if buckets and buckets[-1][0] == minute:
            buckets[-1][1].merge(trade)
        else:
            buckets.append((minute, replace(trade)))
        self.volume += trade.volume
        self.quote_volume += trade.quote_volume
        self.trades += trade.trades
        self.last = trade.close
        self.expire(ts)

    def expire(self, ts: int) -> None:
        """Drop the minutes that fell out of the 24 h window ending at `ts` (a quiet market's volume
        goes to zero with time, not only with its next trade)."""
        buckets, oldest = self.buckets, ts // _NS_PER_MINUTE - _WINDOW_MINUTES
        while buckets and buckets[0][0] <= oldest:
            _, old = buckets.popleft()
            self.volume -= old.volume
            self.quote_volume -= old.quote_volume
            self.trades -= old.trades

    def summary(self, fmt: _Format, ts: int) -> dict[str, str | int | None]:
        """The REST ticker's fields (`TickerOut`) over the window ending at `ts`."""
        self.expire(ts)
        candles = [candle for _, candle in self.buckets]
        return {
            "last": fmt.price(self.last) if candles else None,
            "open": fmt.price(candles[0].open) if candles else None,
            "high": fmt.price(max(c.high for c in candles)) if candles else None,
            "low": fmt.price(min(c.low for c in candles)) if candles else None,
            "volume": fmt.quantity(self.volume),
            "quote_volume": fmt.quote_amount(self.quote_volume),
            "trades": self.trades,
        }


@dataclass(slots=True)
class _MarketBatch:
    bids: set[int] = field(default_factory=set)
    asks: set[int] = field(default_factory=set)
    trades: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    ts: int = 0


@dataclass(slots=True)
class _AccountBatch:
    seq: int = 0
    ts: int = 0
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    assets: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Batch:
    markets: dict[str, _MarketBatch] = field(default_factory=dict)
    accounts: dict[int, _AccountBatch] = field(default_factory=dict)
    # The latest fill update per order: it says "filled" if the order is closed after the batch.
    last_fill: dict[int, dict[str, Any]] = field(default_factory=dict)
    order_ids: set[int] = field(default_factory=set)

    def market(self, event: Event, symbol: str) -> _MarketBatch:
        batch = self.markets.get(symbol)
        if batch is None:
            batch = self.markets[symbol] = _MarketBatch()
        batch.seq, batch.ts = event.seq, event.ts
        return batch

    def account(self, event: Event, account_id: int) -> _AccountBatch:
        batch = self.accounts.get(account_id)
        if batch is None:
            batch = self.accounts[account_id] = _AccountBatch()
        batch.seq, batch.ts = event.seq, event.ts
        return batch


class Publisher:
    """Sequencer listener publishing market and account channels to a bus (see module doc)."""

    def __init__(self, engine: Engine, bus: Bus, *, max_pending: int = 10_000) -> None:
        self.engine = engine
        self.bus = bus
        self.dropped_batches = 0
        self._queue: asyncio.Queue[list[Message] | None] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        state = engine.state
        self.last_seq = state.last_seq
        self.last_ts = 0
        self._formats: dict[str, _Format] = {}
        self._books: dict[str, BookTracker] = {}
        self._tickers: dict[str, _Rolling24h] = {}
        self._candles: dict[str, dict[str, tuple[datetime, Ohlcv]]] = {}
        self._tops: dict[str, tuple[int, int]] = {}
        for symbol, market in state.markets.items():
            self._add_market(symbol, market.book, state.last_seq)
        self._orders: dict[int, _OrderRef] = {
            order_id: _OrderRef(order.symbol, order.is_buy, order.price, order.client_order_id)
            for order_id, order in state.orders.items()
        }
        self._handlers: dict[type[Event], Callable[[Any, _Batch], None]] = {
            MarketAdded: self._market_added,
            OrderAccepted: self._accepted,
            OrderFilled: self._filled,
            OrderCancelled: self._closed,
            OrderExpired: self._closed,
            OrderAmended: self._amended,
            OrderRejected: self._rejected,
            DepositCredited: self._balance_event,
            WithdrawalHeld: self._balance_event,
            WithdrawalSettled: self._balance_event,
            WithdrawalReleased: self._balance_event,
            BalanceAdjusted: self._balance_event,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the publishing task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="wcx-stream-publisher")

    async def stop(self) -> None:
        """Publish what is queued, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            messages = await self._queue.get()
            # Coalesce whatever queued up meanwhile into one bus call (one Redis round trip).
            stop = messages is None
            pending = messages or []
            while not stop and not self._queue.empty():
                more = self._queue.get_nowait()
                stop = more is None
                pending.extend(more or [])
            if pending:
                try:
                    await self.bus.publish_many(pending)
                except Exception:
                    logger.exception("publishing %d stream messages failed; they are lost", len(pending))
            if stop:
                return

    # -- the listener ------------------------------------------------------------------------

    def on_events(self, events: list[Event]) -> None:
        """Sequencer listener: build this batch's messages from the engine state now, publish later."""
        if not events:
            return
        batch = _Batch()
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event, batch)
        messages = self._market_messages(batch) + self._account_messages(batch)
        state_orders = self.engine.state.orders
        for order_id in batch.order_ids:
            if order_id not in state_orders:
                self._orders.pop(order_id, None)
        self.last_seq, self.last_ts = events[-1].seq, events[-1].ts
        if not messages:
            return
        try:
            self._queue.put_nowait(messages)
        except asyncio.QueueFull:
            # Book clients see the gap through prev_seq and resubscribe; the mirror stays exact.
            self.dropped_batches += 1
            logger.error(
                "stream publisher is %d batches behind; dropped seq %d", self._queue.qsize(), self.last_seq
            )

    def seed_history(
        self,
        symbol: str,
        minutes: Sequence[tuple[datetime, Ohlcv]],
        current: dict[str, tuple[datetime, Ohlcv]],
    ) -> None:
        """Start a market's 24 h ticker from its stored 1m candles (oldest first) and its candle channels
        from the stored current candles: only before this publisher has seen a trade of it, or both
        would count that trade."""
        rolling = self._tickers[symbol] = _Rolling24h()
        for open_time, candle in minutes:
            rolling.add(int(open_time.timestamp()) * _NS_PER_S, candle)
        self._candles[symbol] = {name: (start, replace(candle)) for name, (start, candle) in current.items()}

    # -- event handlers ----------------------------------------------------------------------

    def _add_market(self, symbol: str, book: OrderBook, seq: int) -> None:
        state = self.engine.state
        market = state.markets[symbol]
        self._formats[symbol] = _Format(
            market.base, market.quote, state.assets[market.base], state.assets[market.quote]
        )
        self._books[symbol] = BookTracker(book, seq)
        self._tickers[symbol] = _Rolling24h()
        self._candles[symbol] = {}
        self._tops[symbol] = _top(book)

    def _market_added(self, event: MarketAdded, batch: _Batch) -> None:
        # Start from an empty mirror: this batch's own orders in the new market arrive as diffs.
        self._add_market(event.symbol, OrderBook(), event.seq)

    def _touch(self, batch: _Batch, event: Event, symbol: str, is_buy: bool, price: int) -> None:
        market = batch.market(event, symbol)
        (market.bids if is_buy else market.asks).add(price)

    def _order_update(
        self, batch: _Batch, event: Event, account: int, order_id: int, status: str, **fields: Any
    ) -> dict[str, Any]:
        ref = self._orders.get(order_id)
        update = {
            "order_id": order_id,
            "client_order_id": ref.client_order_id if ref is not None else "",
            "status": status,
            **fields,
        }
        batch.account(event, account).orders.append(update)
        batch.order_ids.add(order_id)
        return update

    def _touch_assets(self, batch: _Batch, event: Event, account: int, symbol: str) -> None:
        fmt = self._formats[symbol]
        batch.account(event, account).assets.update((fmt.base, fmt.quote))

    def _accepted(self, event: OrderAccepted, batch: _Batch) -> None:
        is_buy = event.side is Side.BUY
        self._orders[event.order_id] = _OrderRef(event.symbol, is_buy, event.price, event.client_order_id)
        if event.type is OrderType.LIMIT and event.tif is TimeInForce.GTC:
            self._touch(batch, event, event.symbol, is_buy, event.price)
        fmt = self._formats[event.symbol]
        self._order_update(
            batch,
            event,
            event.account,
            event.order_id,
            "accepted",
            symbol=event.symbol,
            side=event.side.value,
            order_type=event.type.value,
            tif=event.tif.value,
            price=fmt.price(event.price) if event.price else None,
            quantity=fmt.quantity(event.quantity) if event.quantity else None,
            quote_amount=fmt.quote_amount(event.quote_amount) if event.quote_amount else None,
            hold=fmt.held_asset_amount(is_buy, event.hold),
            post_only=event.post_only,
        )
        self._touch_assets(batch, event, event.account, event.symbol)

    def _filled(self, event: OrderFilled, batch: _Batch) -> None:
        symbol = event.symbol
        fmt = self._formats[symbol]
        taker_buys = event.taker_side is Side.BUY
        self._touch(batch, event, symbol, not taker_buys, event.price)
        market = batch.market(event, symbol)
        market.trades.append(
            {
                "id": event.trade_id,
                "ts": event.ts,
                "price": fmt.price(event.price),
                "quantity": fmt.quantity(event.quantity),
                "quote_quantity": fmt.quote_amount(event.quote_quantity),
                "taker_side": event.taker_side.value,
            }
        )
        trade = Ohlcv.of_trade(event.price, event.quantity, event.quote_quantity)
        self._tickers[symbol].add(event.ts, trade)
        candles = self._candles[symbol]
        for interval in INTERVALS:
            start = bucket_start(event.ts, interval)
            current = candles.get(interval)
            if current is not None and current[0] == start:
                current[1].merge(trade)
            else:
                candles[interval] = (start, replace(trade))
        sides = (
            (event.maker_account, event.maker_order_id, event.maker_fee, event.maker_remaining, "maker"),
            (event.taker_account, event.taker_order_id, event.taker_fee, event.taker_remaining, "taker"),
        )
        for account, order_id, fee, remaining, liquidity in sides:
            is_buy = taker_buys == (liquidity == "taker")
            update = self._order_update(
                batch,
                event,
                account,
                order_id,
                "partially_filled",
                symbol=symbol,
                remaining=fmt.quantity(remaining),
            )
            batch.last_fill[order_id] = update
            batch.account(event, account).fills.append(
                {
                    "trade_id": event.trade_id,
                    "order_id": order_id,
                    "client_order_id": update["client_order_id"],
                    "symbol": symbol,
                    "side": "buy" if is_buy else "sell",
                    "liquidity": liquidity,
                    "price": fmt.price(event.price),
                    "quantity": fmt.quantity(event.quantity),
                    "quote_quantity": fmt.quote_amount(event.quote_quantity),
                    "fee": fmt.quote_amount(fee),
                    "fee_asset": fmt.quote,
                    "ts": event.ts,
                }
            )
            self._touch_assets(batch, event, account, symbol)

    def _closed(self, event: OrderCancelled | OrderExpired, batch: _Batch) -> None:
        ref = self._orders.get(event.order_id)
        if ref is not None:
            self._touch(batch, event, ref.symbol, ref.is_buy, ref.price)
        batch.last_fill.pop(event.order_id, None)
        status = "cancelled" if isinstance(event, OrderCancelled) else "expired"
        self._order_update(
            batch,
            event,
            event.account,
            event.order_id,
            status,
            symbol=event.symbol,
            remaining=self._formats[event.symbol].quantity(event.remaining),
            reason=event.reason.value,
        )
        self._touch_assets(batch, event, event.account, event.symbol)

    def _amended(self, event: OrderAmended, batch: _Batch) -> None:
        ref = self._orders.get(event.order_id)
        is_buy = ref.is_buy if ref is not None else False
        if ref is not None:
            self._touch(batch, event, ref.symbol, ref.is_buy, ref.price)
            ref.price = event.price
        self._touch(batch, event, event.symbol, is_buy, event.price)
        fmt = self._formats[event.symbol]
        self._order_update(
            batch,
            event,
            event.account,
            event.order_id,
            "amended",
            symbol=event.symbol,
            price=fmt.price(event.price),
            quantity=fmt.quantity(event.quantity),
            remaining=fmt.quantity(event.remaining),
            kept_priority=event.kept_priority,
            hold=fmt.held_asset_amount(is_buy, event.hold),
        )
        self._touch_assets(batch, event, event.account, event.symbol)

    def _rejected(self, event: OrderRejected, batch: _Batch) -> None:
        if event.account <= 0:
            return
        update = {
            "order_id": event.order_id or None,
            "client_order_id": event.client_order_id,
            "status": "rejected",
            "symbol": event.symbol or None,
            "code": event.code.value.upper(),
        }
        batch.account(event, event.account).orders.append(update)

    def _balance_event(
        self,
        event: DepositCredited | WithdrawalHeld | WithdrawalSettled | WithdrawalReleased | BalanceAdjusted,
        batch: _Batch,
    ) -> None:
        if event.account > 0:
            batch.account(event, event.account).assets.add(event.asset)

    # -- messages ----------------------------------------------------------------------------

    def _market_messages(self, batch: _Batch) -> list[Message]:
        messages: list[Message] = []
        markets = self.engine.state.markets
        for symbol, touched in batch.markets.items():
            fmt = self._formats[symbol]
            book = markets[symbol].book
            diff = self._books[symbol].update(book, touched.bids, touched.asks, touched.seq)
            if diff is not None:
                payload = {
                    "type": "book",
                    "symbol": symbol,
                    "seq": diff.seq,
                    "prev_seq": diff.prev_seq,
                    "ts": touched.ts,
                    "bids": fmt.levels(diff.bids),
                    "asks": fmt.levels(diff.asks),
                }
                messages.append((f"book.{symbol}", orjson.dumps(payload)))
            if touched.trades:
                payload = {"type": "trades", "symbol": symbol, "seq": touched.seq, "trades": touched.trades}
                messages.append((f"trades.{symbol}", orjson.dumps(payload)))
                messages += self._candle_messages(symbol, touched.seq)
            top = _top(book)
            if touched.trades or top != self._tops[symbol]:
                self._tops[symbol] = top
                messages.append((f"ticker.{symbol}", self._ticker(symbol, touched.seq, touched.ts)))
        return messages

    def _candle_messages(self, symbol: str, seq: int) -> list[Message]:
        return [
            (f"candles.{symbol}.{interval}", self._candle(symbol, interval, seq))
            for interval in self._candles[symbol]
        ]

    def _candle(self, symbol: str, interval: str, seq: int) -> bytes:
        fmt = self._formats[symbol]
        start, candle = self._candles[symbol][interval]
        payload = {
            "type": "candle",
            "symbol": symbol,
            "interval": interval,
            "seq": seq,
            "open_time": start,
            "open": fmt.price(candle.open),
            "high": fmt.price(candle.high),
            "low": fmt.price(candle.low),
            "close": fmt.price(candle.close),
            "volume": fmt.quantity(candle.volume),
            "quote_volume": fmt.quote_amount(candle.quote_volume),
            "trades": candle.trades,
        }
        return orjson.dumps(payload, option=orjson.OPT_UTC_Z)

    def _ticker(self, symbol: str, seq: int, ts: int) -> bytes:
        fmt = self._formats[symbol]
        bid, ask = self._tops[symbol]
        payload = {
            "type": "ticker",
            "symbol": symbol,
            "seq": seq,
            "ts": ts,
            **self._tickers[symbol].summary(fmt, ts),
            "best_bid": fmt.price(bid) if bid else None,
            "best_ask": fmt.price(ask) if ask else None,
        }
        return orjson.dumps(payload)

    def _account_messages(self, batch: _Batch) -> list[Message]:
        state = self.engine.state
        for order_id, fill_update in batch.last_fill.items():
            if order_id not in state.orders:
                fill_update["status"] = "filled"
        messages: list[Message] = []
        for account_id, update in batch.accounts.items():
            payload = {
                "type": "account",
                "seq": update.seq,
                "ts": update.ts,
                "orders": update.orders,
                "fills": update.fills,
                "balances": self._balances(account_id, update.assets),
            }
            messages.append((account_channel(account_id), orjson.dumps(payload)))
        return messages

    def _balances(self, account_id: int, assets: set[str] | None = None) -> dict[str, dict[str, str]]:
        state = self.engine.state
        account = state.accounts.get(account_id)
        if assets is None:
            assets = set(account.available) | set(account.held) if account is not None else set()
        balances: dict[str, dict[str, str]] = {}
        for asset in sorted(assets):
            available, held = state.balance(account_id, asset)
            scale = state.assets[asset]
            balances[asset] = {
                "available": format_amount(available, scale),
                "held": format_amount(held, scale),
            }
        return balances

    # -- snapshots for new subscribers -------------------------------------------------------

    def markets(self) -> list[str]:
        """Symbols with public channels."""
        return list(self._books)

    def public_channel(self, name: str) -> tuple[str, str] | None:
        """(kind, symbol) of a public channel name such as "book.BTC-USDT" or "candles.BTC-USDT.1m"."""
        kind, _, rest = name.partition(".")
        symbol, _, interval = rest.partition(".") if kind == "candles" else (rest, "", "")
        if kind not in PUBLIC_KINDS or symbol not in self._books:
            return None
        if (kind == "candles") != (interval in INTERVALS):
            return None
        return kind, symbol

    def candle_snapshot(self, symbol: str, interval: str) -> tuple[int, bytes] | None:
        """(seq, encoded current candle) as of the last processed batch; None before the first trade."""
        if interval not in self._candles.get(symbol, {}):
            return None
        return self.last_seq, self._candle(symbol, interval, self.last_seq)

    def book_snapshot(self, symbol: str, depth: int | None) -> tuple[int, bytes] | None:
        """(seq, encoded book_snapshot message) consistent with the diff stream; None if unknown."""
        tracker = self._books.get(symbol)
        if tracker is None:
            return None
        snapshot = tracker.snapshot(depth)
        fmt = self._formats[symbol]
        payload = {
            "type": "book_snapshot",
            "symbol": symbol,
            "seq": snapshot.seq,
            "bids": fmt.levels(snapshot.bids),
            "asks": fmt.levels(snapshot.asks),
        }
        return snapshot.seq, orjson.dumps(payload)

    def ticker_snapshot(self, symbol: str) -> tuple[int, bytes] | None:
        """(seq, encoded ticker) as of the last batch this publisher processed; None if unknown."""
        if symbol not in self._tickers:
            return None
        return self.last_seq, self._ticker(symbol, self.last_seq, self.last_ts)

    def account_snapshot(self, account_id: int) -> tuple[int, bytes]:
        """(seq, encoded account_snapshot message): balances and open orders as the engine has them now.

        Account messages with seq <= the returned seq are already reflected in it.
        """
        state = self.engine.state
        account = state.accounts.get(account_id)
        orders = [self._open_order(order) for _, order in sorted(account.orders.items())] if account else []
        payload = {
            "type": "account_snapshot",
            "seq": state.last_seq,
            "balances": self._balances(account_id),
            "orders": orders,
        }
        return state.last_seq, orjson.dumps(payload)

    def _open_order(self, order: Order) -> dict[str, Any]:
        fmt = self._formats[order.symbol]
        return {
            "order_id": order.id,
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": "buy" if order.is_buy else "sell",
            "order_type": order.type.value,
            "tif": order.tif.value,
            "price": fmt.price(order.price),
            "quantity": fmt.quantity(order.quantity),
            "remaining": fmt.quantity(order.remaining),
            "hold": fmt.held_asset_amount(order.is_buy, order.hold),
            "post_only": order.post_only,
        }


def _top(book: OrderBook) -> tuple[int, int]:
    """(best bid, best ask) prices, 0 where a side is empty."""
    bid, ask = book.bids.top, book.asks.top
    return (bid.price if bid else 0, ask.price if ask else 0)
