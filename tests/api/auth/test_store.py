"""The throttle/replay store: one conformance suite for the in-process and the Redis implementation."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from wcx.api.auth.store import MemoryStore, RedisStore, Store

from .conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server (no persistence) on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each implementation in turn (Redis flushed first)."""
    if request.param == "memory":
        yield MemoryStore(FakeClock())
        return
    url = request.getfixturevalue("redis_url")
    flush = Redis.from_url(url)
    flush.flushdb()
    flush.close()
    redis_store = RedisStore.from_url(url)
    yield redis_store
    await redis_store.aclose()


async def test_add_creates_once(store: Store) -> None:
    assert await store.add("k", 10_000) is True
    assert await store.add("k", 10_000) is False
    assert 0 < await store.ttl_ms("k") <= 10_000
    await store.delete("k")
    assert await store.ttl_ms("k") == 0
    assert await store.add("k", 10_000) is True


async def test_incr_counts_and_keeps_its_first_expiry(store: Store) -> None:
    assert [await store.incr("n", 60_000) for _ in range(3)] == [1, 2, 3]
    assert 0 < await store.ttl_ms("n") <= 60_000
    assert await store.incr("n", 1_000_000) == 4
    assert await store.ttl_ms("n") <= 60_000
    assert await store.ttl_ms("absent") == 0


async def test_memory_keys_expire_with_the_clock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    await store.add("short", 1_000)
    await store.incr("long", 5_000)
    clock.advance(1)
    assert await store.ttl_ms("short") == 0 and await store.add("short", 1_000)
    assert await store.ttl_ms("long") == 4_000
    clock.advance(4)
    assert await store.incr("long", 5_000) == 1
