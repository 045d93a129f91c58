"""History queries: cursor pagination, filters, lookups by id and client id, trades, candles, ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.engine import CancelOrder, PlaceOrder, Side
from wcx.engine.events import OrderAccepted
from wcx.marketdata.candles import INTERVALS
from wcx.store import queries
from wcx.store.projector import Projector
from wcx.store.schema import fills, ledger_entries, market_trades, orders

from .conftest import Database, Journal, exchange, rich_commands, run

USDT = 10**6
BTC = 10**8


def history() -> Journal:
    """A few hundred commands of every kind, then a client order id used twice by account 1."""
    journal, flow = exchange(accounts=3, seed=21)
    for command in rich_commands(flow, journal.engine, 700, seed=21):
        journal.apply(command)
    journal.apply(PlaceOrder(1, "BTC-USDT", Side.BUY, price=10 * USDT, quantity=BTC, client_order_id="again"))
    journal.apply(CancelOrder(1, client_order_id="again"))
    journal.apply(PlaceOrder(1, "BTC-USDT", Side.BUY, price=20 * USDT, quantity=BTC, client_order_id="again"))
    return journal


async def projected(db: AsyncEngine, journal: Journal) -> None:
    projector = Projector(db)
    await projector.start(journal.records)
    await projector.stop()


async def pages(fetch: Callable[[str | None], Awaitable[queries.Page[Any]]]) -> list[list[Any]]:
    """Every page of a listing, following cursors to the end."""
    out, cursor = [], None
    while True:
        page = await fetch(cursor)
        out.append(page.items)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_paginated_listings_return_everything_once_newest_first(database: Database) -> None:
    journal = history()

    async def body() -> None:
        async with database.connect() as db:
            await projected(db, journal)
            async with db.connect() as connection:
                all_orders = list(await connection.execute(select(orders.c.order_id, orders.c.account_id)))
                all_fills = list(
                    await connection.execute(select(fills.c.trade_id, fills.c.order_id, fills.c.account_id))
                )
                all_ledger = list(
                    await connection.execute(
                        select(ledger_entries.c.seq, ledger_entries.c.entry).where(
                            ledger_entries.c.account_id == 2, ledger_entries.c.asset == "USDT"
                        )
                    )
                )
            order_pages = await pages(lambda c: queries.order_history(db, 2, limit=7, cursor=c))
            assert all(len(p) == 7 for p in order_pages[:-1]) and 1 <= len(order_pages[-1]) <= 7
            assert [o.order_id for p in order_pages for o in p] == sorted(
                (o for o, a in all_orders if a == 2), reverse=True
            )
            fill_pages = await pages(lambda c: queries.fills(db, 2, limit=5, cursor=c))
            assert [(f.trade_id, f.order_id) for p in fill_pages for f in p] == sorted(
                ((t, o) for t, o, a in all_fills if a == 2), reverse=True
            )
            assert len(fill_pages) > 3
            ledger_pages = await pages(lambda c: queries.ledger(db, 2, asset="USDT", limit=50, cursor=c))
            assert [(e.seq, e.entry) for p in ledger_pages for e in p] == sorted(all_ledger, reverse=True)
            assert len(ledger_pages) > 3

    run(body())


def test_filters_and_cursor_errors(database: Database) -> None:
    journal = history()

    async def body() -> None:
        async with database.connect() as db:
            await projected(db, journal)
            filtered = await pages(
                lambda c: queries.order_history(
                    db, 1, symbol="ETH-USDT", status="cancelled", limit=3, cursor=c
                )
            )
            found = [o for p in filtered for o in p]
            assert found and {(o.symbol, o.status, o.account_id) for o in found} == {
                ("ETH-USDT", "cancelled", 1)
            }
            partial = next(o for o in found if o.filled)
            by_order = await queries.fills(db, 1, order_id=partial.order_id)
            assert {f.order_id for f in by_order.items} == {partial.order_id}
            assert sum(f.quantity for f in by_order.items) == partial.filled
            cursor = (await queries.order_history(db, 1, limit=1)).next_cursor
            assert cursor is not None
            with pytest.raises(queries.InvalidCursorError, match="another listing"):
                await queries.fills(db, 1, cursor=cursor)
            for junk in ("%%%", "bzpx", queries.encode_cursor("o", 1, 2)):
                with pytest.raises(queries.InvalidCursorError):
                    await queries.order_history(db, 1, cursor=junk)
            with pytest.raises(ValueError, match="limit"):
                await queries.ledger(db, 1, limit=0)

    run(body())


def test_order_lookups_are_per_account(database: Database) -> None:
    journal = history()
    latest = journal.events[-1][0]
    assert isinstance(latest, OrderAccepted)

    async def body() -> None:
        async with database.connect() as db:
            await projected(db, journal)
            async with db.connect() as connection:
                # Lookups also take a connection.
                again = await queries.order_by_client_id(connection, 1, "again")
            assert again is not None and (again.order_id, again.price, again.status) == (
                latest.order_id,
                20 * USDT,
                "open",
            )
            first = await queries.order_by_id(db, 1, latest.order_id - 1)
            assert first is not None and (first.client_order_id, first.status, first.reason) == (
                "again",
                "cancelled",
                "user",
            )
            assert first.created_at.tzinfo is not None and first.updated_at > first.created_at
            assert await queries.order_by_id(db, 2, latest.order_id) is None
            assert await queries.order_by_client_id(db, 2, "again") is None

    run(body())


def test_recent_trades_and_candle_ranges(database: Database) -> None:
    journal = history()

    async def body() -> None:
        async with database.connect() as db:
            await projected(db, journal)
            async with db.connect() as connection:
                ids = [
                    r.trade_id
                    for r in await connection.execute(
                        select(market_trades.c.trade_id)
                        .where(market_trades.c.symbol == "BTC-USDT")
                        .order_by(market_trades.c.trade_id)
                    )
                ]
            recent = await queries.recent_trades(db, "BTC-USDT", limit=4)
            assert [t.trade_id for t in recent] == ids[-4:][::-1]
            assert recent[0].ts.tzinfo is not None and recent[0].symbol == "BTC-USDT"
            minutes = await queries.candle_range(db, "BTC-USDT", "1m", limit=1000)
            assert sum(c.trades for c in minutes) == len(ids)
            assert [c.open_time for c in minutes] == sorted(c.open_time for c in minutes)
            newest = await queries.candle_range(db, "BTC-USDT", "1m", limit=3)
            assert newest == minutes[-3:]
            start, end = minutes[2].open_time, minutes[5].open_time
            window = await queries.candle_range(db, "BTC-USDT", "1m", start=start, end=end)
            assert window == minutes[2:5]
            first_two = await queries.candle_range(db, "BTC-USDT", "1m", start=start, limit=2)
            assert first_two == minutes[2:4]
            later = await queries.candle_range(
                db, "BTC-USDT", "1d", start=datetime.now(UTC) + timedelta(days=999)
            )
            assert later == []
            with pytest.raises(ValueError, match="interval"):
                await queries.candle_range(db, "BTC-USDT", "2m")
            # A restart's WebSocket ticker: the last 24 h of 1m candles and the newest of each interval.
            now_ns = int(minutes[-1].open_time.timestamp() + 30) * 10**9
            last_day, latest = await queries.market_history(db, "BTC-USDT", now_ns)
            assert last_day == minutes and len(latest) == len(INTERVALS)
            for candle in latest:
                assert [candle] == await queries.candle_range(db, "BTC-USDT", candle.interval, limit=1)
            a_day_later = now_ns + 86_400 * 10**9
            later_day, later_latest = await queries.market_history(db, "BTC-USDT", a_day_later)
            assert later_day == [] and later_latest == latest  # a quiet day: no 24 h volume, same candles

    run(body())
