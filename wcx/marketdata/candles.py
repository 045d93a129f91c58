"""Candle intervals and OHLCV aggregation over trades (prices and volumes are exact ints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "4h": 14_400, "1d": 86_400}
"""Candle interval name → length in seconds; buckets are aligned to the Unix epoch (UTC)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000


def to_datetime(ts_ns: int) -> datetime:
    """An engine timestamp (ns since the epoch) as an aware UTC datetime (microsecond precision)."""
    return EPOCH + timedelta(microseconds=ts_ns // 1_000)


def bucket_start(ts_ns: int, interval: str) -> datetime:
    """Open time of the `interval` candle containing `ts_ns`."""
    seconds = INTERVALS[interval]
    return EPOCH + timedelta(seconds=ts_ns // _NS_PER_S // seconds * seconds)


@dataclass(slots=True)
class Ohlcv:
    """One candle's running aggregate."""

    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades: int

    @classmethod
    def of_trade(cls, price: int, quantity: int, quote_quantity: int) -> Ohlcv:
        """The candle of a single trade."""
        return cls(price, price, price, price, quantity, quote_quantity, 1)

    @classmethod
    def of_stored(cls, row: Any) -> Ohlcv:
        """The aggregate of a stored candle (a `candles` row or a record with the same fields)."""
        return cls(row.open, row.high, row.low, row.close, row.volume, row.quote_volume, row.trades)

    def merge(self, later: Ohlcv) -> None:
        """Fold in the aggregate of trades that came after this one's."""
        self.high = max(self.high, later.high)
        self.low = min(self.low, later.low)
        self.close = later.close
        self.volume += later.volume
        self.quote_volume += later.quote_volume
        self.trades += later.trades


def as_utc(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands them back naive)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
