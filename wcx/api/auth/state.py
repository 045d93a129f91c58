"""Per-process authentication state: keys derived from settings, the clock, stores and short caches.

One `AuthState` serves one runtime; `auth_state(runtime)` makes it on first use (keyed by the runtime's
database engine, so nothing is written onto the runtime). Tests `attach` their own (fake clock, cheap
argon2 parameters). `shutdown(runtime)` closes its Redis connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wcx.api.auth.crypto import Sealer
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.store import MemoryStore, RedisStore, Store
from wcx.api.auth.throttle import LoginThrottle
from wcx.batched import BatchedLookup
from wcx.config.settings import Settings
from wcx.per_runtime import PerRuntime
from wcx.ttl_cache import TtlCache

if TYPE_CHECKING:
    from wcx.api.auth.api_keys import KeyRecord

CACHE_TTL_S = 5.0
"""How long a process trusts a looked-up session or API key; revocations from this process apply at once,
revocations made by another process within this time."""


class AuthState:
    """Everything authentication keeps in memory for one runtime."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        passwords: Passwords | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.passwords = passwords or Passwords()
        if store is None:
            store = RedisStore.from_url(settings.redis_url) if settings.redis_url else MemoryStore(clock)
        self.store = store
        self.throttle = LoginThrottle(store)
        self.jwt_key = settings.jwt_secret.get_secret_value().encode()
        self.refresh_key = settings.refresh_secret.get_secret_value().encode()
        self.sealer = Sealer(self.jwt_key)
        # session family id -> "" when usable, else the error code that refuses it
        self.sessions: TtlCache[str] = TtlCache(clock, CACHE_TTL_S)
        self.api_keys: TtlCache[KeyRecord] = TtlCache(clock, CACHE_TTL_S)
        self.key_lookups: BatchedLookup[str, KeyRecord] | None = None  # made with the runtime's database


_states: PerRuntime[AuthState] = PerRuntime(lambda runtime: AuthState(runtime.settings))


def auth_state(runtime: Any) -> AuthState:
    """The runtime's AuthState, made from its settings on first use."""
    return _states.get(runtime)


def attach(runtime: Any, state: AuthState) -> None:
    """Use `state` for `runtime` (tests inject clocks and cheap hashers this way)."""
    _states.attach(runtime, state)


async def shutdown(runtime: Any) -> None:
    """Close the runtime's auth stores (Redis connections), if any were opened."""
    state = _states.pop(runtime)
    if state is not None:
        await state.store.aclose()
