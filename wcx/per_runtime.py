"""State a bounded context keeps per runtime, without writing anything onto the runtime."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

S = TypeVar("S")


class PerRuntime(Generic[S]):
    """One `S` per runtime, made on first use and keyed by the runtime's database engine."""

    def __init__(self, make: Callable[[Any], S]) -> None:
        self._make = make
        self._states: weakref.WeakKeyDictionary[Any, S] = weakref.WeakKeyDictionary()

    def get(self, runtime: Any) -> S:
        """The runtime's state, made from it on first use."""
        state = self._states.get(runtime.db)
        if state is None:
            state = self._states[runtime.db] = self._make(runtime)
        return state

    def attach(self, runtime: Any, state: S) -> None:
        """Use `state` for `runtime` (tests inject clocks and cheap hashers this way)."""
        self._states[runtime.db] = state

    def pop(self, runtime: Any) -> S | None:
        """Forget the runtime's state; it, if one was made."""
        return self._states.pop(runtime.db, None)
