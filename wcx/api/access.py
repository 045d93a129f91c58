"""Access to private endpoints: authentication, then the permission, then the caller's rate limit.

One coroutine (`authorize`) used two ways: as the FastAPI dependency of private routes (`private`) and
directly by the order-entry routes that bypass FastAPI's dispatch (`wcx.api.direct`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from wcx.api.auth import check_permission, current_principal
from wcx.api.principal import Permission, Principal
from wcx.api.ratelimit import principal_rate_limit


async def authorize(request: Request, response: Response, permission: Permission) -> Principal:
    """The authenticated caller, holding `permission`, within its rate limit (headers set on `response`)."""
    principal = check_permission(await current_principal(request), permission)
    await principal_rate_limit(request, response, principal)
    return principal


def private(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: `authorize` for `permission`."""

    async def dependency(request: Request, response: Response) -> Principal:
        return await authorize(request, response, permission)

    return dependency
