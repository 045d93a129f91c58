"""The deposit watcher over the fake chain node, crediting through a real runtime (journal + engine)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from wcx.engine import Command, Event
from wcx.runtime import Runtime
from wcx.testing.chain import FakeChainNode
from wcx.wallet.config import ChainSpec
from wcx.wallet.deposits import DepositWatcher, deposit_address, list_deposits
from wcx.wallet.deposits.tables import deposit_checkpoints, deposits

from .conftest import add_user, ethereum_spec

pytestmark = pytest.mark.anyio


def metric(name: str, **labels: str) -> float:
    """A sample's current value (0 when never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Setup:
    """A fake chain, a runtime and one user with an address."""

    def __init__(self, runtime: Runtime, spec: ChainSpec) -> None:
        self.runtime = runtime
        self.spec = spec
        self.node = FakeChainNode("ethereum", ("ETH", "USDT"))
        self.user = 0
        self.address = ""

    async def start(self) -> Setup:
        self.user = await add_user(self.runtime, "depositor@example.com")
        self.address = await deposit_address(self.runtime.db, self.spec, self.user)
        return self

    def watcher(self, submit: Any = None) -> DepositWatcher:
        return DepositWatcher(self.node, self.spec, self.runtime.db, submit or self.runtime.submit)

    def balance(self, asset: str) -> int:
        return self.runtime.engine.state.balance(self.user, asset)[0]

    async def statuses(self) -> list[tuple[str, str]]:
        async with self.runtime.db.connect() as connection:
            rows = await connection.execute(
                select(deposits.c.asset, deposits.c.status).order_by(deposits.c.id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_credited_only_after_n_confirmations(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=3)).start()
    watcher = s.watcher()
    before = metric("wallet_deposits_credited_total", chain="ethereum", asset="ETH")
    s.node.pay(s.address, 5 * 10**17, "ETH")
    s.node.pay(s.address, 250_000_000, "USDT")
    s.node.mine()  # 1 confirmation
    result = await watcher.poll()
    assert result.new_deposits == 2 and result.credited == 0
    s.node.mine()  # 2
    assert (await watcher.poll()).credited == 0
    assert s.balance("ETH") == 0 and s.balance("USDT") == 0
    assert await s.statuses() == [("ETH", "pending"), ("USDT", "pending")]
    history = await list_deposits(runtime.db, s.user)
    assert [(d.asset, d.confirmations, d.confirmations_required) for d in history] == [
        ("USDT", 2, 3),
        ("ETH", 2, 3),
    ]
    s.node.mine()  # 3
    assert (await watcher.poll()).credited == 2
    assert s.balance("ETH") == 5 * 10**17 and s.balance("USDT") == 250_000_000
    assert await s.statuses() == [("ETH", "credited"), ("USDT", "credited")]
    assert metric("wallet_deposits_credited_total", chain="ethereum", asset="ETH") == before + 1
    s.node.mine(5)
    assert (await watcher.poll()).credited == 0  # nothing twice
    assert s.balance("ETH") == 5 * 10**17
    assert metric("wallet_deposit_watcher_height_lag_blocks", chain="ethereum") == 0


async def test_idempotent_across_restarts_and_a_crash_after_the_credit(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=1)).start()
    s.node.pay(s.address, 7, "ETH")
    s.node.mine()

    async def crash_after_credit(command: Command) -> list[Event]:
        await runtime.submit(command)  # the engine credited it durably ...
        raise RuntimeError("process died before the watcher recorded the credit")

    with pytest.raises(RuntimeError, match="process died"):
        await s.watcher(crash_after_credit).poll()
    assert s.balance("ETH") == 7
    assert await s.statuses() == [("ETH", "pending")]
    # a new watcher (a restarted process) credits again: the engine answers DUPLICATE_REFERENCE
    result = await s.watcher().poll()
    assert result.new_deposits == 0 and result.credited == 0
    assert s.balance("ETH") == 7
    assert await s.statuses() == [("ETH", "credited")]
    # and a third one scanning nothing new changes nothing
    s.node.mine(3)
    await s.watcher().poll()
    assert s.balance("ETH") == 7


async def test_checkpoint_resumes_where_the_last_process_stopped(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=1, window=2)).start()
    s.node.mine(3)
    first = await s.watcher().poll()
    assert first.scanned_to == 3
    s.node.pay(s.address, 11, "ETH")
    s.node.mine(12)
    watcher = s.watcher()
    calls: list[tuple[int, int]] = []
    original = s.node.transfers

    async def spy(start: int, end: int, addresses: Any) -> Any:
        calls.append((start, end))
        return await original(start, end, addresses)

    s.node.transfers = spy  # type: ignore[method-assign]
    result = await watcher.poll()
    assert calls[0] == (4, 5)  # resumed after the checkpoint, in windows of two blocks
    assert all(end - start == 1 for start, end in calls)
    assert result.scanned_to == 15 and s.balance("ETH") == 11
    async with runtime.db.connect() as connection:
        height = (await connection.execute(select(deposit_checkpoints.c.height))).scalar()
    assert height == 15


