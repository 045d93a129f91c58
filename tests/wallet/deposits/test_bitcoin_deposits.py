"""BTC deposits through bitcoind's RPC (the fake bitcoind from wcx.testing): confirmations and reorgs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wcx.runtime import Runtime
from wcx.testing.bitcoind import FakeBitcoind
from wcx.wallet.chains.bitcoin import BitcoinNode
from wcx.wallet.chains.bitcoin.rpc import BitcoinRpc
from wcx.wallet.deposits import DepositWatcher, deposit_address, list_deposits

from .conftest import add_user, bitcoin_spec

pytestmark = pytest.mark.anyio


@pytest.fixture
async def bitcoind() -> AsyncIterator[FakeBitcoind]:
    """A fake bitcoind listening on 127.0.0.1."""
    fake = await FakeBitcoind().start()
    yield fake
    await fake.stop()


async def test_btc_deposit_credited_after_confirmations_and_reorg_handled(
    runtime: Runtime, bitcoind: FakeBitcoind
) -> None:
    spec = bitcoin_spec(confirmations=3)
    node = BitcoinNode(BitcoinRpc(bitcoind.url))
    try:
        user = await add_user(runtime, "hodler@example.com")
        address = await deposit_address(runtime.db, spec, user)
        assert address.startswith("bcrt1q")
        watcher = DepositWatcher(node, spec, runtime.db, runtime.submit)
        bitcoind.mine(2)
        await watcher.poll()

        # a payment that a reorg takes away before its confirmations
        bitcoind.pay(address, 10_000)
        bitcoind.mine(1)
        await watcher.poll()
        assert [(d.amount, d.status) for d in await list_deposits(runtime.db, user)] == [(10_000, "pending")]
        bitcoind.invalidate(3)  # the block with it goes; the payment waits in the mempool
        bitcoind.mine(2, include_mempool=False)
        result = await watcher.poll()
        assert result.reorg_depth == 1 and await list_deposits(runtime.db, user) == []

        # re-mined later: credited once, after three confirmations
        bitcoind.mine(1)
        await watcher.poll()
        assert runtime.engine.state.balance(user, "BTC")[0] == 0
        bitcoind.mine(2)
        await watcher.poll()
        assert runtime.engine.state.balance(user, "BTC")[0] == 10_000
        records = await list_deposits(runtime.db, user)
        assert [(d.amount, d.status, d.index) for d in records] == [(10_000, "credited", 0)]
        assert await node.balance(address, "BTC") == 10_000
    finally:
        await node.close()
