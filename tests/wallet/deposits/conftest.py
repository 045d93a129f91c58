"""Deposit fixtures: a started Runtime (journal + SQLite) to credit through, users, chain specs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from wcx.config.settings import Settings, load_settings
from wcx.runtime import Runtime
from wcx.store.schema import users
from wcx.wallet.config import PUBLIC_TEST_KEYS, AssetSpec, ChainKind, ChainSpec, Network

ETH_XPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("xpub"))
TOKEN = "0x00000000000000000000000000000000000Fa4e5"


@pytest.fixture
def anyio_backend() -> str:
    """The runtime runs on asyncio."""
    return "asyncio"


def settings_in(path: Path) -> Settings:
    """Development settings over `path` (SQLite, no Redis)."""
    return load_settings(data_dir=path, wcx_env="development", database_url="", redis_url="")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A started runtime over a fresh data directory."""
    started = Runtime(settings_in(tmp_path / "data"))
    await started.start()
    yield started
    await started.stop()


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
        xpub=next(k for k in PUBLIC_TEST_KEYS if k.startswith("vpub")),
        assets=(AssetSpec("BTC", 8, confirmations),),
        scan_window=3,
        poll_interval_s=0.05,
        start_height=0,
    )
