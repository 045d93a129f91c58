"""Order entry without FastAPI's dispatch: place (POST /orders) and cancel (DELETE /orders/{id}).

They are most of a trading API's requests, and FastAPI's generic per-request machinery (matching across
included routers, solving the dependency tree, re-validating the response model) cost about a third of
their server CPU (measured with `wcx bench api`). This middleware answers exactly those two routes by
calling the same endpoint functions after the same access check (`wcx.api.access.authorize`), body
model and error shape; everything else, including these routes' OpenAPI description, stays with
FastAPI. It sits inside `GatewayMiddleware`, so request ids, access logs, metrics, traces and the body
limit apply as before; authentication comes before the body is parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from wcx.api import trading
from wcx.api.access import authorize
from wcx.api.errors import ENGINE_DOWN, ApiError, engine_down_response, error_response, invalid_request
from wcx.api.principal import Permission
from wcx.api.public import runtime_of
from wcx.api.schemas import OrderIn

Handler = Callable[[Request, Response], Awaitable[BaseModel]]


class InvalidBodyError(Exception):
    """A body that is not a JSON document, with FastAPI's description of what is wrong."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__("invalid request body")
        self.errors = errors


class DirectOrderRoutes:
    """ASGI middleware answering the order-entry routes itself (see the module docstring)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.orders = f"{prefix}/orders"
        # Other order ids (signed, huge) go on to FastAPI, which answers them as before.
        self.order = re.compile(re.escape(self.orders) + r"/([0-9]{1,18})")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve place and cancel; pass anything else on."""
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if method == "POST" and path == self.orders:
                scope["endpoint"], scope["path_params"] = trading.place_order, {}
                await _serve(scope, receive, send, _place, 201)
                return
            if method == "DELETE" and (found := self.order.fullmatch(path)) is not None:
                scope["endpoint"], scope["path_params"] = trading.cancel_order, {"order_id": found[1]}
                await _serve(scope, receive, send, _cancel, 200)
                return
        await self.app(scope, receive, send)


async def _serve(scope: Scope, receive: Receive, send: Send, handler: Handler, status: int) -> None:
    request = Request(scope, receive)
    # Collects what the endpoint and the rate limit set (headers, a different status), as FastAPI's does.
    sub = Response()
    del sub.headers["content-length"]
    sub.status_code = 0  # "not set by the endpoint"
    try:
        result = await handler(request, sub)
    except ApiError as exc:
        answer: Response = error_response(exc)
    except ENGINE_DOWN as exc:
        answer = engine_down_response(exc)
    except ValidationError as exc:
        answer = invalid_request(exc.errors())
    except InvalidBodyError as exc:
        answer = invalid_request(exc.errors)
    else:
        answer = Response(result.model_dump_json(), status_code=sub.status_code or status)
        answer.headers["content-type"] = "application/json"
        answer.raw_headers.extend(sub.headers.raw)
    await answer(scope, receive, send)


async def _place(request: Request, response: Response) -> BaseModel:
    principal = await authorize(request, response, Permission.TRADE)
    # As FastAPI validates a body: from attributes, so a non-object names the same problem.
    order = OrderIn.model_validate(await _json_body(request), from_attributes=True)
    return await trading.place_order(order, principal, await runtime_of(request), request, response)


async def _cancel(request: Request, response: Response) -> BaseModel:
    principal = await authorize(request, response, Permission.TRADE)
    order_id = int(request.scope["path_params"]["order_id"])
    return await trading.cancel_order(order_id, principal, await runtime_of(request))


async def _json_body(request: Request) -> object:
    """The body decoded if it is JSON, else its bytes (which fail validation as FastAPI's do)."""
    raw = await request.body()
    if not raw:
        raise InvalidBodyError([{"loc": ("body",), "msg": "Field required"}])
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidBodyError([{"loc": ("body", exc.pos), "msg": "JSON decode error"}]) from None
    except UnicodeDecodeError:
        raise ApiError(400, "HTTP_ERROR", "There was an error parsing the body") from None
