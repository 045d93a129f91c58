"""The KYC gate before each credit: a deposit over the tier's limit is held until it fits or is released."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from wcx.api.deposits import kyc_deposit_gate
from wcx.runtime import Runtime
from wcx.testing.chain import FakeChainNode
from wcx.wallet.deposits import (
    DepositWatcher,
    deposit_address,
    deposits_needing_attention,
    list_deposits,
    release_held,
)

from .conftest import add_user, ethereum_spec

pytestmark = pytest.mark.anyio
USDT = 10**6


async def tier_zero_user(runtime: Runtime, email: str) -> int:
    """A user at tier 0 (Unverified: 1000 USDT of deposits a day)."""
    user = await add_user(runtime, email)
    async with runtime.db.begin() as connection:
        await runtime.kyc.set_tier(connection, user, 0)
    return user


async def test_over_the_limit_is_held_then_credited_when_it_fits(runtime: Runtime) -> None:
    spec = ethereum_spec(confirmations=1)
    node = FakeChainNode("ethereum", ("ETH", "USDT"))
    user = await tier_zero_user(runtime, "limited@example.com")
    address = await deposit_address(runtime.db, spec, user)
    watcher = DepositWatcher(node, spec, runtime.db, runtime.submit, gate=kyc_deposit_gate(runtime))
    await watcher.poll()
    node.pay(address, 800 * USDT, "USDT")
    node.mine()
    await watcher.poll()
    node.pay(address, 500 * USDT, "USDT")  # 1300 in a day: over tier 0's 1000
    node.mine()
    await watcher.poll()
    assert runtime.engine.state.balance(user, "USDT")[0] == 800 * USDT
    records = await list_deposits(runtime.db, user)
    assert [(r.amount, r.status, r.note) for r in records] == [
        (500 * USDT, "held", "KYC_DEPOSIT_DAILY_LIMIT"),
        (800 * USDT, "credited", ""),
    ]
    assert REGISTRY.get_sample_value("wallet_deposits_held", {"chain": "ethereum"}) == 1
    attention = await deposits_needing_attention(runtime.db)
    assert [(r.user_id, r.status) for r in attention] == [(user, "held")]
    node.mine(3)
    await watcher.poll()  # still over the limit: still held, nothing credited
    assert runtime.engine.state.balance(user, "USDT")[0] == 800 * USDT
    async with runtime.db.begin() as connection:
        await runtime.kyc.set_tier(connection, user, 2)  # verified: 10 000 a day
    await watcher.poll()
    assert runtime.engine.state.balance(user, "USDT")[0] == 1300 * USDT
    assert {r.status for r in await list_deposits(runtime.db, user)} == {"credited"}
    assert await deposits_needing_attention(runtime.db) == []


async def test_unpriced_asset_is_held_and_the_back_office_releases_it_once(runtime: Runtime) -> None:
    spec = ethereum_spec(confirmations=1)
    node = FakeChainNode("ethereum", ("ETH", "USDT"))
    user = await tier_zero_user(runtime, "whale@example.com")
    address = await deposit_address(runtime.db, spec, user)
    watcher = DepositWatcher(node, spec, runtime.db, runtime.submit, gate=kyc_deposit_gate(runtime))
    await watcher.poll()
    node.pay(address, 5 * 10**18, "ETH")  # no ETH trade or book yet: no value to check the limit with
    node.mine()
    await watcher.poll()
    [held] = await list_deposits(runtime.db, user)
    assert (held.status, held.note) == ("held", "KYC_PRICE_UNAVAILABLE")
    assert runtime.engine.state.balance(user, "ETH")[0] == 0
    now = datetime.now(UTC)
    assert await release_held(runtime.db, runtime.submit, held.id, now=now)
    assert runtime.engine.state.balance(user, "ETH")[0] == 5 * 10**18
    assert not await release_held(runtime.db, runtime.submit, held.id, now=now)  # no longer held
    node.mine(2)
    await watcher.poll()
    assert runtime.engine.state.balance(user, "ETH")[0] == 5 * 10**18
    assert [r.status for r in await list_deposits(runtime.db, user)] == ["credited"]
