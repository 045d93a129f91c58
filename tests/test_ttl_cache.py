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


async def test_an_entry_used_late_in_its_ttl_answers_at_once_and_is_refreshed_behind() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(clock, 5.0)
    calls: list[float] = []
    gate = asyncio.Event()

    async def lookup() -> int:
        calls.append(clock())
        await gate.wait()
        return len(calls)

    gate.set()
    assert await cache.load("k", lookup) == 1
    gate.clear()
    clock.advance(3.4)
    assert await cache.load("k", lookup) == 1 and len(calls) == 1  # young: no lookup started
    clock.advance(0.2)  # 3.6 s, past 70 % of the TTL: answered from the cache while a refresh runs
    assert await asyncio.wait_for(cache.load("k", lookup), 0.1) == 1
    assert await asyncio.wait_for(cache.load("k", lookup), 0.1) == 1
    assert len(calls) == 2  # one refresh at a time
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    clock.advance(2.0)  # 5.6 s: past the first entry's TTL, inside the refreshed one's
    assert cache.get("k") == 2


async def test_a_refresh_that_finds_nothing_drops_the_entry_and_a_failed_one_lets_it_expire() -> None:
    clock = FakeClock()
    cache: TtlCache[str] = TtlCache(clock, 5.0)
    cache.put("revoked", "live")
    cache.put("flaky", "live")
    clock.advance(3.6)

    async def gone() -> None:
        return None

    async def broken() -> str:
        raise OSError("database down")

    assert await cache.load("revoked", gone) == "live"  # still within its TTL when asked
    assert await cache.load("flaky", broken) == "live"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert cache.get("revoked") is None  # the refresh saw the revocation
    assert cache.get("flaky") == "live"  # a failed refresh changes nothing...
    clock.advance(1.41)
    with pytest.raises(OSError, match="database down"):  # ...until it expires: then the error shows
        await cache.load("flaky", broken)
