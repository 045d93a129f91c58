"""One harness per ChainNode adapter: how to pay, mine, fork and sign on that chain in a test.

The conformance suite talks to the adapter only through the port and drives the chain only
through these harnesses, so every adapter answers exactly the same questions.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any, Protocol

from wcx.testing.chain import FakeChainNode
from wcx.testing.evm import LocalEvm, in_process_rpc
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.chains.ethereum.rpc import EthereumRpc
from wcx.wallet.chains.port import ChainNode


class Harness(Protocol):
    """Drives one chain behind `node`."""

    node: ChainNode
    assets: tuple[str, ...]
    garbage: bytes

    async def fresh_address(self) -> str: ...
    async def pay(self, to: str, asset: str, amount: int) -> str: ...
    async def mine(self, blocks: int) -> None: ...
    async def snapshot(self) -> Any: ...
    async def revert(self, snapshot: Any) -> None: ...
    async def signed_tx(self) -> bytes: ...
    def unreachable(self) -> ChainNode: ...
    async def close(self) -> None: ...


class FakeHarness:
    """The in-memory fake from wcx.testing."""

    garbage = b""

    def __init__(self) -> None:
        self.fake = FakeChainNode("ethereum", ("ETH", "USDT"))
        self.node: ChainNode = self.fake
        self.assets = ("ETH", "USDT")
        self._ids = itertools.count(1)

    async def fresh_address(self) -> str:
        return "0x" + secrets.token_hex(20)

    async def pay(self, to: str, asset: str, amount: int) -> str:
        tx_hash = self.fake.pay(to, amount, asset)
        self.fake.mine()
        return tx_hash

    async def mine(self, blocks: int) -> None:
        self.fake.mine(blocks)

    async def snapshot(self) -> Any:
        return self.fake.height

    async def revert(self, snapshot: Any) -> None:
        self.fake.rewind(snapshot)

    async def signed_tx(self) -> bytes:
        return f"signed-{next(self._ids)}".encode()

    def unreachable(self) -> ChainNode:
        offline = FakeChainNode()
        offline.offline = True
        return offline

    async def close(self) -> None:
        pass


class EthereumHarness:
    """EthereumNode over an in-process py-evm chain (eth-tester), or a dev node given its RPC."""

    garbage = b"\x02\xf8\x01not-a-transaction"

    def __init__(self, rpc: EthereumRpc | None = None) -> None:
        self.evm = LocalEvm(rpc or in_process_rpc())
        self.node: ChainNode = EthereumNode(self.evm.rpc)
        self.assets = ("ETH", "USDT")

    async def start(self) -> EthereumHarness:
        await self.evm.start()
        self.node = EthereumNode(self.evm.rpc, tokens={self.evm.token: "USDT"})
        return self

    async def fresh_address(self) -> str:
        return "0x" + secrets.token_hex(20)

    async def pay(self, to: str, asset: str, amount: int) -> str:
        if asset == "ETH":
            return await self.evm.send_eth(to, amount)
        return await self.evm.send_token(to, amount)

    async def mine(self, blocks: int) -> None:
        await self.evm.mine(blocks)

    async def snapshot(self) -> Any:
        return await self.evm.snapshot()

    async def revert(self, snapshot: Any) -> None:
        await self.evm.revert(snapshot)

    async def signed_tx(self) -> bytes:
        return await self.evm.signed_eth_transfer("0x" + secrets.token_hex(20), 12345)

    def unreachable(self) -> ChainNode:
        return EthereumNode(EthereumRpc.http("http://127.0.0.1:9/", timeout_s=2))

    async def close(self) -> None:
        await self.node.close()


async def make_harness(name: str) -> Harness:
    """A started harness for the adapter called `name`."""
    if name == "fake":
        return FakeHarness()
    if name == "ethereum":
        return await EthereumHarness().start()
    raise ValueError(name)
