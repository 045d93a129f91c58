"""Who is calling: FastAPI dependencies for REST and the WebSocket login message.

REST: `Authorization: Bearer <access JWT>` or a signed API-key request with headers X-WCX-KEY,
X-WCX-TIMESTAMP (ms since the epoch), X-WCX-SIGNATURE and optional X-WCX-RECV-WINDOW (ms, default
5000, at most 60000); see `wcx.api.auth.signing` for the signed message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from wcx.api.auth import accounts, signing
from wcx.api.auth.api_keys import authenticate_signed, key_refusal
from wcx.api.auth.state import auth_state
from wcx.api.auth.tokens import decode_access
from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal

ALL_PERMISSIONS = frozenset(Permission)


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message, headers={"WWW-Authenticate": "Bearer"})


async def principal_from_token(runtime: Any, token: str) -> Principal:
    """The principal of an access token whose session is still live (all permissions)."""
    state = auth_state(runtime)
    claims = decode_access(state.jwt_key, token, state.clock())
    refusal = await accounts.session_refusal(runtime.db, state, claims.user_id, claims.session_id)
    if refusal == "ACCOUNT_FROZEN":
        raise ApiError(403, refusal, "this account is frozen")
    if refusal:
        raise ApiError(401, refusal, "the session has ended; log in again")
    return Principal(claims.user_id, ALL_PERMISSIONS, session_id=claims.session_id)


def request_target(request: Request) -> str:
    """The path and query exactly as the client sent them (what it signed)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return (raw_path + (b"?" + query if query else b"")).decode("latin-1")


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, by Bearer access token or signed API-key request; 401 otherwise."""
    runtime = request.app.state.runtime
    # One dict of the raw (lower-case) names, the first of repeated ones winning as with Starlette's
    # Headers, which scans the whole list on each lookup.
    headers: dict[bytes, bytes] = dict(reversed(request.scope["headers"]))
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("use Authorization: Bearer <access token>")
        return await principal_from_token(runtime, token.strip())
    key = headers.get(b"x-wcx-key")
    if key is None:
        raise _unauthenticated("authentication required")
    timestamp, signature = headers.get(b"x-wcx-timestamp"), headers.get(b"x-wcx-signature")
    if timestamp is None or signature is None:
        raise _unauthenticated("API-key requests need X-WCX-TIMESTAMP and X-WCX-SIGNATURE")
    recv_window = headers.get(b"x-wcx-recv-window")
    stamp = timestamp.decode("latin-1")
    body = await request.body()
    return await authenticate_signed(
        runtime.db,
        auth_state(runtime),
        key=key.decode("latin-1"),
        timestamp=stamp,
        signature=signature.decode("latin-1"),
        recv_window=recv_window.decode("latin-1") if recv_window is not None else None,
        signed=signing.message(stamp, request.method, request_target(request), body),
        ip=request.client.host if request.client else None,
    )


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency answering 403 PERMISSION_DENIED unless the caller holds `permission`."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return check_permission(principal, permission)

    return dependency


def check_permission(principal: Principal, permission: Permission) -> Principal:
    """`principal` if it holds `permission`, else 403 PERMISSION_DENIED."""
    if not principal.can(permission):
        raise ApiError(403, "PERMISSION_DENIED", f"this API key lacks the {permission.value} permission")
    return principal


async def session_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """A dependency for account management: a logged-in session, not an API key (403 SESSION_REQUIRED)."""
    if principal.session_id is None:
        raise ApiError(403, "SESSION_REQUIRED", "log in: API keys cannot manage the account")
    return principal


async def principal_refusal(runtime: Any, principal: Principal) -> str:
    """ "" while the principal's session or API key is live and its account not frozen, else the code.

    A long-lived WebSocket asks this periodically, so a logout, a password change, a revoked key or a
    frozen account ends its private stream too.
    """
    state = auth_state(runtime)
    if principal.session_id is not None:
        return await accounts.session_refusal(runtime.db, state, principal.user_id, principal.session_id)
    if principal.api_key_id is not None:
        return await key_refusal(runtime.db, principal.api_key_id)
    return ""


async def authenticate_ws(runtime: Any, message: dict[str, Any], client_ip: str | None = None) -> Principal:
    """The principal of a WebSocket login message; raises ApiError like the REST checks.

    {"op": "login", "token": "<access JWT>"} or {"op": "login", "key": ..., "timestamp": <ms>,
    "signature": ..., "recv_window": <ms, optional>} signed over f"{timestamp}GET/ws". Pass the peer's
    `client_ip`: a key with an IP allowlist is refused without it.
    """
    if message.get("op") != "login":
        raise ApiError(400, "INVALID_REQUEST", 'expected {"op": "login", ...}')
    token = message.get("token")
    if isinstance(token, str):
        return await principal_from_token(runtime, token)
    key, timestamp, signature = message.get("key"), message.get("timestamp"), message.get("signature")
    recv_window = message.get("recv_window")
    if (
        not isinstance(key, str)
        or not isinstance(signature, str)
        or type(timestamp) not in (int, str)
        or (recv_window is not None and type(recv_window) is not int)
    ):
        raise _unauthenticated("login needs a token, or key + timestamp + signature")
    return await authenticate_signed(
        runtime.db,
        auth_state(runtime),
        key=key,
        timestamp=str(timestamp),
        signature=signature,
        recv_window=None if recv_window is None else str(recv_window),
        signed=signing.ws_login_message(str(timestamp)),
        ip=client_ip,
    )
