"""The public/private API app (`create_app`); the admin listener's app lives in `wcx.admin`."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wcx.api import auth, binance, deposits, kyc, por, public, trading, withdrawals, ws
from wcx.api.direct import DirectOrderRoutes
from wcx.api.errors import ERROR_RESPONSES, ApiError, error_body, install_error_handlers
from wcx.api.ops import add_ops_routes
from wcx.api.ratelimit import PRIVATE_LIMIT, PUBLIC_LIMIT, Limit, RateLimiter, make_limiter
from wcx.api.schemas import DevCreditIn, DevCreditOut
from wcx.engine import CreditDeposit, Reject
from wcx.engine.events import CommandRejected
from wcx.observability.logging import bind_request, get_logger
from wcx.observability.metrics import HTTP_DURATION, HTTP_REQUESTS
from wcx.observability.tracing import FRAMEWORK_TELEMETRY_OFF, current_trace_id, tracer, tracing_enabled
from wcx.primitives import AmountError, format_amount, parse_amount
from wcx.runtime import Runtime
from wcx.store.schema import users

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
LOOPBACK = frozenset({"127.0.0.1", "::1"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PROCESS_ID = os.urandom(10).hex()
_REQUEST_SEQ = itertools.count()
"""Request ids: this process's random prefix and a counter (unique without a random draw per request)."""
_MAX_LABEL_SETS = 4096
"""Metric children remembered by the gateway (methods come from clients, so the cache is bounded)."""

access_log = get_logger("wcx.access")


