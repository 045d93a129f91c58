"""A Binance-compatible Spot API so ccxt / ccxt.pro and the bots built on them trade on wcx unchanged.

A thin adapter over the same services as `/api/v1`: orders are the same engine commands through
`runtime.submit`, reads the same engine memory and SQL projection, keys and permissions the same
`wcx.api.auth` API keys. `install(app)` mounts REST under /api/v3, the market streams at /ws/<streams>
and /stream, and the WebSocket API at /ws-api/v3. docs/binance.md describes what is supported.
"""

from __future__ import annotations

from fastapi import FastAPI

from wcx.api.binance import account, market, streams, wsapi

REST_PREFIX = "/api/v3"


def install(app: FastAPI) -> None:
    """Mount the Binance-compatible routes on the API app."""
    app.include_router(market.router, prefix=REST_PREFIX)
    app.include_router(account.router, prefix=REST_PREFIX)
    app.include_router(streams.router)
    app.include_router(wsapi.router)
