"""Token-bucket rate limits per API key, user or IP: in-process by default, Redis when REDIS_URL is set.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each request takes one.
Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the bucket
is full again); a refused request is 429 RATE_LIMITED with `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request, Response
from redis.asyncio import Redis

from wcx.api.errors import ApiError
from wcx.api.principal import Principal

MAX_BUCKETS = 100_000
"""In-process buckets kept (least recently used dropped first), so many IPs cannot grow memory forever."""


@dataclass(frozen=True, slots=True)
class Limit:
    """`burst` requests at once, refilled at `rate` per second."""

    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of taking one token."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float

    def headers(self) -> dict[str, str]:
        """The RateLimit-* headers (and Retry-After when refused)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers

    def raise_if_refused(self) -> None:
        """429 RATE_LIMITED when the bucket was empty."""
        if not self.allowed:
            raise ApiError(429, "RATE_LIMITED", "too many requests; retry later", headers=self.headers())


def _decide(limit: Limit, tokens: float, allowed: bool) -> Decision:
    missing = limit.burst - tokens
    return Decision(
        allowed=allowed,
        limit=limit.burst,
        remaining=max(int(tokens), 0),
        reset_s=missing / limit.rate,
        retry_after_s=0.0 if allowed else (1 - tokens) / limit.rate,
    )


class RateLimiter(Protocol):
    """Takes a token from the bucket named `key`."""

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Take one token if there is one."""

    async def close(self) -> None:
        """Release connections."""


class InProcessLimiter:
    """Buckets in this process's memory (one gateway process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = MAX_BUCKETS) -> None:
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Take one token if there is one."""
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return _decide(limit, tokens, allowed)

    async def close(self) -> None:
        """Nothing to release."""


# Atomic refill-and-take on the server, with Redis's clock, so every gateway process shares a bucket.
_TAKE = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every gateway process."""

    def __init__(self, url: str, prefix: str = "wcx:rl:") -> None:
        self._redis: Redis = Redis.from_url(url)
        self._prefix = prefix
        self._script: Any = self._redis.register_script(_TAKE)

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Take one token if there is one."""
        allowed, tokens = await self._script(keys=[self._prefix + key], args=[limit.burst, limit.rate])
        return _decide(limit, float(tokens), bool(allowed))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def make_limiter(redis_url: str) -> RateLimiter:
    """Redis-backed when a URL is given, in-process otherwise."""
    return RedisLimiter(redis_url) if redis_url else InProcessLimiter()


PUBLIC_LIMIT = Limit(rate=20.0, burst=40)
"""Per client IP on public endpoints."""
PRIVATE_LIMIT = Limit(rate=100.0, burst=200)
"""Per API key (or per user for access tokens) on private endpoints."""


def client_ip(request: Request) -> str:
    """The peer address (a proxy in front must be trusted explicitly; none is by default)."""
    return request.client.host if request.client is not None else "unknown"


async def _take(request: Request, response: Response, key: str, default: Limit) -> None:
    limiter: RateLimiter = request.app.state.limiter
    limits: dict[str, Limit] = request.app.state.limits
    decision = await limiter.hit(key, limits.get(key.partition(":")[0], default))
    decision.raise_if_refused()
    response.headers.update(decision.headers())


async def public_rate_limit(request: Request, response: Response) -> None:
    """FastAPI dependency: one token from the caller IP's public bucket."""
    await _take(request, response, f"ip:{client_ip(request)}", PUBLIC_LIMIT)


async def principal_rate_limit(request: Request, response: Response, principal: Principal) -> None:
    """One token from the API key's bucket, or the user's when signed in with an access token."""
    key = f"key:{principal.api_key_id}" if principal.api_key_id is not None else f"user:{principal.user_id}"
    await _take(request, response, key, PRIVATE_LIMIT)
