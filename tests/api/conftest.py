"""API fixtures: a started Runtime in tmp_path (SQLite), the app over it, and signed-in users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from wcx.api.app import create_app
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.state import AuthState, attach
from wcx.config.settings import load_settings
from wcx.runtime import Runtime

PASSWORD = "correct horse battery"
BASE = "http://127.0.0.1"


@pytest.fixture
def anyio_backend() -> str:
    """The API runs on asyncio."""
    return "asyncio"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A started runtime over a fresh data directory (journal + SQLite) with cheap password hashing."""
    settings = load_settings(
        projector="inline",  # the in-process tests need no second process; black-box tests run it
        data_dir=tmp_path / "data",
        wcx_env="development",
        redis_url="",
        database_url="",
        jwt_secret="test-jwt-secret-" + "x" * 32,
        refresh_secret="test-refresh-secret-" + "y" * 32,
    )
    started = Runtime(settings)
    # Production argon2 parameters cost ~100 ms a hash; tests only need the behaviour.
    attach(
        started,
        AuthState(settings, passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))),
    )
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the API app in-process (from 127.0.0.1)."""
    app = create_app(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        yield http


@dataclass
class User:
    """A registered, signed-in user."""

    email: str
    user_id: int
    headers: dict[str, str]


async def sign_up(client: httpx.AsyncClient, email: str) -> User:
    """Register (auto-verified in development) and log in with an access token."""
    response = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code < 300, response.text
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    account = await client.get("/api/v1/account", headers=headers)
    assert account.status_code == 200, account.text
    return User(email, account.json()["user_id"], headers)


async def credit(client: httpx.AsyncClient, user: User, asset: str, amount: str) -> None:
    """Fund a user through the development endpoint."""
    response = await client.post("/dev/credit", json={"email": user.email, "asset": asset, "amount": amount})
    assert response.status_code == 200, response.text


async def balances(client: httpx.AsyncClient, user: User) -> dict[str, dict[str, Any]]:
    """The user's balances by asset."""
    response = await client.get("/api/v1/balances", headers=user.headers)
    assert response.status_code == 200, response.text
    return {row["asset"]: row for row in response.json()}


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> User:
    """A user with 100 000 USDT and 2 BTC."""
    user = await sign_up(client, "alice@example.com")
    await credit(client, user, "USDT", "100000")
    await credit(client, user, "BTC", "2")
    return user


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> User:
    """A second user with 100 000 USDT and 2 BTC."""
    user = await sign_up(client, "bob@example.com")
    await credit(client, user, "USDT", "100000")
    await credit(client, user, "BTC", "2")
    return user
