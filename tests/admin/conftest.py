"""Admin fixtures: a started runtime (SQLite, fake clock), the admin and user apps over it, and
signed-in admins of every role."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from store.conftest import _empty, postgres_database, run  # noqa: F401  (the module's PostgreSQL database)
from wallet.signers.conftest import hsm_signer, softhsm, token  # noqa: F401  (SoftHSM2, for hot-to-cold)

from wcx.admin import create_admin_app
from wcx.admin.accounts import create_admin
from wcx.admin.permissions import Role
from wcx.admin.settings import AdminSettings
from wcx.admin.state import AdminState
from wcx.admin.state import attach as attach_admin
from wcx.api.app import create_app
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.state import AuthState, attach
from wcx.config.settings import load_settings
from wcx.runtime import Runtime
from wcx.testing.kyc import make_kyc_service

PASSWORD = "correct horse battery"
ADMIN_PASSWORD = "admin staple battery horse"
BASE = "http://127.0.0.1"
API = "/admin/api/v1"


class Clock:
    """A wall clock the test moves forward (sessions, approvals and TOTP steps all read it)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def cheap_passwords() -> Passwords:
    """argon2id with tiny parameters: the tests need the behaviour, not the cost."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture
def anyio_backend() -> str:
    """The apps run on asyncio."""
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    """The fake clock shared by the admin and auth states."""
    return Clock()


@pytest.fixture
def admin_settings() -> AdminSettings:
    """Admin settings for a test (override the fixture to change them)."""
    return AdminSettings(ip_allowlist=[], approval_ttl_s=3600, session_idle_s=900, session_max_s=8 * 3600)


@pytest.fixture
def database_url() -> str:
    """The runtime's database: "" is SQLite in the data directory (modules override to add PostgreSQL)."""
    return ""


def both_databases(request: pytest.FixtureRequest) -> str:
    """For a `database_url` fixture parametrized over ("sqlite", "postgresql"): "" or an emptied,
    migrated PostgreSQL database of the module (skipped loudly, or failed under WCX_REQUIRE_SERVICES=1)."""
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("postgres_database")
    run(_empty(url))
    return url


@pytest.fixture
async def runtime(
    tmp_path: Path, clock: Clock, admin_settings: AdminSettings, database_url: str
) -> AsyncIterator[Runtime]:
    """A started runtime over a fresh data directory (journal; SQLite unless `database_url` says)."""
    settings = load_settings(
        projector="inline",  # the in-process tests need no second process; black-box tests run it
        data_dir=tmp_path / "data",
        wcx_env="development",
        redis_url="",
        database_url=database_url,
        jwt_secret="test-jwt-secret-" + "x" * 32,
        refresh_secret="test-refresh-secret-" + "y" * 32,
    )
    # KYC tier 1 for new users: they trade and withdraw a little, and may apply for tier 2.
    started = Runtime(settings, kyc=make_kyc_service(tmp_path / "kyc-vault", default_tier=1))
    attach(started, AuthState(settings, passwords=cheap_passwords()))
    attach_admin(started, AdminState(settings, admin_settings, clock=clock, passwords=cheap_passwords()))
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def admin_http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the admin app, in-process, from 127.0.0.1."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(create_admin_app(runtime)), base_url=BASE
    ) as http:
        yield http


@pytest.fixture
async def api_http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the user API app over the same runtime."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(runtime)), base_url=BASE) as http:
        yield http


@dataclass
class Admin:
    """A signed-in admin."""

    admin_id: int
    email: str
    role: Role
    totp: pyotp.TOTP
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Bearer authentication."""
        return {"Authorization": f"Bearer {self.token}"}


async def sign_in(http: httpx.AsyncClient, clock: Clock, email: str, totp: pyotp.TOTP) -> httpx.Response:
    """POST the API login with the current code."""
    code = totp.at(clock())
    return await http.post(
        f"{API}/login", json={"email": email, "password": ADMIN_PASSWORD, "totp_code": code}
    )


AdminFactory = Callable[..., Awaitable[Admin]]


@pytest.fixture
def make_admin(runtime: Runtime, admin_http: httpx.AsyncClient, clock: Clock) -> AdminFactory:
    """Create an admin of a role and sign it in."""
    counter = iter(range(1, 1000))

    async def make(role: Role, email: str | None = None) -> Admin:
        from wcx.admin.state import admin_state

        email = email or f"{role.value}{next(counter)}@admin.example.com"
        created = await create_admin(
            runtime.db,
            admin_state(runtime),
            email=email,
            role=role,
            password=ADMIN_PASSWORD,
            created_by="test",
        )
        totp = pyotp.TOTP(created.totp_secret)
        response = await sign_in(admin_http, clock, email, totp)
        assert response.status_code == 200, response.text
        return Admin(created.admin_id, email, role, totp, response.json()["token"])

    return make


@dataclass
class User:
    """A registered, signed-in exchange user."""

    email: str
    user_id: int
    headers: dict[str, str]
    refresh_token: str


async def sign_up(api_http: httpx.AsyncClient, email: str) -> User:
    """Register (auto-verified in development), log in, fund with USDT and BTC."""
    response = await api_http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code < 300, response.text
    response = await api_http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens = response.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    account = (await api_http.get("/api/v1/account", headers=headers)).json()
    for asset, amount in (("USDT", "100000"), ("BTC", "2")):
        credited = await api_http.post("/dev/credit", json={"email": email, "asset": asset, "amount": amount})
        assert credited.status_code == 200, credited.text
    return User(email, account["user_id"], headers, tokens["refresh_token"])


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    return response.json() if response.content else None


def error_code(response: httpx.Response) -> str:
    """The stable error code of an error response."""
    code: str = response.json()["error"]["code"]
    return code
