"""Auth fixtures: a tiny app (error handlers + the auth router + probe routes) over a fresh SQLite database,
a fake clock, cheap argon2 parameters and an in-memory store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import Depends, FastAPI

from wcx.api.auth import AuthState, attach, current_principal, require, router
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.signing import hmac_signature, message
from wcx.api.auth.store import MemoryStore
from wcx.api.errors import install_error_handlers
from wcx.api.principal import Permission, Principal
from wcx.config.settings import Settings
from wcx.store.db import create_engine
from wcx.store.migrate import upgrade

PASSWORD = "correct horse battery"
CLIENT_IP = "203.0.113.7"
SECRET = "test-secret-" + "x" * 32


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds

    def ms(self) -> str:
        """The X-WCX-TIMESTAMP value for now."""
        return str(round(self.now * 1000))


def probe_app(runtime: Any) -> FastAPI:
    """The auth router under /api/v1 plus probes that echo the principal a permission admits."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router, prefix="/api/v1")
    app.state.runtime = runtime

    def echo(principal: Principal) -> dict[str, Any]:
        return {
            "user_id": principal.user_id,
            "api_key_id": principal.api_key_id,
            "session_id": principal.session_id,
            "permissions": sorted(principal.permissions),
        }

    @app.get("/api/v1/probe/whoami")
    async def whoami(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return echo(principal)

    @app.post("/api/v1/probe/trade")
    async def trade(principal: Annotated[Principal, Depends(require(Permission.TRADE))]) -> dict[str, Any]:
        return echo(principal)

    return app


def error_code(response: httpx.Response) -> str:
    """The stable error code of an error response."""
    return str(response.json()["error"]["code"])


@dataclass
class Session:
    """A logged-in user's tokens."""

    access: str
    refresh: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.access}"}


class Api:
    """An HTTP client on the probe app with shortcuts for the auth flows."""

    def __init__(self, http: httpx.AsyncClient, clock: FakeClock, settings: Settings) -> None:
        self.http = http
        self.clock = clock
        self.settings = settings

    async def post(self, path: str, body: Any = None, session: Session | None = None) -> httpx.Response:
        """POST a JSON body to /api/v1`path`, as `session` if given."""
        headers = session.headers if session else {}
        return await self.http.post(f"/api/v1{path}", json=body, headers=headers)

    async def get(self, path: str, session: Session | None = None) -> httpx.Response:
        """GET /api/v1`path`, as `session` if given."""
        return await self.http.get(f"/api/v1{path}", headers=session.headers if session else {})

    async def register(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """POST /auth/register."""
        return await self.post("/auth/register", {"email": email, "password": password})

    async def login_response(self, email: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
        """POST /auth/login."""
        return await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password, **extra}
        )

    async def login(self, email: str, password: str = PASSWORD, **extra: str) -> Session:
        """Log in, asserting success."""
        response = await self.login_response(email, password, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        return Session(body["access_token"], body["refresh_token"], body["session_id"])

    async def signup(self, email: str) -> Session:
        """Register (auto-verified in development) and log in."""
        assert (await self.register(email)).status_code == 202
        return await self.login(email)

    async def create_key(self, session: Session, **body: Any) -> dict[str, Any]:
        """POST /api-keys, asserting success."""
        response = await self.http.post("/api/v1/api-keys", json=body, headers=session.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def signed(self, key: dict[str, Any], method: str, target: str, body: bytes = b"") -> dict[str, str]:
        """Headers of an HMAC-signed request made now."""
        timestamp = self.clock.ms()
        signature = hmac_signature(key["secret"], message(timestamp, method, target, body))
        return {"X-WCX-KEY": key["key"], "X-WCX-TIMESTAMP": timestamp, "X-WCX-SIGNATURE": signature}

    async def enable_2fa(self, session: Session) -> tuple[pyotp.TOTP, list[str]]:
        """Turn 2FA on; the authenticator and the recovery codes."""
        setup = await self.http.post("/api/v1/auth/2fa/enable", headers=session.headers)
        assert setup.status_code == 200, setup.text
        authenticator = pyotp.TOTP(setup.json()["secret"])
        verified = await self.http.post(
            "/api/v1/auth/2fa/verify",
            json={"totp_code": authenticator.at(self.clock())},
            headers=session.headers,
        )
        assert verified.status_code == 200, verified.text
        return authenticator, verified.json()["recovery_codes"]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that ignore the environment and any .env file."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "redis_url": "",
        "database_url": "",
        "jwt_secret": SECRET,
        "refresh_secret": SECRET + "-refresh",
        "wcx_env": "development",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def anyio_backend() -> str:
    """The API runs on asyncio."""
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    """The clock every auth decision reads."""
    return FakeClock()


@pytest.fixture
def environment() -> str:
    """WCX_ENV of the app under test (override to test production behaviour)."""
    return "development"


@pytest.fixture
async def auth_runtime(tmp_path: Path, clock: FakeClock, environment: str) -> AsyncIterator[SimpleNamespace]:
    """A stand-in runtime: `db` (migrated SQLite) and `settings`, with its AuthState attached."""
    settings = make_settings(tmp_path, wcx_env=environment)
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'auth.sqlite3'}")
    await upgrade(db)
    runtime = SimpleNamespace(db=db, settings=settings)
    # Production argon2 parameters cost ~100 ms a hash; tests need the behaviour, not the cost.
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    attach(runtime, AuthState(settings, clock=clock, passwords=passwords, store=MemoryStore(clock)))
    yield runtime
    await db.dispose()


Connect = Callable[[str], Awaitable[Api]]


@pytest.fixture
async def connect(auth_runtime: SimpleNamespace, clock: FakeClock) -> AsyncIterator[Connect]:
    """Open more clients on the same app, each calling from its own IP."""
    app = probe_app(auth_runtime)
    async with AsyncExitStack() as stack:

        async def open_from(ip: str) -> Api:
            transport = httpx.ASGITransport(app, client=(ip, 40000))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://test")
            )
            return Api(http, clock, auth_runtime.settings)

        yield open_from


@pytest.fixture
async def api(connect: Connect) -> Api:
    """The client most tests use, calling from CLIENT_IP."""
    return await connect(CLIENT_IP)
