"""SIGNED Binance endpoints under /api/v3: account, order (POST/GET/DELETE), openOrders (GET/DELETE),
allOrders, myTrades. Same API keys and permissions as `/api/v1`: reads need `read`, orders `trade`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from wcx.api.binance import limits, orders
from wcx.api.binance.errors import BinanceError, BinanceRoute
from wcx.api.binance.market import params_of, runtime_of
from wcx.api.binance.params import Params
from wcx.api.binance.queries import all_orders, my_trades
from wcx.api.binance.signed import rest_principal
from wcx.api.binance.views import Formats, my_trade_view, order_view
from wcx.api.principal import Permission, Principal
from wcx.runtime import Runtime
from wcx.store import queries

router = APIRouter(route_class=BinanceRoute, include_in_schema=False)


async def _signed(
    request: Request, response: Response, permission: Permission
) -> tuple[Runtime, Principal, Params]:
    params = await params_of(request)
    principal = await rest_principal(request, params, permission)
    await limits.private(request, response, principal)
    return runtime_of(request), principal, params


@router.get("/account")
async def account(request: Request, response: Response) -> dict[str, Any]:
    """Commissions, permissions and balances."""
    runtime, principal, params = await _signed(request, response, Permission.READ)
    return orders.account_info(runtime, principal, params)


@router.post("/order")
async def new_order(request: Request, response: Response) -> dict[str, Any]:
    """Place an order: LIMIT (GTC/IOC/FOK), LIMIT_MAKER, MARKET by quantity or quoteOrderQty."""
    runtime, principal, params = await _signed(request, response, Permission.TRADE)
    return await orders.place(runtime, principal, params)


@router.get("/order")
async def get_order(request: Request, response: Response) -> dict[str, Any]:
    """One order by orderId or origClientOrderId."""
    runtime, principal, params = await _signed(request, response, Permission.READ)
    return await orders.query(runtime, principal, params)


@router.delete("/order")
async def cancel_order(request: Request, response: Response) -> dict[str, Any]:
    """Cancel one open order."""
    runtime, principal, params = await _signed(request, response, Permission.TRADE)
    return await orders.cancel(runtime, principal, params)


@router.get("/openOrders")
async def get_open_orders(request: Request, response: Response) -> list[dict[str, Any]]:
    """Open orders, in one symbol or all."""
    runtime, principal, params = await _signed(request, response, Permission.READ)
    return await orders.open_orders_view(runtime, principal, params)


@router.delete("/openOrders")
async def cancel_open_orders(request: Request, response: Response) -> list[dict[str, Any]]:
    """Cancel every open order in one symbol."""
    runtime, principal, params = await _signed(request, response, Permission.TRADE)
    return await orders.cancel_all(runtime, principal, params)


@router.get("/allOrders")
async def get_all_orders(request: Request, response: Response) -> list[dict[str, Any]]:
    """Orders of one symbol, oldest first: from orderId, in a time range, or the newest `limit`."""
    runtime, principal, params = await _signed(request, response, Permission.READ)
    market = params.market(runtime)
    limit = params.limit(500, queries.MAX_LIMIT)
    start, end = params.time_range()
    await runtime.projected()
    rows = await all_orders(
        runtime.db,
        principal.user_id,
        market.symbol,
        from_id=params.integer("orderId", low=1),
        start=start,
        end=end,
        limit=limit,
    )
    fmt = Formats(runtime, market)
    return [order_view(fmt, r, orders.live_stp(runtime, r.order_id)) for r in rows]


@router.get("/myTrades")
async def get_my_trades(request: Request, response: Response) -> list[dict[str, Any]]:
    """The caller's fills in one symbol, oldest first."""
    runtime, principal, params = await _signed(request, response, Permission.READ)
    market = params.market(runtime)
    limit = params.limit(500, queries.MAX_LIMIT)
    start, end = params.time_range()
    from_id = params.integer("fromId")
    if from_id is not None and start is not None:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    await runtime.projected()
    rows = await my_trades(
        runtime.db,
        principal.user_id,
        market.symbol,
        order_id=params.integer("orderId", low=1),
        from_id=from_id,
        start=start,
        end=end,
        limit=limit,
    )
    fmt = Formats(runtime, market)
    return [my_trade_view(fmt, r) for r in rows]
