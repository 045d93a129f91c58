"""BTC deposits through bitcoind's RPC: the fake bitcoind, or a real regtest one with BITCOIND_PATH."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from wcx.runtime import Runtime
from wcx.wallet.deposits import DepositWatcher, deposit_address, list_deposits

from ..chains.harnesses import BitcoinHarness, make_harness
from .conftest import add_user, bitcoin_spec

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[
        "bitcoin",
        pytest.param(
            "bitcoin-real",
            marks=pytest.mark.skipif(
                not os.environ.get("BITCOIND_PATH"),
                reason="a real bitcoind runs only when BITCOIND_PATH is set",
            ),
        ),
    ]
)
async def bitcoind(request: pytest.FixtureRequest) -> AsyncIterator[BitcoinHarness]:
    """bitcoind behind its RPC, driven only through RPC calls."""
    harness = await make_harness(request.param)
    assert isinstance(harness, BitcoinHarness)
    yield harness
    await harness.close()


async def test_btc_deposit_credited_after_confirmations_and_reorg_handled(
    runtime: Runtime, bitcoind: BitcoinHarness
) -> None:
    # start at the current tip: a real regtest node already has 101 blocks of mining rewards
    spec = replace(bitcoin_spec(confirmations=3), start_height=(await bitcoind.node.tip()).height + 1)
    user = await add_user(runtime, "hodler@example.com")
    address = await deposit_address(runtime.db, spec, user)
    assert address.startswith("bcrt1q")
    watcher = DepositWatcher(bitcoind.node, spec, runtime.db, runtime.submit)
    await watcher.poll()

    # a payment that a reorg takes away before its confirmations
    before = await bitcoind.snapshot()
    await bitcoind.pay(address, "BTC", 10_000)  # mined at once: 1 confirmation
    await watcher.poll()
    assert [(d.amount, d.status) for d in await list_deposits(runtime.db, user)] == [(10_000, "pending")]
    await bitcoind.revert(before)  # its block goes; the payment waits in the mempool
    await bitcoind.mine(2)  # a longer fork of empty blocks
    result = await watcher.poll()
    assert result.reorg_depth == 1 and await list_deposits(runtime.db, user) == []

    # re-mined later: credited once, after three confirmations
    await bitcoind.mine_mempool()
    await watcher.poll()
    assert runtime.engine.state.balance(user, "BTC")[0] == 0
    await bitcoind.mine(2)
    await watcher.poll()
    assert runtime.engine.state.balance(user, "BTC")[0] == 10_000
    records = await list_deposits(runtime.db, user)
    assert [(d.amount, d.status) for d in records] == [(10_000, "credited")]
    assert await bitcoind.node.balance(address, "BTC") == 10_000
