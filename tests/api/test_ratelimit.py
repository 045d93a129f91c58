"""Token buckets: refill arithmetic, headers, the bounded in-process table, and the shared Redis bucket."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from wcx.api.errors import ApiError
from wcx.api.ratelimit import InProcessLimiter, Limit, RedisLimiter

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("WCX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TWO_PER_SECOND = Limit(rate=2.0, burst=4)


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_bucket_empties_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock)
    taken = [await limiter.hit("k", TWO_PER_SECOND) for _ in range(5)]
    assert [d.allowed for d in taken] == [True, True, True, True, False]
    assert [d.remaining for d in taken] == [3, 2, 1, 0, 0]
    refused = taken[-1]
    assert refused.headers() == {
        "RateLimit-Limit": "4",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "2",
        "Retry-After": "1",
    }
    with pytest.raises(ApiError) as raised:
        refused.raise_if_refused()
    assert (raised.value.status, raised.value.code) == (429, "RATE_LIMITED")
    clock.now += 0.5  # one token back
    assert [(await limiter.hit("k", TWO_PER_SECOND)).allowed for _ in range(2)] == [True, False]
    clock.now += 60  # never more than the burst
    assert (await limiter.hit("k", TWO_PER_SECOND)).remaining == 3


async def test_buckets_are_independent_and_the_table_is_bounded() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock, max_buckets=2)
    for _ in range(4):
        await limiter.hit("a", TWO_PER_SECOND)
    assert (await limiter.hit("b", TWO_PER_SECOND)).allowed
    await limiter.hit("c", TWO_PER_SECOND)  # evicts "a", the least recently used
    assert (await limiter.hit("a", TWO_PER_SECOND)).remaining == 3


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis, or a loud skip (a failure under WCX_REQUIRE_SERVICES=1)."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        reason = f"Redis at {REDIS_URL} unreachable: {exc!r}"
        if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
            pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(f"!!! SKIPPING Redis rate-limit test: {reason}")
    finally:
        await client.aclose()
    yield REDIS_URL


async def test_redis_buckets_are_shared_between_gateway_processes(redis_url: str) -> None:
    key = f"test-{secrets.token_hex(8)}"
    first, second = RedisLimiter(redis_url), RedisLimiter(redis_url)
    slow = Limit(rate=0.01, burst=3)
    try:
        answers = [await limiter.hit(key, slow) for limiter in (first, second, first, second)]
    finally:
        await first.close()
        await second.close()
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert [a.remaining for a in answers] == [2, 1, 0, 0]
    assert answers[-1].retry_after_s > 0
