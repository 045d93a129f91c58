"""Failed-login throttling: a temporary lock per account (email) and per client IP.

Failures are counted per normalized email whether or not an account exists, so a lock reveals
nothing about which emails are registered.
"""

from __future__ import annotations

import math

from wcx.api.auth.store import Store
from wcx.api.errors import ApiError

ACCOUNT_FAILURES = 5
IP_FAILURES = 20  # several people may share one address (offices, carrier NAT)
WINDOW_MS = 15 * 60 * 1000
LOCK_MS = 15 * 60 * 1000


def _retry_after(ttl_ms: int) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(ttl_ms / 1000)))}


class LoginThrottle:
    """After `ACCOUNT_FAILURES` failures for an email (or `IP_FAILURES` from an IP) within 15 minutes, refuse
    logins for 15 minutes: 423 ACCOUNT_LOCKED or 429 TOO_MANY_ATTEMPTS, both with Retry-After."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def check(self, email: str, ip: str) -> None:
        """Raise while the account or the IP is locked."""
        ttl = await self._store.ttl_ms(f"lock:email:{email}")
        if ttl:
            raise ApiError(423, "ACCOUNT_LOCKED", "too many failed logins; try later", _retry_after(ttl))
        ttl = await self._store.ttl_ms(f"lock:ip:{ip}")
        if ttl:
            raise ApiError(429, "TOO_MANY_ATTEMPTS", "too many failed logins; try later", _retry_after(ttl))

    async def failed(self, email: str, ip: str) -> None:
        """Count a failure; lock when a limit is reached."""
        for key, limit in ((f"email:{email}", ACCOUNT_FAILURES), (f"ip:{ip}", IP_FAILURES)):
            if await self._store.incr(f"fails:{key}", WINDOW_MS) >= limit:
                await self._store.add(f"lock:{key}", LOCK_MS)
                await self._store.delete(f"fails:{key}")

    async def succeeded(self, email: str) -> None:
        """A successful login clears the account's failures (not the IP's)."""
        await self._store.delete(f"fails:email:{email}")
