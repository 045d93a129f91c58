"""Expiring counters and markers for throttling and replay protection: in-process, or Redis if configured.

Several gateway processes must share these (a replayed request may reach another process), so with
`REDIS_URL` they live in Redis; a single development process keeps them in memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class Store(Protocol):
    """Keys that expire after a time to live, in milliseconds."""

    async def add(self, key: str, ttl_ms: int) -> bool:
        """Create `key` unless it exists; True when this call created it."""

    async def incr(self, key: str, ttl_ms: int) -> int:
        """Add one to `key` (created at 1 with `ttl_ms` to live) and return the new value."""

    async def ttl_ms(self, key: str) -> int:
        """Milliseconds `key` has left to live; 0 when it does not exist."""

    async def delete(self, key: str) -> None:
        """Remove `key`."""

    async def aclose(self) -> None:
        """Release connections."""


class MemoryStore:
    """The in-process store; expired keys are dropped as time passes (a heap of expiry times)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}
        self._expiries: list[tuple[float, str]] = []

    def _now(self) -> float:
        now = self._clock()
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self._expiries)
            entry = self._values.get(key)
            if entry is not None and entry[1] == expires_at:
                del self._values[key]
        return now

    def _set(self, key: str, value: int, expires_at: float) -> None:
        self._values[key] = (value, expires_at)
        heapq.heappush(self._expiries, (expires_at, key))

    async def add(self, key: str, ttl_ms: int) -> bool:
        """Create `key` unless it exists; True when this call created it."""
        now = self._now()
        if key in self._values:
            return False
        self._set(key, 1, now + ttl_ms / 1000)
        return True

    async def incr(self, key: str, ttl_ms: int) -> int:
        """Add one to `key` (created at 1 with `ttl_ms` to live) and return the new value."""
        now = self._now()
        value, expires_at = self._values.get(key, (0, now + ttl_ms / 1000))
        self._values[key] = (value + 1, expires_at)
        if value == 0:
            heapq.heappush(self._expiries, (expires_at, key))
        return value + 1

    async def ttl_ms(self, key: str) -> int:
        """Milliseconds `key` has left to live; 0 when it does not exist."""
        now = self._now()
        entry = self._values.get(key)
        return 0 if entry is None else max(1, round((entry[1] - now) * 1000))

    async def delete(self, key: str) -> None:
        """Remove `key`."""
        self._values.pop(key, None)

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisStore:
    """The shared store: SET NX PX, INCR + PEXPIRE NX, PTTL."""

    def __init__(self, redis: Redis, prefix: str = "wcx:auth:") -> None:
        self._redis = redis
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store on the Redis at `url`."""
        return cls(Redis.from_url(url))

    async def add(self, key: str, ttl_ms: int) -> bool:
        """Create `key` unless it exists; True when this call created it."""
        return bool(await self._redis.set(self._prefix + key, 1, px=ttl_ms, nx=True))

    async def incr(self, key: str, ttl_ms: int) -> int:
        """Add one to `key` (created at 1 with `ttl_ms` to live) and return the new value."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.pexpire(self._prefix + key, ttl_ms, nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def ttl_ms(self, key: str) -> int:
        """Milliseconds `key` has left to live; 0 when it does not exist."""
        return max(0, int(await self._redis.pttl(self._prefix + key)))

    async def delete(self, key: str) -> None:
        """Remove `key`."""
        await self._redis.delete(self._prefix + key)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
