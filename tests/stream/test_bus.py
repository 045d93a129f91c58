"""Buses: fan-out in publish order, slow subscribers dropped without blocking, Redis across processes."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis

from wcx.stream import Bus, InProcessBus, RedisBus, SlowConsumerError, Subscription, create_bus

T = TypeVar("T")
REDIS_URL = os.environ.get("WCX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def take(subscription: Subscription, count: int) -> list[bytes]:
    """The next `count` payloads (failing instead of hanging when they do not come)."""
    return [await asyncio.wait_for(anext(subscription), 5) for _ in range(count)]


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The test Redis, or a loud skip (a failure under WCX_REQUIRE_SERVICES=1)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} unreachable: {exc!r}"
        if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
            pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(f"!!! SKIPPING Redis bus tests: {reason}")
    return REDIS_URL


def redis_bus(url: str, prefix: str, queue_size: int = 4096) -> RedisBus:
    return RedisBus(url, prefix=prefix, queue_size=queue_size)


def test_in_process_fan_out_keeps_publish_order_per_subscriber() -> None:
    async def scenario() -> None:
        bus = InProcessBus()
        first, second = await bus.subscribe("trades.X"), await bus.subscribe("trades.X")
        other = await bus.subscribe("book.X")
        await bus.publish("nobody.listens", b"lost")
        await bus.publish_many([("trades.X", b"1"), ("book.X", b"b"), ("trades.X", b"2")])
        await bus.publish("trades.X", b"3")
        assert await take(first, 3) == await take(second, 3) == [b"1", b"2", b"3"]
        assert await take(other, 1) == [b"b"]
        await first.close()
        await bus.publish("trades.X", b"4")
        assert await take(second, 1) == [b"4"]
        with pytest.raises(StopAsyncIteration):
            await anext(first)

    run(scenario())


def test_a_full_subscriber_is_dropped_and_the_others_keep_receiving() -> None:
    async def scenario() -> None:
        bus = InProcessBus(queue_size=3)
        slow, fast = await bus.subscribe("book.X"), await bus.subscribe("book.X")
        for index in range(10):
            await bus.publish("book.X", str(index).encode())  # never waits for the slow reader
            assert await take(fast, 1) == [str(index).encode()]
        with pytest.raises(SlowConsumerError):
            await anext(slow)
        await bus.publish("book.X", b"after")
        assert await take(fast, 1) == [b"after"]

    run(scenario())


def test_closing_the_bus_ends_every_subscription() -> None:
    async def scenario() -> None:
        bus = InProcessBus()
        subscription = await bus.subscribe("ticker.X")
        waiting = asyncio.create_task(anext(subscription))
        await asyncio.sleep(0)
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            await waiting

    run(scenario())


def test_a_forwarding_subscriber_gets_queued_payloads_first_then_each_on_publish() -> None:
    async def scenario() -> None:
        bus = InProcessBus(queue_size=2)
        subscription = await bus.subscribe("book.X")
        await bus.publish_many([("book.X", b"1"), ("book.X", b"2")])
        received: list[bytes] = []
        ended: list[str] = []
        subscription.forward_to(received.append, lambda: ended.append("end"))
        assert received == [b"1", b"2"]
        for index in range(3, 10):  # past the queue size: nothing is queued, so nothing overflows
            await bus.publish("book.X", str(index).encode())
        assert received == [str(index).encode() for index in range(1, 10)]
        assert not subscription.dropped and ended == []
        await bus.close()
        assert ended == ["end"]
        await bus.publish("book.X", b"late")
        assert received[-1] == b"9"

    run(scenario())


def test_create_bus_picks_redis_only_when_configured() -> None:
    assert isinstance(create_bus(""), InProcessBus)
    assert isinstance(create_bus("redis://127.0.0.1:1/0"), RedisBus)  # connects lazily


def test_redis_fans_out_between_bus_instances(redis_url: str) -> None:
    async def scenario() -> None:
        prefix = f"wcx-test-{secrets.token_hex(4)}:"
        gateway_a, gateway_b = redis_bus(redis_url, prefix), redis_bus(redis_url, prefix)
        buses: list[Bus] = [gateway_a, gateway_b]
        try:
            on_a = await gateway_a.subscribe("book.BTC-USDT")
            on_b = await gateway_b.subscribe("book.BTC-USDT")
            also_b = await gateway_b.subscribe("book.BTC-USDT")
            await gateway_a.publish_many([("book.BTC-USDT", b"1"), ("trades.BTC-USDT", b"t")])
            await gateway_b.publish("book.BTC-USDT", b"2")
            for subscription in (on_a, on_b, also_b):
                assert await take(subscription, 2) == [b"1", b"2"]
        finally:
            for bus in buses:
                await bus.close()

    run(scenario())


def test_redis_subscription_follows_local_subscribers(redis_url: str) -> None:
    async def scenario() -> None:
        prefix = f"wcx-test-{secrets.token_hex(4)}:"
        bus = redis_bus(redis_url, prefix, queue_size=2)
        probe = aioredis.Redis.from_url(redis_url)

        async def remote_subscribers() -> int:
            ((_, count),) = await probe.pubsub_numsub(f"{prefix}account.7")
            return int(count)

        try:
            first = await bus.subscribe("account.7")
            second = await bus.subscribe("account.7")
            assert await remote_subscribers() == 1  # one Redis subscription per process and channel
            await first.close()
            await bus.publish("account.7", b"x")
            assert await take(second, 1) == [b"x"]
            for payload in (b"1", b"2", b"3"):
                await bus.publish("account.7", payload)
            with pytest.raises(SlowConsumerError):
                await asyncio.wait_for(_drain_forever(second), 5)
            for _ in range(50):
                if await remote_subscribers() == 0:
                    break
                await asyncio.sleep(0.02)
            assert await remote_subscribers() == 0
            third = await bus.subscribe("account.7")
            await bus.publish("account.7", b"again")
            assert await take(third, 1) == [b"again"]
        finally:
            await bus.close()
            await probe.aclose()

    run(scenario())


async def _drain_forever(subscription: Subscription) -> None:
    """Read slowly: give Redis time to deliver everything before the first read."""
    await asyncio.sleep(0.2)
    async for _ in subscription:
        await asyncio.sleep(0.2)
