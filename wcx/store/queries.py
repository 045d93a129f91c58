"""History queries over the SQL projection; amounts come back as exact ints, times as aware UTC.

Paged queries return `Page(items, next_cursor)` (newest first); pass `next_cursor` back to get the
next page, None means there is no more. A cursor is opaque to clients; a malformed one, or one
from another listing, raises `InvalidCursorError` (a client error).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.marketdata.candles import INTERVALS, as_utc, bucket_start
from wcx.store.schema import candles, ledger_entries, market_trades, orders
from wcx.store.schema import fills as fills_table

MAX_LIMIT = 1000

Db = AsyncEngine | AsyncConnection
T = TypeVar("T")


class InvalidCursorError(ValueError):
    """A pagination cursor that this listing did not issue."""


class Page(NamedTuple, Generic[T]):
    """One page of a listing and the cursor of the next (None at the end)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as projected (open ones trail the engine by the projector's lag)."""

    order_id: int
    account_id: int
    symbol: str
    side: str
    type: str
    tif: str
    price: int
    quantity: int
    quote_amount: int
    client_order_id: str
    post_only: bool
    status: str
    filled: int
    quote_filled: int
    fee: int
    reason: str
    created_seq: int
    updated_seq: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One side of a trade, as the account that traded sees it (fee in the quote asset)."""

    trade_id: int
    order_id: int
    account_id: int
    symbol: str
    side: str
    liquidity: str
    price: int
    quantity: int
    quote_quantity: int
    fee: int
    seq: int
    ts: datetime


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A public trade."""

    trade_id: int
    ts: datetime
    symbol: str
    price: int
    quantity: int
    quote_quantity: int
    taker_side: str
    seq: int


@dataclass(frozen=True, slots=True)
class CandleRecord:
    """One OHLCV candle."""

    symbol: str
    interval: str
    open_time: datetime
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades: int


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One balance change: `entry` numbers the changes within the command at `seq`."""

    seq: int
    entry: int
    account_id: int
    asset: str
    available_delta: int
    held_delta: int
    kind: str
    ref: str
    ts: datetime


def _record(cls: type[T], row: Row[Any]) -> T:
    values = dict(row._mapping)
    for f in fields(cls):  # type: ignore[arg-type]
        if isinstance(values[f.name], datetime):
            values[f.name] = as_utc(values[f.name])
    return cls(**values)


async def _all(db: Db, statement: Select[Any]) -> list[Row[Any]]:
    if isinstance(db, AsyncEngine):
        async with db.connect() as connection:
            return list(await connection.execute(statement))
    return list(await db.execute(statement))


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}")


def encode_cursor(kind: str, *keys: int) -> str:
    """An opaque cursor for a listing `kind` positioned after `keys`."""
    text = ":".join((kind, *map(str, keys)))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, size: int) -> tuple[int, ...]:
    """The keys of a cursor issued by `encode_cursor(kind, …)` with `size` keys."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, *keys = text.split(":")
        values = tuple(int(key) for key in keys)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("malformed cursor") from None
    if found != kind or len(values) != size:
        raise InvalidCursorError("cursor belongs to another listing")
    return values


def _after(columns: tuple[Any, ...], keys: tuple[int, ...]) -> ColumnElement[bool]:
    """Rows strictly before `keys` in descending (c1, c2) order."""
    first, second = columns
    return or_(first < keys[0], and_(first == keys[0], second < keys[1]))


async def _page(
    db: Db, statement: Select[Any], cls: type[T], limit: int, kind: str, key: tuple[str, ...]
) -> Page[T]:
    rows = await _all(db, statement.limit(limit + 1))
    items = [_record(cls, row) for row in rows[:limit]]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return Page(items, encode_cursor(kind, *(last._mapping[k] for k in key)) if last is not None else None)


async def order_by_id(db: Db, account_id: int, order_id: int) -> OrderRecord | None:
    """The account's order with this id (None if absent or another account's)."""
    statement = select(orders).where(orders.c.order_id == order_id, orders.c.account_id == account_id)
    rows = await _all(db, statement)
    return _record(OrderRecord, rows[0]) if rows else None


async def order_by_client_id(db: Db, account_id: int, client_order_id: str) -> OrderRecord | None:
    """The account's newest order with this client order id (ids are reusable once an order closes)."""
    statement = (
        select(orders)
        .where(orders.c.account_id == account_id, orders.c.client_order_id == client_order_id)
        .order_by(orders.c.order_id.desc())
        .limit(1)
    )
    rows = await _all(db, statement)
    return _record(OrderRecord, rows[0]) if rows else None


async def order_history(
    db: Db,
    account_id: int,
    *,
    symbol: str | None = None,
    status: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[OrderRecord]:
    """The account's orders, newest first, optionally of one market and/or status."""
    _check_limit(limit)
    statement = select(orders).where(orders.c.account_id == account_id)
    if symbol is not None:
        statement = statement.where(orders.c.symbol == symbol)
    if status is not None:
        statement = statement.where(orders.c.status == status)
    if cursor is not None:
        (last,) = decode_cursor(cursor, "o", 1)
        statement = statement.where(orders.c.order_id < last)
    statement = statement.order_by(orders.c.order_id.desc())
    return await _page(db, statement, OrderRecord, limit, "o", ("order_id",))


async def fills(
    db: Db,
    account_id: int,
    *,
    symbol: str | None = None,
    order_id: int | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[FillRecord]:
    """The account's fills, newest first, optionally of one market and/or order."""
    _check_limit(limit)
    statement = select(fills_table).where(fills_table.c.account_id == account_id)
    if symbol is not None:
        statement = statement.where(fills_table.c.symbol == symbol)
    if order_id is not None:
        statement = statement.where(fills_table.c.order_id == order_id)
    if cursor is not None:
        keys = decode_cursor(cursor, "f", 2)
        statement = statement.where(_after((fills_table.c.trade_id, fills_table.c.order_id), keys))
    statement = statement.order_by(fills_table.c.trade_id.desc(), fills_table.c.order_id.desc())
    return await _page(db, statement, FillRecord, limit, "f", ("trade_id", "order_id"))


async def recent_trades(db: Db, symbol: str, *, limit: int = 100) -> list[TradeRecord]:
    """A market's newest trades, newest first."""
    _check_limit(limit)
    statement = (
        select(market_trades)
        .where(market_trades.c.symbol == symbol)
        .order_by(market_trades.c.ts.desc(), market_trades.c.trade_id.desc())
        .limit(limit)
    )
    return [_record(TradeRecord, row) for row in await _all(db, statement)]


async def market_history(db: Db, symbol: str, now_ns: int) -> tuple[list[CandleRecord], list[CandleRecord]]:
    """A market's 1m candles of the last 24 h, oldest first, and its newest candle of each interval
    (what the WebSocket ticker and candle channels hold; they start from these after a restart)."""
    since = bucket_start(now_ns, "1m") - timedelta(days=1)
    minutes = (
        select(candles)
        .where(candles.c.symbol == symbol, candles.c.interval == "1m", candles.c.open_time > since)
        .order_by(candles.c.open_time)
    )
    newest = (
        select(candles.c.interval, func.max(candles.c.open_time).label("open_time"))
        .where(candles.c.symbol == symbol)
        .group_by(candles.c.interval)
        .subquery()
    )
    latest = select(candles).join(
        newest,
        and_(
            candles.c.symbol == symbol,
            candles.c.interval == newest.c.interval,
            candles.c.open_time == newest.c.open_time,
        ),
    )
    return (
        [_record(CandleRecord, row) for row in await _all(db, minutes)],
        [_record(CandleRecord, row) for row in await _all(db, latest)],
    )


async def candle_range(
    db: Db,
    symbol: str,
    interval: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[CandleRecord]:
    """Candles with start <= open_time < end, oldest first: the first `limit` from `start`, or the
    newest `limit` when no start is given. Intervals without trades have no candle."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    _check_limit(limit)
    statement = select(candles).where(candles.c.symbol == symbol, candles.c.interval == interval)
    if start is not None:
        statement = statement.where(candles.c.open_time >= start.astimezone(UTC))
    if end is not None:
        statement = statement.where(candles.c.open_time < end.astimezone(UTC))
    column = candles.c.open_time
    statement = statement.order_by(column if start is not None else column.desc()).limit(limit)
    records = [_record(CandleRecord, row) for row in await _all(db, statement)]
    return records if start is not None else records[::-1]


async def ledger(
    db: Db, account_id: int, *, asset: str | None = None, limit: int = 100, cursor: str | None = None
) -> Page[LedgerRecord]:
    """The account's balance changes, newest first, optionally in one asset."""
    _check_limit(limit)
    statement = select(ledger_entries).where(ledger_entries.c.account_id == account_id)
    if asset is not None:
        statement = statement.where(ledger_entries.c.asset == asset)
    if cursor is not None:
        keys = decode_cursor(cursor, "l", 2)
        statement = statement.where(_after((ledger_entries.c.seq, ledger_entries.c.entry), keys))
    statement = statement.order_by(ledger_entries.c.seq.desc(), ledger_entries.c.entry.desc())
    return await _page(db, statement, LedgerRecord, limit, "l", ("seq", "entry"))
