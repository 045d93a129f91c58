"""The short cache of sessions, API keys and KYC tiers: jittered expiry, one lookup per key."""

from __future__ import annotations

import asyncio

import pytest
from api.auth.conftest import FakeClock

from wcx.ttl_cache import TtlCache

pytestmark = pytest.mark.anyio


async def test_concurrent_misses_share_one_lookup_and_a_miss_is_not_remembered() -> None:
    cache: TtlCache[str] = TtlCache(FakeClock(), 5.0)
    calls: list[str] = []
    gate = asyncio.Event()

    async def lookup() -> str:
        calls.append("k")
        await gate.wait()
        return "value"

    waiting = [asyncio.create_task(cache.load("k", lookup)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == ["value"] * 20
    assert calls == ["k"]
    assert await cache.load("k", lookup) == "value" and calls == ["k"]  # cached now

    async def nothing() -> None:
        calls.append("missing")

    assert await cache.load("missing", nothing) is None
    assert await cache.load("missing", nothing) is None
    assert calls == ["k", "missing", "missing"]  # unknown keys are looked up again


async def test_entries_expire_within_80_to_100_percent_of_the_ttl() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(clock, 5.0)
    for n in range(200):
        cache.put(n, n)
    clock.advance(3.99)
    assert all(cache.get(n) == n for n in range(200))
    clock.advance(0.51)  # 4.5 s: about half have expired (all or none: a chance of 2**-199)
    alive = sum(cache.get(n) is not None for n in range(200))
    assert 0 < alive < 200
    clock.advance(0.51)  # 5.01 s: none is trusted past the TTL
    assert all(cache.get(n) is None for n in range(200))


async def test_a_clear_during_a_lookup_keeps_its_answer_out_of_the_cache() -> None:
    cache: TtlCache[str] = TtlCache(FakeClock(), 5.0)
    gate = asyncio.Event()

    async def before_revocation() -> str:
        await gate.wait()
        return "live"

    pending = asyncio.create_task(cache.load("key", before_revocation))
    await asyncio.sleep(0)
    cache.clear()  # the key is revoked while its lookup is in flight
    gate.set()
    assert await pending == "live"  # the caller that started it gets its answer...
    assert cache.get("key") is None  # ...but the next one looks again