class GatewayMiddleware:
    """Per request: request id, trace span, body size limit, one JSON access-log line and HTTP metrics."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int = MAX_BODY_BYTES,
        large_bodies: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body
        # (path regex, limit): upload routes that need more than the default.
        self.large_bodies = tuple((re.compile(pattern), limit) for pattern, limit in large_bodies)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # Asked once (Starlette builds this middleware at the first request, after start-up installed
        # any exporter): OpenTelemetry looks the provider up in the environment on every call.
        self.traced = tracing_enabled()

    def _limit(self, path: str) -> int:
        for pattern, limit in self.large_bodies:
            if pattern.fullmatch(path):
                return limit
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request; other scopes (WebSocket, lifespan) pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else f"{_PROCESS_ID}{next(_REQUEST_SEQ):012x}"
        started = time.perf_counter()
        status = 500
        method = scope["method"]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        traced = self.traced
        span_scope = tracer.start_as_current_span(f"{method} {scope['path']}") if traced else nullcontext()
        with span_scope as span:
            bind_request(request_id, current_trace_id() if traced else "")
            try:
                limit = self._limit(scope["path"])
                body = await self._read_body(headers, receive, limit)
                if body is None:
                    await _too_large(send_with_id, limit)
                else:
                    await self.app(scope, _replay(body, receive), send_with_id)
            finally:
                template = _route_template(scope)
                elapsed = time.perf_counter() - started
                if span is not None:
                    span.set_attribute("http.route", template)
                    span.set_attribute("http.status_code", status)
                requests, duration = self._metrics(method, template, status)
                requests.inc()
                duration.observe(elapsed)
                if access_log.is_enabled_for(logging.INFO):  # what filter_by_level decides, without the chain
                    client = scope.get("client")
                    access_log.info(
                        "request",
                        method=method,
                        path=scope["path"],
                        route=template,
                        status=status,
                        duration_ms=round(elapsed * 1000, 3),
                        client=client[0] if client else None,
                    )

    def _metrics(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        """The request counter and duration histogram children of one label set (looked up once)."""
        key = (method, template, status)
        found = self._children.get(key)
        if found is None:
            if len(self._children) >= _MAX_LABEL_SETS:
                self._children.clear()
            found = self._children[key] = (
                HTTP_REQUESTS.labels(method, template, str(status)),
                HTTP_DURATION.labels(method, template),
            )
        return found

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes | None:
        """The whole request body, or None once it exceeds the limit (declared or actual)."""
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _route_template(scope: Scope) -> str:
    """The matched path with its parameters as `{name}` (a bounded metric label), or 'unmatched'."""
    if "endpoint" not in scope:
        return "unmatched"
    names = {str(value): name for name, value in scope.get("path_params", {}).items()}
    return "/".join(f"{{{names[part]}}}" if part in names else part for part in scope["path"].split("/"))


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the buffered body over once, then waits for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _too_large(send: Send, limit: int = MAX_BODY_BYTES) -> None:
    response = JSONResponse(
        error_body("BODY_TOO_LARGE", f"request body is larger than {limit} bytes"),
        status_code=413,
        headers={"Connection": "close"},
    )
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _dev_router() -> APIRouter:
    router = APIRouter(tags=["development"])

    @router.post("/dev/credit", include_in_schema=False)
    async def dev_credit(body: DevCreditIn, request: Request) -> DevCreditOut:
        """Credit a user through an engine deposit (development only, loopback callers only)."""
        if request.client is None or request.client.host not in LOOPBACK:
            raise ApiError(404, "NOT_FOUND", "Not Found")
        runtime: Runtime = request.app.state.runtime
        return await dev_credit_user(runtime, body.email, body.asset, body.amount)

    return router


async def dev_credit_user(runtime: Runtime, email: str, asset: str, amount: str) -> DevCreditOut:
    """Submit a CreditDeposit for the user with `email` (shared by the endpoint and `wcx dev credit`)."""
    if not runtime.settings.development:
        raise ApiError(403, "DEVELOPMENT_ONLY", "dev credits exist only when WCX_ENV=development")
    state = runtime.engine.state
    scale = state.assets.get(asset)
    if scale is None:
        raise ApiError.from_reject(Reject.UNKNOWN_ASSET, f"no asset {asset!r}")
    try:
        units = parse_amount(amount, scale)
    except AmountError as exc:
        raise ApiError(400, exc.code.upper(), str(exc)) from None
    async with runtime.db.connect() as connection:
        user_id = (await connection.execute(select(users.c.id).where(users.c.email == email))).scalar()
    if user_id is None:
        raise ApiError(404, "UNKNOWN_USER", f"no user with email {email!r}")
    reference = f"dev-credit-{uuid.uuid4().hex}"
    events = await runtime.submit(CreditDeposit(user_id, asset, units, reference))
    for event in events:
        if isinstance(event, CommandRejected):
            raise ApiError.from_reject(event.code)
    available, _ = state.balance(user_id, asset)
    return DevCreditOut(
        user_id=user_id,
        asset=asset,
        amount=format_amount(units, scale),
        available=format_amount(available, scale),
        reference=reference,
    )


def create_app(
    runtime: Runtime, *, limits: dict[str, Limit] | None = None, limiter: RateLimiter | None = None
) -> FastAPI:
    """The API app over a started (or about to be started) runtime."""
    rate_limiter = limiter if limiter is not None else make_limiter(runtime.settings.redis_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await rate_limiter.close()
        await auth.shutdown(runtime)

    app = FastAPI(
        telemetry=FRAMEWORK_TELEMETRY_OFF,
        title="wcx exchange API",
        version="1",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.limiter = rate_limiter
    app.state.limits = {"ip": PUBLIC_LIMIT, "key": PRIVATE_LIMIT, "user": PRIVATE_LIMIT, **(limits or {})}
    app.state.placements = trading.Placements()
    install_error_handlers(app)
    app.add_middleware(DirectOrderRoutes, prefix=API_PREFIX)  # inside the gateway: added before it
    app.add_middleware(GatewayMiddleware, large_bodies=((kyc.UPLOAD_PATH, kyc.upload_limit(runtime)),))
    add_ops_routes(app, runtime)
    app.include_router(public.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(trading.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(auth.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(withdrawals.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(deposits.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(por.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(kyc.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(ws.router)
    binance.install(app)
    if runtime.settings.development:
        app.include_router(_dev_router())
    return app
