"""Who may call what: the session dependency and the one permission guard every admin route declares.

`requires(permission)` is how a route states its permission; `route_permission(route)` reads it back,
so the app refuses to start with a route that states none (unless listed in `PUBLIC_PATHS`) and the
tests generate the role × endpoint matrix from the live routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from wcx.admin import accounts
from wcx.admin.accounts import Actor
from wcx.admin.permissions import Permission, allowed
from wcx.admin.state import admin_state
from wcx.api.errors import ApiError

COOKIE = "wcx_admin"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/login", "/admin/api/v1/login", "/static/{path:path}"}
)
"""Routes anyone may reach (they authenticate the caller themselves or serve nothing private)."""


def client_ip(request: Request) -> str:
    """The peer address (the admin listener is not behind a trusted proxy by default)."""
    return request.client.host if request.client else ""


async def current_actor(request: Request) -> Actor:
    """The signed-in admin: a Bearer token or the dashboard cookie (then changes need the CSRF header)."""
    runtime = request.app.state.runtime
    state = admin_state(runtime)
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "UNAUTHENTICATED", "use Authorization: Bearer <admin session token>")
        return await accounts.authenticate(runtime.db, state, token.strip(), client_ip(request), cookie=False)
    token = request.cookies.get(COOKIE)
    if not token:
        raise ApiError(401, "UNAUTHENTICATED", "sign in first")
    actor = await accounts.authenticate(runtime.db, state, token, client_ip(request), cookie=True)
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != actor.csrf(state):
        raise ApiError(403, "CSRF_TOKEN_INVALID", "missing or wrong anti-forgery token; reload the page")
    return actor


class Guard:
    """A dependency admitting admins whose role holds `permission`; 403 FORBIDDEN for the others."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Actor:
        """Authenticate, then authorize against the permission matrix."""
        actor = await current_actor(request)
        if not allowed(actor.role, self.permission):
            raise ApiError(
                403, "FORBIDDEN", f"the {actor.role.value} role lacks the {self.permission.value} permission"
            )
        return actor


def requires(permission: Permission) -> Any:
    """`actor: Actor = requires(Permission.X)` in a route's signature declares and enforces X."""
    return Depends(Guard(permission))


def route_permission(route: APIRoute) -> Permission | None:
    """The permission a route declares (None for none)."""
    found = [dep.call.permission for dep in route.dependant.dependencies if isinstance(dep.call, Guard)]
    if len(found) > 1:
        raise RuntimeError(f"{route.path} declares several permissions: {found}")
    return found[0] if found else None


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every endpoint of an app, including those of included routers (FastAPI keeps those nested)."""
    found: list[APIRoute] = []
    for route in routes:
        nested = getattr(route, "original_router", None)  # an included router (routers carry their prefix)
        if nested is not None:
            found.extend(api_routes(nested.routes))
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def check_routes(routes: list[Any]) -> None:
    """Refuse an app with a private route that declares no permission."""
    for route in api_routes(routes):
        if route.path not in PUBLIC_PATHS and route_permission(route) is None:
            raise RuntimeError(f"admin route {route.methods} {route.path} declares no permission")