async def test_reorg_before_confirmation_drops_then_recredits_once(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=3)).start()
    watcher = s.watcher()
    s.node.mine(2)
    s.node.pay(s.address, 1000, "ETH")
    s.node.mine()
    await watcher.poll()
    assert await s.statuses() == [("ETH", "pending")]
    reorgs = metric("wallet_deposit_reorgs_total", chain="ethereum")
    s.node.reorg(2)  # the deposit's block is replaced; the payment is not in the fork
    result = await watcher.poll()
    assert result.reorg_depth == 2
    assert metric("wallet_deposit_reorgs_total", chain="ethereum") == reorgs + 1
    assert await s.statuses() == []
    # the payment is re-mined later in another block, and credited once after 3 confirmations there
    s.node.pay(s.address, 1000, "ETH")
    s.node.mine(3)
    await watcher.poll()
    assert s.balance("ETH") == 1000
    assert await s.statuses() == [("ETH", "credited")]


async def test_reorg_of_a_credited_deposit_alerts_and_keeps_balances(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=2)).start()
    watcher = s.watcher()
    s.node.mine(3)
    s.node.pay(s.address, 42, "USDT")
    s.node.mine(2)
    await watcher.poll()
    assert s.balance("USDT") == 42
    alerts = metric("wallet_deposits_reorged_after_credit_total", chain="ethereum", asset="USDT")
    s.node.reorg(3)  # deeper than the confirmations: the credited deposit is gone from the chain
    with caplog.at_level(logging.CRITICAL):
        await watcher.poll()
    assert metric("wallet_deposits_reorged_after_credit_total", chain="ethereum", asset="USDT") == alerts + 1
    assert s.balance("USDT") == 42  # never changed behind the engine's back
    assert await s.statuses() == [("USDT", "reorged")]
    # if the same transaction is mined again, the deposit is back and still credited only once
    s.node.rewind(s.node.height - 2)
    s.node.pay(s.address, 42, "USDT")  # a different tx: a new deposit, credited normally
    s.node.mine(3)
    await watcher.poll()
    assert s.balance("USDT") == 84


async def test_reorged_credit_reappears_when_re_mined(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=1)).start()
    watcher = s.watcher()
    s.node.pay(s.address, 5, "ETH")
    s.node.mine()
    await watcher.poll()
    s.node.rewind(s.node.height - 1, keep=True)  # the block goes, its payment returns to the queue
    s.node.mine(3)
    await watcher.poll()
    assert await s.statuses() == [("ETH", "credited")]
    assert s.balance("ETH") == 5


async def test_ignores_strangers_internal_senders_and_blocks_before_start(runtime: Runtime) -> None:
    hot = "0x1111111111111111111111111111111111111111"
    spec = replace(ethereum_spec(confirmations=1, internal=frozenset({hot})), start_height=3)
    s = await Setup(runtime, spec).start()
    s.node.mine(1)
    s.node.pay(s.address, 100, "ETH")  # block 2: before the configured start height
    s.node.mine(1)
    s.node.pay(s.address, 9, "ETH", sender=hot)  # gas top-up from our own hot wallet: not a deposit
    s.node.pay("0x" + "33" * 20, 9, "ETH")  # someone else's address
    s.node.pay(s.address, 1, "USDT")  # block 3: the one real deposit
    s.node.mine(2)
    result = await s.watcher().poll()
    assert result.new_deposits == 1
    assert (s.balance("ETH"), s.balance("USDT")) == (0, 1)


async def test_a_node_behind_the_checkpoint_is_waited_for_not_taken_as_a_reorg(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=5)).start()
    watcher = s.watcher()
    s.node.pay(s.address, 77, "ETH")
    s.node.mine(3)
    await watcher.poll()
    reorgs = metric("wallet_deposit_reorgs_total", chain="ethereum")
    lagging = FakeChainNode("ethereum", ("ETH", "USDT"))  # a fail-over node still syncing: height 1
    lagging.mine(1)
    behind = DepositWatcher(lagging, s.spec, runtime.db, runtime.submit)
    result = await behind.poll()
    assert (result.tip, result.scanned_to, result.reorg_depth) == (1, 3, 0)
    assert metric("wallet_deposit_reorgs_total", chain="ethereum") == reorgs
    assert await s.statuses() == [("ETH", "pending")]


async def test_a_start_height_in_the_future_waits_for_the_chain(runtime: Runtime) -> None:
    s = await Setup(runtime, replace(ethereum_spec(confirmations=1), start_height=6)).start()
    s.node.pay(s.address, 1, "ETH")  # block 1: before the start height
    s.node.mine(2)
    assert (await s.watcher().poll()).new_deposits == 0
    async with runtime.db.connect() as connection:
        assert (await connection.execute(select(deposit_checkpoints.c.height))).scalar() is None
    s.node.mine(3)  # tip 5: block 6 is the next one, the checkpoint is block 5
    await s.watcher().poll()
    s.node.pay(s.address, 2, "ETH")
    s.node.mine(1)
    assert (await s.watcher().poll()).new_deposits == 1
    assert s.balance("ETH") == 2


async def test_run_survives_an_offline_node_and_stops_on_request(runtime: Runtime) -> None:
    s = await Setup(runtime, ethereum_spec(confirmations=1)).start()
    s.node.offline = True
    errors = metric("wallet_deposit_watcher_errors_total", chain="ethereum")
    stop = asyncio.Event()
    task = asyncio.create_task(s.watcher().run(stop))
    await asyncio.sleep(0.15)
    assert metric("wallet_deposit_watcher_errors_total", chain="ethereum") > errors
    s.node.offline = False
    s.node.pay(s.address, 3, "ETH")
    s.node.mine()
    for _ in range(100):
        if s.balance("ETH"):
            break
        await asyncio.sleep(0.05)
    assert s.balance("ETH") == 3
    stop.set()
    await asyncio.wait_for(task, timeout=5)
