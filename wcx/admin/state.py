"""Per-runtime admin state: settings, clock, password hasher, secret sealer and the throttle store.

Made on first use for a runtime (keyed by its database engine, like `wcx.api.auth.auth_state`); tests
`attach` their own with a fake clock and cheap argon2 parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from wcx.admin.settings import AdminSettings, Network
from wcx.api.auth.crypto import Sealer
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.store import MemoryStore, RedisStore, Store
from wcx.api.auth.throttle import LoginThrottle
from wcx.config.settings import Settings
from wcx.per_runtime import PerRuntime


class AdminState:
    """Everything the admin listener keeps in memory for one runtime."""

    def __init__(
        self,
        settings: Settings,
        admin: AdminSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        passwords: Passwords | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.admin = admin or AdminSettings()
        self.clock = clock
        self.passwords = passwords or Passwords()
        if store is None:
            store = RedisStore.from_url(settings.redis_url) if settings.redis_url else MemoryStore(clock)
        self.store = store
        self.throttle = LoginThrottle(store)
        secret = settings.jwt_secret.get_secret_value().encode()
        # Admin secrets get their own derived key: a user-side ciphertext never opens as an admin's.
        self.sealer = Sealer(secret, info=b"wcx/admin/sealed-secrets/v1")
        self.session_key = settings.refresh_secret.get_secret_value().encode()
        self.networks: list[Network] = self.admin.networks()

    def now(self) -> datetime:
        """The injected clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)


_states: PerRuntime[AdminState] = PerRuntime(lambda runtime: AdminState(runtime.settings))


def admin_state(runtime: Any) -> AdminState:
    """The runtime's AdminState, made from its settings on first use."""
    return _states.get(runtime)


def attach(runtime: Any, state: AdminState) -> None:
    """Use `state` for `runtime` (tests inject clocks and cheap hashers this way)."""
    _states.attach(runtime, state)


async def shutdown(runtime: Any) -> None:
    """Close the state's store connections (Redis), if any were opened."""
    state = _states.pop(runtime)
    if state is not None:
        await state.store.aclose()
