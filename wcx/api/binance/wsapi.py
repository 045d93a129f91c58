"""The Binance WebSocket API at /ws-api/v3: requests `{"id", "method", "params"}` answered with
`{"id", "status", "result" | "error", "rateLimits"}`.

Methods: ping, time, exchangeInfo, order.place, order.cancel, order.status, openOrders.status,
account.status (SIGNED: `apiKey`, `timestamp`, `signature` in params, see `wcx.api.binance.signed`),
userDataStream.subscribe.signature (SIGNED; events then arrive as `{"subscriptionId", "event"}`) and
userDataStream.unsubscribe. Order entry is the same code as REST (`wcx.api.binance.orders`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket

from wcx.api.auth import principal_refusal
from wcx.api.binance import limits, orders
from wcx.api.binance.connection import Connection
from wcx.api.binance.errors import STATUS_UNKNOWN, BinanceError, from_api_error
from wcx.api.binance.market import exchange_info_body
from wcx.api.binance.params import Params
from wcx.api.binance.signed import ws_principal
from wcx.api.binance.userstream import UserStream
from wcx.api.errors import ENGINE_DOWN, ApiError
from wcx.api.principal import Permission, Principal
from wcx.api.ratelimit import PRIVATE_LIMIT, PUBLIC_LIMIT, Decision
from wcx.stream import BusError, SlowConsumerError, Subscription, account_channel

router = APIRouter()

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,36}")
MAX_USER_STREAMS = 100
RECHECK_S = 30.0
"""How stale the check of a user data stream's API key may be when the stream delivers an event."""
Signed = Callable[["_ApiConnection", Principal, Params], Awaitable[Any]]


async def _place(conn: _ApiConnection, principal: Principal, params: Params) -> Any:
    return await orders.place(conn.runtime, principal, params)


async def _cancel(conn: _ApiConnection, principal: Principal, params: Params) -> Any:
    return await orders.cancel(conn.runtime, principal, params)


async def _status(conn: _ApiConnection, principal: Principal, params: Params) -> Any:
    return await orders.query(conn.runtime, principal, params)


async def _open_orders(conn: _ApiConnection, principal: Principal, params: Params) -> Any:
    return await orders.open_orders_view(conn.runtime, principal, params)


async def _account(conn: _ApiConnection, principal: Principal, params: Params) -> Any:
    return orders.account_info(conn.runtime, principal, params)


async def _subscribe(conn: _ApiConnection, principal: Principal, params: Params) -> Any:
    return await conn.subscribe_user(principal)


SIGNED: dict[str, tuple[Permission, Signed]] = {
    "order.place": (Permission.TRADE, _place),
    "order.cancel": (Permission.TRADE, _cancel),
    "order.status": (Permission.READ, _status),
    "openOrders.status": (Permission.READ, _open_orders),
    "account.status": (Permission.READ, _account),
    "userDataStream.subscribe.signature": (Permission.READ, _subscribe),
}


