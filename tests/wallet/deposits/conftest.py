"""Deposit fixtures: a started Runtime (journal + SQLite or PostgreSQL) to credit through, users, specs.

PostgreSQL: a `wcx_test_<random>` database per test on the server of `WCX_TEST_DATABASE_URL` (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards; unreachable → a loud skip, or a
failure under `WCX_REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from wcx.config.settings import Settings, load_settings
from wcx.runtime import Runtime
from wcx.store.schema import users
from wcx.testing.services import missing_service
from wcx.wallet.config import PUBLIC_TEST_KEYS, AssetSpec, ChainKind, ChainSpec, Network

ETH_XPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("xpub"))
BTC_XPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("vpub"))
TOKEN = "0x00000000000000000000000000000000000Fa4e5"


@pytest.fixture
def anyio_backend() -> str:
    """The runtime runs on asyncio."""
    return "asyncio"


POSTGRES_SERVER = os.environ.get("WCX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def settings_in(path: Path, database_url: str = "") -> Settings:
    """Development settings over `path` (SQLite unless a database URL is given, no Redis)."""
    return load_settings(
        projector="inline", data_dir=path, wcx_env="development", database_url=database_url, redis_url=""
    )


async def _admin(sql: str) -> None:
    server = make_url(POSTGRES_SERVER)
    connection = await asyncpg.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username or "postgres",
        password=server.password,
        database=server.database or "postgres",
        timeout=5,
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A started runtime over a fresh data directory and a fresh SQLite file or PostgreSQL database."""
    url, name = "", ""
    if request.param == "postgresql":
        name = f"wcx_test_{secrets.token_hex(6)}"
        try:
            await _admin(f'CREATE DATABASE "{name}"')
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            missing_service(f"PostgreSQL at {POSTGRES_SERVER} unreachable: {exc!r}")
        url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    started = Runtime(settings_in(tmp_path / "data", url))
    await started.start()
    try:
        yield started
    finally:
        await started.stop()
        if name:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def add_user(runtime: Runtime, email: str) -> int:
    """A user row (deposit addresses and deposits reference users)."""
    async with runtime.db.begin() as connection:
        result = await connection.execute(insert(users).values(email=email, created_at=datetime.now(UTC)))
    return int(result.inserted_primary_key[0])


def ethereum_spec(
    confirmations: int = 3, *, token: str = TOKEN, window: int = 5, internal: frozenset[str] = frozenset()
) -> ChainSpec:
    """An Ethereum chain with ETH and a 6-decimal USDT, `confirmations` for both."""
    return ChainSpec(
        name="ethereum",
        kind=ChainKind.ETHEREUM,
        network=Network.LOCAL,
        xpub=ETH_XPUB,
        assets=(
            AssetSpec("ETH", 18, confirmations),
            AssetSpec("USDT", 6, confirmations, token=True, contract=token),
        ),
        scan_window=window,
        poll_interval_s=0.05,
        internal_addresses=internal,
        start_height=0,
    )


def bitcoin_spec(confirmations: int = 3) -> ChainSpec:
    """A regtest Bitcoin chain with BTC."""
    return ChainSpec(
        name="bitcoin",
        kind=ChainKind.BITCOIN,
        network=Network.REGTEST,
        xpub=BTC_XPUB,
        assets=(AssetSpec("BTC", 8, confirmations),),
        scan_window=3,
        poll_interval_s=0.05,
        start_height=0,
    )
