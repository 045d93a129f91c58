"""Candles: epoch-aligned buckets, and OHLCV per interval as the projector writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wcx.engine import PlaceOrder, Side
from wcx.marketdata.candles import bucket_start, to_datetime
from wcx.store import queries
from wcx.store.projector import Projector

from .conftest import T0, Database, exchange, run

BTC = 10**8
USDT = 10**6
NINE = datetime(2027, 1, 15, 9, tzinfo=UTC)
S = 10**9


def test_engine_timestamps_become_utc_datetimes_and_buckets_align_to_the_epoch() -> None:
    assert to_datetime(T0 + 1_234_567) == datetime(2027, 1, 15, 8, 0, 0, 1_234, tzinfo=UTC)
    ts = T0 + (3 * 3600 + 17 * 60 + 42) * S  # 11:17:42
    assert [bucket_start(ts, i).strftime("%H:%M") for i in ("1m", "5m", "15m", "1h", "4h")] == [
        "11:17",
        "11:15",
        "11:15",
        "11:00",
        "08:00",
    ]
    assert bucket_start(ts, "1d") == datetime(2027, 1, 15, tzinfo=UTC)


def test_ohlcv_per_interval_across_batches(database: Database) -> None:
    journal, _ = exchange(accounts=2)
    setup = len(journal.events)
    trades = [  # (seconds after 09:00, price in USDT, quantity in BTC / 100)
        (10, 60_000, 10),
        (50, 60_500, 20),
        (59, 59_800, 10),
        (60, 60_100, 30),
        (299, 59_000, 5),
        (3_600, 61_000, 5),
    ]
    for offset, price, hundredths in trades:
        ts = int(NINE.timestamp()) * S + offset * S
        journal.apply(
            PlaceOrder(1, "BTC-USDT", Side.SELL, price=price * USDT, quantity=hundredths * BTC // 100), ts
        )
        journal.apply(
            PlaceOrder(2, "BTC-USDT", Side.BUY, price=price * USDT, quantity=hundredths * BTC // 100), ts
        )

    def candle(price_and_qty: list[tuple[int, int]]) -> tuple[int, ...]:
        prices = [p * USDT for p, _ in price_and_qty]
        volume = sum(q * BTC // 100 for _, q in price_and_qty)
        quote = sum(p * USDT * q // 100 for p, q in price_and_qty)
        return (prices[0], max(prices), min(prices), prices[-1], volume, quote, len(prices))

    pq = [(p, q) for _, p, q in trades]

    async def body() -> None:
        async with database.connect() as db:
            projector = Projector(db)
            await projector.start()
            # Two batches split inside the first minute: the second merges into stored candles.
            projector.on_events([e for events in journal.events[: setup + 4] for e in events])
            await projector.flush()
            projector.on_events([e for events in journal.events[setup + 4 :] for e in events])
            await projector.stop()

            async def ohlcv(interval: str) -> dict[datetime, tuple[int, ...]]:
                rows = await queries.candle_range(db, "BTC-USDT", interval, start=NINE - timedelta(hours=9))
                return {
                    c.open_time: (c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades)
                    for c in rows
                }

            minute = timedelta(minutes=1)
            assert await ohlcv("1m") == {
                NINE: candle(pq[:3]),
                NINE + minute: candle(pq[3:4]),
                NINE + 4 * minute: candle(pq[4:5]),
                NINE + 60 * minute: candle(pq[5:]),
            }
            assert await ohlcv("5m") == {NINE: candle(pq[:5]), NINE + 60 * minute: candle(pq[5:])}
            assert await ohlcv("15m") == await ohlcv("5m")
            assert await ohlcv("1h") == {NINE: candle(pq[:5]), NINE + 60 * minute: candle(pq[5:])}
            assert await ohlcv("4h") == {NINE - 60 * minute: candle(pq)}
            assert await ohlcv("1d") == {datetime(2027, 1, 15, tzinfo=UTC): candle(pq)}

    run(body())