class _ApiConnection(Connection):
    """A WebSocket API client: requests answered in order, user data subscriptions alongside."""

    def __init__(self, websocket: WebSocket, runtime: Any) -> None:
        super().__init__(websocket, runtime)
        self.user_streams: dict[int, tuple[Subscription, Any]] = {}
        self.next_subscription = 0

    async def closing(self) -> None:
        """Close the user data subscriptions."""
        for subscription_id in list(self.user_streams):
            await self.unsubscribe_user(subscription_id)

    def too_large(self) -> None:
        """Refuse an oversized request."""
        self.push({"id": None, "status": 400, "error": {"code": -1100, "msg": "Request is too large."}})

    async def handle(self, raw: str | bytes) -> None:
        """Answer one request."""
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._answer(None, error=BinanceError(-1100, "Invalid JSON in the request."))
            return
        if not isinstance(request, dict):
            self._answer(None, error=BinanceError(-1100, "The request must be a JSON object."))
            return
        request_id = request.get("id")
        if not (
            request_id is None
            or type(request_id) is int
            or (isinstance(request_id, str) and _ID.fullmatch(request_id))
        ):
            self._answer(None, error=BinanceError(-1100, "Illegal characters found in parameter 'id'."))
            return
        method, params = request.get("method"), request.get("params", {})
        if not isinstance(method, str) or not isinstance(params, dict):
            self._answer(
                request_id,
                error=BinanceError(
                    -1102, "Mandatory parameter 'method' was not sent, or 'params' is not an object."
                ),
            )
            return
        show_limits = params.get("returnRateLimits") is not False
        try:
            result, decision = await self._dispatch(method, params)
        except BinanceError as exc:
            self._answer(request_id, error=exc, show=show_limits)
        except ApiError as exc:
            self._answer(request_id, error=from_api_error(exc), show=show_limits)
        except ENGINE_DOWN:
            self._answer(request_id, error=STATUS_UNKNOWN, show=show_limits)
        else:
            self._answer(request_id, result=result, decision=decision, show=show_limits)

    async def _dispatch(self, method: str, params: dict[str, Any]) -> tuple[Any, Decision]:
        client = self.websocket.client
        ip = client.host if client else None
        state = self.websocket.app.state
        if method in SIGNED:
            permission, call = SIGNED[method]
            # Everything but the signature, apiKey included: it is checked like any other parameter.
            parsed = Params.of({k: v for k, v in params.items() if k != "signature"})
            principal = await ws_principal(self.runtime, params, parsed, permission, ip)
            decision = await limits.take(state, limits.bucket_of(principal), PRIVATE_LIMIT)
            return await call(self, principal, parsed), decision
        decision = await limits.take(state, f"ip:{ip or 'unknown'}", PUBLIC_LIMIT)
        if method == "ping":
            return {}, decision
        if method == "time":
            return {"serverTime": time.time_ns() // 1_000_000}, decision
        if method == "exchangeInfo":
            markets = Params.of(params).symbols(self.runtime)
            return exchange_info_body(self.runtime, state, markets), decision
        if method == "userDataStream.unsubscribe":
            subscription_id = Params.of(params).integer("subscriptionId")
            ids = list(self.user_streams) if subscription_id is None else [subscription_id]
            if subscription_id is not None and subscription_id not in self.user_streams:
                raise BinanceError(-2035, "User Data Stream subscription not active.")
            for each in ids:
                await self.unsubscribe_user(each)
            return {}, decision
        raise BinanceError(-1020, f"This operation is not supported: {method!r}.")

    def _answer(
        self,
        request_id: Any,
        *,
        result: Any = None,
        error: BinanceError | None = None,
        decision: Decision | None = None,
        show: bool = True,
    ) -> None:
        message: dict[str, Any] = {"id": request_id, "status": error.status if error else 200}
        if error is not None:
            message["error"] = error.body()
        else:
            message["result"] = result
        if show and decision is not None:
            message["rateLimits"] = [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "SECOND",
                    "intervalNum": 1,
                    "limit": decision.limit,
                    "count": decision.limit - decision.remaining,
                }
            ]
        self.push(message)

    async def subscribe_user(self, principal: Principal) -> dict[str, Any]:
        """Start a user data stream for the caller's account."""
        if len(self.user_streams) >= MAX_USER_STREAMS:
            raise BinanceError(-1003, f"At most {MAX_USER_STREAMS} user data subscriptions per connection.")
        try:
            subscription = await self.runtime.bus.subscribe(account_channel(principal.user_id))
        except BusError:
            raise BinanceError(
                -1001, "Internal error; unable to process your request. Please try again.", 503
            ) from None
        stream = UserStream(self.runtime, principal.user_id)
        stream.seed()  # no await since subscribing: the seed and the channel meet without a gap
        subscription_id = self.next_subscription
        self.next_subscription += 1
        task = self.spawn(self._forward(subscription_id, principal, stream, subscription))
        self.user_streams[subscription_id] = (subscription, task)
        return {"subscriptionId": subscription_id}

    async def _forward(
        self, subscription_id: int, principal: Principal, stream: UserStream, subscription: Subscription
    ) -> None:
        await stream.complete()
        checked = time.monotonic()
        try:
            async for payload in subscription:
                # Before delivering, make sure the key (and account) still may: a revoked key or a
                # frozen account ends the stream instead of leaking its fills.
                if time.monotonic() - checked >= RECHECK_S:
                    if await principal_refusal(self.runtime, principal):
                        break
                    checked = time.monotonic()
                for event in stream.events(orjson.loads(payload)):
                    self.push({"subscriptionId": subscription_id, "event": event})
        except SlowConsumerError:
            pass
        else:
            if subscription_id not in self.user_streams:
                return  # unsubscribed
        self.push(
            {
                "subscriptionId": subscription_id,
                "event": {"e": "eventStreamTerminated", "E": time.time_ns() // 1_000_000},
            }
        )
        await self.unsubscribe_user(subscription_id)

    async def unsubscribe_user(self, subscription_id: int) -> None:
        """Stop one user data stream."""
        entry = self.user_streams.pop(subscription_id, None)
        if entry is None:
            return
        subscription, task = entry
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await subscription.close()


@router.websocket("/ws-api/v3")
async def websocket_api(websocket: WebSocket) -> None:
    """The WebSocket API (protocol in this module's docstring)."""
    await _ApiConnection(websocket, websocket.app.state.runtime).run()
