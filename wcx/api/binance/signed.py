"""SIGNED requests as Binance defines them, checked with our own API keys and permissions.

REST: `X-MBX-APIKEY` header; `timestamp` (ms) and optional `recvWindow` (ms, default 5000, at most
60000) among the parameters; `signature` = hex HMAC-SHA256 (HMAC keys) or base64 Ed25519 (Ed25519
keys) over `totalParams`, the query string concatenated with the form body, each without the
`signature` parameter. WebSocket API: the same over the request's `params` other than `signature`,
sorted by name and joined as `name=value&...` (the key is `params.apiKey`).

The key lookup, IP allowlist, frozen-account, time-window and replay checks are
`wcx.api.auth.api_keys.authenticate_signed`, shared with `/api/v1`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request

from wcx.api.auth import auth_state
from wcx.api.auth.api_keys import authenticate_signed
from wcx.api.binance.errors import BAD_API_KEY, BinanceError, from_api_error, mandatory
from wcx.api.binance.params import Params
from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal
from wcx.runtime import Runtime

BAD_KEY_FORMAT = BinanceError(-2014, "API-key format invalid.", 401)


def _without_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """(the raw parameters without `signature=...`, the decoded signature if present)."""
    kept: list[bytes] = []
    signature = None
    for part in raw.split(b"&") if raw else []:
        if part.startswith(b"signature="):
            signature = unquote_to_bytes(part[len(b"signature=") :].replace(b"+", b" "))
        else:
            kept.append(part)
    return b"&".join(kept), signature


async def check(
    runtime: Runtime,
    *,
    key: str | None,
    params: Params,
    signed: bytes,
    signature: str | None,
    permission: Permission,
    ip: str | None,
) -> Principal:
    """The principal of a signed request holding `permission`, or the Binance error refusing it."""
    if not key or len(key) > 64:
        raise BAD_KEY_FORMAT
    if signature is None:
        raise mandatory("signature")
    timestamp = params.text("timestamp")
    if timestamp is None:
        raise mandatory("timestamp")
    try:
        principal = await authenticate_signed(
            runtime.db,
            auth_state(runtime),
            key=key,
            timestamp=timestamp,
            signature=signature,
            recv_window=params.text("recvWindow"),
            signed=signed,
            ip=ip,
        )
    except ApiError as exc:
        raise from_api_error(exc) from None
    if not principal.can(permission):
        raise BAD_API_KEY
    return principal


async def rest_principal(request: Request, params: Params, permission: Permission) -> Principal:
    """Authenticate a SIGNED REST request."""
    query, from_query = _without_signature(request.scope.get("query_string", b""))
    body, from_body = _without_signature(await request.body())
    raw = from_query if from_query is not None else from_body
    return await check(
        request.app.state.runtime,
        key=request.headers.get("x-mbx-apikey"),
        params=params,
        signed=query + body,
        signature=None if raw is None else raw.decode("latin-1"),
        permission=permission,
        ip=request.client.host if request.client else None,
    )


def ws_payload(params: dict[str, Any]) -> bytes:
    """What a WebSocket API signature covers: every parameter but `signature`, sorted, `k=v&...`, each
    value as `Params.of` renders it (how a client signs)."""
    return _payload(Params.of({k: v for k, v in params.items() if k != "signature"}))


def _payload(parsed: Params) -> bytes:
    return "&".join([f"{k}={v}" for k, v in sorted(parsed.values.items())]).encode()


async def ws_principal(
    runtime: Runtime, params: dict[str, Any], parsed: Params, permission: Permission, ip: str | None
) -> Principal:
    """Authenticate a signed WebSocket API request from its raw `params` and their parsed form (every
    parameter but `signature`: what the signature covers)."""
    key, signature = params.get("apiKey"), params.get("signature")
    return await check(
        runtime,
        key=key if isinstance(key, str) else None,
        params=parsed,
        signed=_payload(parsed),
        signature=signature if isinstance(signature, str) else None,
        permission=permission,
        ip=ip,
    )
