"""The admin listener's app: JSON API (/admin/api/v1), server-rendered dashboard (/), static files.

Errors on API paths use the gateway's JSON error shape; on dashboard paths a missing or ended session
redirects to the sign-in page and other errors render as a short HTML message (a fragment for htmx).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wcx.admin import api, dashboard, state
from wcx.admin.guard import check_routes
from wcx.admin.settings import ip_allowed
from wcx.api.app import GatewayMiddleware
from wcx.api.errors import ApiError, error_body, install_error_handlers
from wcx.api.ops import add_ops_routes
from wcx.observability.tracing import FRAMEWORK_TELEMETRY_OFF
from wcx.runtime import Runtime

STATIC = Path(__file__).with_name("static")


SECURITY_HEADERS = [
    (
        b"x-frame-options",
        b"SAMEORIGIN",
    ),  # no clickjacking of approve buttons; the document viewer is same-origin
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


class AllowlistMiddleware:
    """Refuse every HTTP request from outside ADMIN_IP_ALLOWLIST before any route runs (403), and add
    the listener's security headers to every answer."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the peer address of HTTP requests (health checks included: the listener is private)."""
        if scope["type"] == "http":
            networks = state.admin_state(self.runtime).networks
            client = scope.get("client")
            if not ip_allowed(client[0] if client else None, networks):
                response = JSONResponse(error_body("IP_NOT_ALLOWED", "address not allowed"), status_code=403)
                await response(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    present = {name for name, _ in message.get("headers", [])}
                    extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                    message["headers"] = [*message.get("headers", []), *extra]
                await send(message)

            await self.app(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(api.PREFIX)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if _is_api(request):
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)
    htmx = request.headers.get("hx-request") == "true"
    if exc.status == 401:
        if htmx:
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)
    return dashboard.error_page(request, exc, htmx=htmx)


def create_admin_app(runtime: Runtime) -> FastAPI:
    """The admin app over a started (or about to be started) runtime."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.shutdown(runtime)

    app = FastAPI(
        telemetry=FRAMEWORK_TELEMETRY_OFF,
        title="wcx admin API",
        version="1",
        lifespan=lifespan,
        openapi_url="/admin/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_exception_handler(ApiError, _admin_error)
    app.add_middleware(AllowlistMiddleware, runtime=runtime)
    app.add_middleware(GatewayMiddleware)

    add_ops_routes(app, runtime)

    app.include_router(api.router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    check_routes(app.routes)
    return app
