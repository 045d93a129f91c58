"""The ChainNode conformance suite: every adapter (and the fake) answers the port's questions alike."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from wcx.wallet.chains import BroadcastRejectedError, ChainError, ChainNode

from .harnesses import Harness, make_harness

T = TypeVar("T")
ADAPTERS = [
    "fake",
    "ethereum",
    "bitcoin",
    pytest.param(
        "bitcoin-real",
        marks=pytest.mark.skipif(
            not os.environ.get("BITCOIND_PATH"),
            reason="a real bitcoind runs only when BITCOIND_PATH names its binary (none is installable here)",
        ),
    ),
]


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    """The adapter under test."""
    return str(request.param)


def scenario(adapter: str, body: Callable[[Harness], Awaitable[T]]) -> T:
    """Run `body` against a fresh chain behind `adapter`."""

    async def main() -> T:
        harness = await make_harness(adapter)
        try:
            return await body(harness)
        finally:
            await harness.close()

    return asyncio.run(main())


def test_adapter_satisfies_the_protocol(adapter: str) -> None:
    async def body(h: Harness) -> None:
        assert isinstance(h.node, ChainNode)
        assert h.node.chain in {"ethereum", "bitcoin"}

    scenario(adapter, body)


def test_tip_and_blocks_link_to_their_parents(adapter: str) -> None:
    async def body(h: Harness) -> None:
        await h.mine(3)
        tip = await h.node.tip()
        assert tip.height >= 3
        assert await h.node.block(tip.height) == tip
        assert await h.node.block(tip.height + 1) is None
        for height in range(tip.height, tip.height - 3, -1):
            child, parent = await h.node.block(height), await h.node.block(height - 1)
            assert child is not None and parent is not None
            assert child.parent_hash == parent.hash
            assert child.hash != parent.hash

    scenario(adapter, body)


def test_transfers_to_watched_addresses_in_range(adapter: str) -> None:
    async def body(h: Harness) -> None:
        ours, other = await h.fresh_address(), await h.fresh_address()
        start = (await h.node.tip()).height + 1
        paid = {}
        for n, asset in enumerate(h.assets):
            paid[asset] = await h.pay(ours, asset, 1000 + n)
            await h.pay(other, asset, 7)
        end = (await h.node.tip()).height
        found = await h.node.transfers(start, end, [ours])
        assert sorted((t.asset, t.amount, t.tx_hash) for t in found) == sorted(
            (asset, 1000 + n, paid[asset]) for n, asset in enumerate(h.assets)
        )
        for transfer in found:
            assert transfer.chain == h.node.chain
            assert transfer.to.lower() == ours.lower()
            block = await h.node.block(transfer.block_height)
            assert block is not None and block.hash == transfer.block_hash
            assert transfer.reference == f"{transfer.chain}:{transfer.tx_hash}:{transfer.index}"
        # case-insensitive matching of watched addresses, and nothing outside the range
        assert len(await h.node.transfers(start, end, [ours.upper().replace("0X", "0x")])) == len(found)
        assert await h.node.transfers(end + 1, end + 5, [ours]) == []
        assert await h.node.transfers(start, end, []) == []

    scenario(adapter, body)


def test_balance_of_a_fresh_address(adapter: str) -> None:
    async def body(h: Harness) -> None:
        address = await h.fresh_address()
        for asset in h.assets:
            assert await h.node.balance(address, asset) == 0
        for n, asset in enumerate(h.assets):
            await h.pay(address, asset, 5000 + n)
        for n, asset in enumerate(h.assets):
            assert await h.node.balance(address, asset) == 5000 + n

    scenario(adapter, body)


def test_broadcast_then_confirmations_grow(adapter: str) -> None:
    async def body(h: Harness) -> None:
        raw = await h.signed_tx()
        tx_hash = await h.node.broadcast(raw)
        assert await h.node.broadcast(raw) == tx_hash  # re-sending is harmless and answers the same hash
        await h.mine(1)
        first = await h.node.transaction(tx_hash)
        assert first is not None and first >= 1
        await h.mine(2)
        assert await h.node.transaction(tx_hash) == first + 2
        assert await h.node.transaction("0x" + "ab" * 32) is None

    scenario(adapter, body)


def test_broadcast_of_garbage_is_rejected(adapter: str) -> None:
    async def body(h: Harness) -> None:
        with pytest.raises(BroadcastRejectedError):
            await h.node.broadcast(h.garbage)

    scenario(adapter, body)


def test_fee_estimate_and_nonce(adapter: str) -> None:
    async def body(h: Harness) -> None:
        fee = await h.node.fee_estimate()
        assert fee.rate > 0 and 0 <= fee.tip <= fee.rate
        assert await h.node.nonce(await h.fresh_address()) == 0

    scenario(adapter, body)


def test_gas_estimate_of_a_plain_payment(adapter: str) -> None:
    async def body(h: Harness) -> None:
        sender, receiver = await h.fresh_address(), await h.fresh_address()
        await h.pay(sender, h.assets[0], 10**6)
        assert await h.node.estimate_gas(sender, receiver, 1000) == h.transfer_gas
        assert await h.node.estimate_gas(receiver, sender) == h.transfer_gas  # no gas money needed

    scenario(adapter, body)


def test_reorg_changes_hashes_and_drops_transfers(adapter: str) -> None:
    async def body(h: Harness) -> None:
        address = await h.fresh_address()
        await h.mine(1)
        fork_point = await h.node.tip()
        snap = await h.snapshot()
        await h.pay(address, h.assets[0], 999)
        await h.mine(1)
        old = await h.node.block(fork_point.height + 1)
        assert len(await h.node.transfers(fork_point.height + 1, fork_point.height + 2, [address])) == 1
        await h.revert(snap)
        await h.mine(3)
        new = await h.node.block(fork_point.height + 1)
        assert old is not None and new is not None and new.hash != old.hash
        assert new.parent_hash == fork_point.hash
        assert await h.node.transfers(fork_point.height + 1, fork_point.height + 3, [address]) == []

    scenario(adapter, body)


def test_unreachable_node_raises_chain_error(adapter: str) -> None:
    async def body(h: Harness) -> None:
        node = h.unreachable()
        try:
            calls: list[Callable[[], Awaitable[Any]]] = [
                node.tip,
                lambda: node.block(1),
                node.fee_estimate,
                lambda: node.broadcast(b"\x01"),
            ]
            for call in calls:
                with pytest.raises(ChainError):
                    await call()
        finally:
            await node.close()

    scenario(adapter, body)
