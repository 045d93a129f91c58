"""SQL reads the Binance endpoints need beyond `wcx.store.queries`: id and time ranges, oldest first.

They read the same projection tables (`orders`, `fills`, `market_trades`) as the native history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.marketdata.candles import as_utc
from wcx.store.queries import FillRecord, OrderRecord, TradeRecord
from wcx.store.schema import fills, market_trades, orders


def as_datetime(ms: int) -> datetime:
    """Milliseconds since the epoch as an aware datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(moment: datetime) -> int:
    """An aware (or UTC-naive, as SQLite returns it) datetime in milliseconds since the epoch."""
    return int(as_utc(moment).timestamp() * 1000)


async def _rows(db: AsyncEngine, statement: Select[Any]) -> list[Any]:
    async with db.connect() as connection:
        return list(await connection.execute(statement))


def _record(cls: Any, row: Any) -> Any:
    values = dict(row._mapping)
    return cls(**{k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()})


async def open_orders(db: AsyncEngine, account: int, symbol: str | None) -> list[OrderRecord]:
    """The account's open orders, oldest first, optionally in one market."""
    statement = select(orders).where(orders.c.account_id == account, orders.c.status == "open")
    if symbol is not None:
        statement = statement.where(orders.c.symbol == symbol)
    return [_record(OrderRecord, r) for r in await _rows(db, statement.order_by(orders.c.order_id))]


def _window(
    statement: Select[Any],
    key: tuple[Any, ...],
    ts: Any,
    *,
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
    newest: bool,
) -> Select[Any]:
    """Rows with key[0] >= from_id and start <= ts <= end (ms); oldest first, or newest first if `newest`."""
    if from_id is not None:
        statement = statement.where(key[0] >= from_id)
    if start is not None:
        statement = statement.where(ts >= as_datetime(start))
    if end is not None:
        statement = statement.where(ts <= as_datetime(end))
    return statement.order_by(*(c.desc() for c in key) if newest else key).limit(limit)


async def _oldest_first(db: AsyncEngine, cls: Any, statement: Select[Any], newest: bool) -> list[Any]:
    records = [_record(cls, row) for row in await _rows(db, statement)]
    return records[::-1] if newest else records


async def all_orders(
    db: AsyncEngine,
    account: int,
    symbol: str,
    *,
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[OrderRecord]:
    """The account's orders in one market, oldest first: from `from_id`, in [start, end] ms, or the newest."""
    newest = from_id is None and start is None
    statement = _window(
        select(orders).where(orders.c.account_id == account, orders.c.symbol == symbol),
        (orders.c.order_id,),
        orders.c.created_at,
        from_id=from_id,
        start=start,
        end=end,
        limit=limit,
        newest=newest,
    )
    return await _oldest_first(db, OrderRecord, statement, newest)


async def my_trades(
    db: AsyncEngine,
    account: int,
    symbol: str,
    *,
    order_id: int | None,
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[FillRecord]:
    """The account's fills in one market, oldest first (same selection rules as `all_orders`)."""
    statement = select(fills).where(fills.c.account_id == account, fills.c.symbol == symbol)
    if order_id is not None:
        statement = statement.where(fills.c.order_id == order_id)
    newest = from_id is None and start is None and order_id is None
    statement = _window(
        statement,
        (fills.c.trade_id, fills.c.order_id),
        fills.c.ts,
        from_id=from_id,
        start=start,
        end=end,
        limit=limit,
        newest=newest,
    )
    return await _oldest_first(db, FillRecord, statement, newest)


async def market_trades_range(
    db: AsyncEngine,
    symbol: str,
    *,
    from_id: int | None = None,
    start: int | None = None,
    end: int | None = None,
    limit: int,
) -> list[TradeRecord]:
    """A market's trades, oldest first: from `from_id`, in [start, end] ms, or the newest `limit`."""
    newest = from_id is None and start is None
    statement = _window(
        select(market_trades).where(market_trades.c.symbol == symbol),
        (market_trades.c.trade_id,),
        market_trades.c.ts,
        from_id=from_id,
        start=start,
        end=end,
        limit=limit,
        newest=newest,
    )
    return await _oldest_first(db, TradeRecord, statement, newest)


async def market_trades_since(db: AsyncEngine, symbol: str, start: datetime) -> list[TradeRecord]:
    """Every trade of a market since `start`, oldest first (the trades of a current candle)."""
    statement = (
        select(market_trades)
        .where(market_trades.c.symbol == symbol, market_trades.c.ts >= start)
        .order_by(market_trades.c.trade_id)
    )
    return [_record(TradeRecord, row) for row in await _rows(db, statement)]


async def trade_id_range(db: AsyncEngine, symbol: str, start: datetime) -> tuple[int, int] | None:
    """(first, last) trade id of a market since `start`, or None without trades."""
    statement = select(func.min(market_trades.c.trade_id), func.max(market_trades.c.trade_id)).where(
        market_trades.c.symbol == symbol, market_trades.c.ts >= start
    )
    first, last = (await _rows(db, statement))[0]
    return None if first is None else (int(first), int(last))


async def taker_buys(
    db: AsyncEngine, symbol: str, start: datetime, end: datetime
) -> list[tuple[datetime, int, int]]:
    """(time, quantity, quote quantity) of the market's buyer-taker trades with start <= ts < end."""
    statement = select(market_trades.c.ts, market_trades.c.quantity, market_trades.c.quote_quantity).where(
        market_trades.c.symbol == symbol,
        market_trades.c.taker_side == "buy",
        market_trades.c.ts >= start,
        market_trades.c.ts < end,
    )
    return [(as_utc(r.ts), r.quantity, r.quote_quantity) for r in await _rows(db, statement)]
