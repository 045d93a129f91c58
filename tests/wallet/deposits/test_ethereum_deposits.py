"""Deposits on a real local EVM (eth-tester + py-evm): ETH and the ERC-20, confirmations, reorgs, restarts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from wcx.runtime import Runtime
from wcx.testing.evm import LocalEvm, in_process_rpc
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.config import AssetSpec, ChainSpec
from wcx.wallet.deposits import DepositWatcher, deposit_address, list_deposits

from .conftest import add_user, ethereum_spec, settings_in

pytestmark = pytest.mark.anyio

ETH = 10**18
USDT = 10**6


async def chain(confirmations: int) -> tuple[LocalEvm, EthereumNode, ChainSpec]:
    """A fresh in-process chain with the test token deployed, the adapter over it and its spec."""
    evm = await LocalEvm(in_process_rpc()).start()
    spec = replace(ethereum_spec(confirmations, token=evm.token), start_height=await evm.height() + 1)
    return evm, EthereumNode.from_spec(spec, evm.rpc), spec


def statuses(records: list) -> list[tuple[str, int, str]]:  # type: ignore[type-arg]
    """(asset, amount, status) oldest first."""
    return [(r.asset, r.amount, r.status) for r in reversed(records)]


async def test_eth_and_token_credited_after_confirmations_not_before(runtime: Runtime) -> None:
    evm, node, spec = await chain(confirmations=4)
    user = await add_user(runtime, "holder@example.com")
    address = await deposit_address(runtime.db, spec, user)
    watcher = DepositWatcher(node, spec, runtime.db, runtime.submit)
    await watcher.poll()
    await evm.send_eth(address, 2 * ETH)  # its block has 1 confirmation
    await evm.send_token(address, 1234 * USDT)
    await watcher.poll()
    records = await list_deposits(runtime.db, user)
    assert statuses(records) == [("ETH", 2 * ETH, "pending"), ("USDT", 1234 * USDT, "pending")]
    assert {r.index for r in records} == {-1, 0}  # native transfer, then the token's Transfer log 0
    balance = runtime.engine.state.balance
    await evm.mine(2)  # ETH block: 4 confirmations, token block: 3
    await watcher.poll()
    assert balance(user, "ETH")[0] == 2 * ETH and balance(user, "USDT")[0] == 0
    await evm.mine(1)
    await watcher.poll()
    assert balance(user, "USDT")[0] == 1234 * USDT
    assert statuses(await list_deposits(runtime.db, user)) == [
        ("ETH", 2 * ETH, "credited"),
        ("USDT", 1234 * USDT, "credited"),
    ]
    # the chain and the engine agree on what arrived
    assert await node.balance(address, "ETH") == balance(user, "ETH")[0]
    assert await node.balance(address, "USDT") == balance(user, "USDT")[0]


async def test_reorg_drops_a_pending_deposit_and_flags_a_credited_one(runtime: Runtime) -> None:
    evm, node, spec = await chain(confirmations=2)
    user = await add_user(runtime, "holder@example.com")
    address = await deposit_address(runtime.db, spec, user)
    watcher = DepositWatcher(node, spec, runtime.db, runtime.submit)
    await watcher.poll()

    # 1. reorged out before its confirmations: dropped, nothing credited
    before_pending = await evm.snapshot()
    await evm.send_eth(address, ETH)
    await watcher.poll()
    assert statuses(await list_deposits(runtime.db, user)) == [("ETH", ETH, "pending")]
    await evm.revert(before_pending)
    await evm.mine(3)  # a longer chain without the payment
    result = await watcher.poll()
    assert result.reorg_depth >= 1
    assert await list_deposits(runtime.db, user) == []
    assert runtime.engine.state.balance(user, "ETH")[0] == 0

    # 2. reorged out after it was credited: balances stay, the deposit is flagged, the alert counts
    alerts = (
        REGISTRY.get_sample_value(
            "wallet_deposits_reorged_after_credit_total", {"chain": "ethereum", "asset": "USDT"}
        )
        or 0.0
    )
    before_credit = await evm.snapshot()
    await evm.send_token(address, 50 * USDT)
    await evm.mine(1)
    await watcher.poll()
    assert runtime.engine.state.balance(user, "USDT")[0] == 50 * USDT
    await evm.revert(before_credit)
    await evm.mine(4)
    await watcher.poll()
    assert statuses(await list_deposits(runtime.db, user)) == [("USDT", 50 * USDT, "reorged")]
    assert runtime.engine.state.balance(user, "USDT")[0] == 50 * USDT
    assert (
        REGISTRY.get_sample_value(
            "wallet_deposits_reorged_after_credit_total", {"chain": "ethereum", "asset": "USDT"}
        )
        == alerts + 1
    )
    assert await node.balance(address, "USDT") == 0  # what an operator must now reconcile


async def test_restart_resumes_without_paying_twice(tmp_path: Path) -> None:
    evm, node, spec = await chain(confirmations=2)
    first = Runtime(settings_in(tmp_path / "data"))
    await first.start()
    try:
        user = await add_user(first, "holder@example.com")
        address = await deposit_address(first.db, spec, user)
        await DepositWatcher(node, spec, first.db, first.submit).poll()
        await evm.send_eth(address, 3 * ETH)
        await evm.mine(1)
        await DepositWatcher(node, spec, first.db, first.submit).poll()
        assert first.engine.state.balance(user, "ETH")[0] == 3 * ETH
    finally:
        await first.stop()
    await evm.send_eth(address, ETH)  # arrives while the exchange is down
    await evm.mine(2)
    second = Runtime(settings_in(tmp_path / "data"))
    await second.start()
    try:
        result = await DepositWatcher(node, spec, second.db, second.submit).poll()
        assert result.new_deposits == 1 and result.credited == 1
        assert second.engine.state.balance(user, "ETH")[0] == 4 * ETH
        assert [r.status for r in await list_deposits(second.db, user)] == ["credited", "credited"]
    finally:
        await second.stop()


async def test_token_transfer_to_someone_else_or_of_another_token_is_ignored(runtime: Runtime) -> None:
    evm, node, spec = await chain(confirmations=1)
    other_token = await LocalEvm(evm.rpc).start()  # a second ERC-20 the exchange does not list
    user = await add_user(runtime, "holder@example.com")
    address = await deposit_address(runtime.db, spec, user)
    watcher = DepositWatcher(node, spec, runtime.db, runtime.submit)
    await watcher.poll()
    await other_token.send_token(address, 99 * USDT)
    await evm.send_token("0x" + "44" * 20, 5 * USDT)
    await evm.mine(2)
    assert (await watcher.poll()).new_deposits == 0
    assert spec.asset("USDT") == AssetSpec("USDT", 6, 1, token=True, contract=evm.token)
