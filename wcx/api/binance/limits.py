"""Rate limits of the Binance routes: the gateway's own token buckets (`wcx.api.ratelimit`).

Public requests take a token from the caller IP's bucket, signed ones from the API key's, exactly as
`/api/v1` does, so switching API surfaces gains no extra allowance. Every answer carries
`X-MBX-USED-WEIGHT-1M` (tokens the bucket is missing now, i.e. weight in use; error answers too, once the
request was charged); a refusal is HTTP 429 with `Retry-After` and `{"code": -1003}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from wcx.api.binance.errors import BinanceError
from wcx.api.principal import Principal
from wcx.api.ratelimit import PRIVATE_LIMIT, PUBLIC_LIMIT, Decision, Limit, RateLimiter, client_ip

USED_WEIGHT = "X-MBX-USED-WEIGHT-1M"


async def take(app_state: Any, key: str, default: Limit) -> Decision:
    """One token from bucket `key` (its limit from the app's configured limits); -1003 when empty."""
    limiter: RateLimiter = app_state.limiter
    limits: dict[str, Limit] = app_state.limits
    decision = await limiter.hit(key, limits.get(key.partition(":")[0], default))
    if not decision.allowed:
        headers = decision.headers()
        raise BinanceError(
            -1003,
            "Too many requests; current limit is "
            f"{decision.limit} requests at once. Please use the websocket for live updates.",
            429,
            {"Retry-After": headers["Retry-After"], USED_WEIGHT: str(decision.limit)},
        )
    return decision


def _used(decision: Decision) -> str:
    return str(decision.limit - decision.remaining)


async def public(request: Request, response: Response) -> None:
    """FastAPI dependency: charge the caller's IP."""
    decision = await take(request.app.state, f"ip:{client_ip(request)}", PUBLIC_LIMIT)
    response.headers[USED_WEIGHT] = request.state.used_weight = _used(decision)


def bucket_of(principal: Principal) -> str:
    """The bucket an authenticated caller draws from: its API key's (or its user's for a session)."""
    return f"key:{principal.api_key_id}" if principal.api_key_id is not None else f"user:{principal.user_id}"


async def private(request: Request, response: Response, principal: Principal) -> None:
    """Charge the API key of an authenticated request."""
    decision = await take(request.app.state, bucket_of(principal), PRIVATE_LIMIT)
    response.headers[USED_WEIGHT] = request.state.used_weight = _used(decision)


def rate_limits(app_state: Any) -> list[dict[str, Any]]:
    """exchangeInfo `rateLimits`: the public bucket as a per-second burst and a per-minute sustained rate."""
    limits: dict[str, Limit] = app_state.limits
    ip = limits.get("ip", PUBLIC_LIMIT)
    key = limits.get("key", PRIVATE_LIMIT)
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": ip.burst},
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": int(ip.rate * 60),
        },
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1, "limit": key.burst},
    ]
