"""Every route dependency is a coroutine: FastAPI runs a plain `def` in a worker thread on each request."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, _IncludedRouter

from wcx.admin.app import create_admin_app
from wcx.api.app import create_app
from wcx.runtime import Runtime

pytestmark = pytest.mark.anyio


def _is_coroutine(call: Callable[..., Any]) -> bool:
    # A dependency may be an object whose async __call__ FastAPI awaits.
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


def _sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None and not _is_coroutine(sub.call):
            yield getattr(sub.call, "__qualname__", repr(sub.call))
        yield from _sync_dependencies(sub)


def _routes(routes: list[Any]) -> Iterator[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of every API route, through included routers as FastAPI resolves them."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, route.methods, route.dependant
        elif isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                if context.dependant is not None:
                    yield context.path_format, context.methods, context.dependant


def _offenders(app: FastAPI) -> dict[str, list[str]]:
    found = {}
    for path, methods, dependant in _routes(app.routes):
        names = sorted(set(_sync_dependencies(dependant)))
        if names:
            found[f"{sorted(methods)} {path}"] = names
    return found


@pytest.mark.parametrize("factory", [create_app, create_admin_app])
async def test_no_route_depends_on_a_sync_function(
    runtime: Runtime, factory: Callable[[Runtime], FastAPI]
) -> None:
    """A sync dependency costs a thread hand-off on every request (measured ≈ 10 % of an order's CPU)."""
    assert _offenders(factory(runtime)) == {}
