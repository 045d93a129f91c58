"""`FakeChainNode`: an in-memory chain behind the ChainNode port, for tests of what sits above it.

It keeps blocks with real parent links, so reorgs look to a watcher exactly as on a node: `reorg(depth)`
replaces the newest `depth` blocks with a longer fork
(`rewind` + `mine` does the same in two steps). Value moves with `pay` (included by the next
`mine`); raw transactions sent with `broadcast` are recorded, mined on the next `mine` and can be made
to fail. `offline = True` makes every call raise ChainError like an unreachable node.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from wcx.wallet.chains.ethereum.codec import PLAIN_TRANSFER_GAS
from wcx.wallet.chains.port import (
    NATIVE_INDEX,
    BlockRef,
    BroadcastRejectedError,
    ChainError,
    FeeEstimate,
    TransactionFailedError,
    Transfer,
)


def _digest(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


@dataclass(slots=True)
class _Payment:
    to: str
    asset: str
    amount: int
    sender: str
    tx_hash: str
    index: int


@dataclass(slots=True)
class _Block:
    ref: BlockRef
    payments: list[_Payment] = field(default_factory=list)
    txs: list[str] = field(default_factory=list)


class FakeChainNode:
    """A ChainNode over an in-memory chain (heights from 0, the genesis block)."""

    def __init__(self, chain: str = "ethereum", assets: Collection[str] = ("ETH", "USDT")) -> None:
        self.chain = chain
        self.assets = tuple(assets)
        self.native = self.assets[0]
        self.offline = False
        self.fee = FeeEstimate(rate=30_000_000_000, tip=1_000_000_000)
        self.call_gas = 78_000
        """`estimate_gas` of a call with data (a plain transfer is 21 000, as on Ethereum)."""
        self.nonces: dict[str, int] = defaultdict(int)
        self.broadcasts: list[bytes] = []
        self.failing: set[str] = set()
        self._fork = 0
        self._counter = 0
        self._blocks: list[_Block] = [_Block(BlockRef(0, _digest(chain, "genesis"), "0x" + "00" * 32))]
        self._pending: list[_Payment] = []
        self._mempool: list[str] = []

    # --- driving the chain ------------------------------------------------------------------------

    def pay(self, to: str, amount: int, asset: str | None = None, sender: str = "") -> str:
        """Queue a payment for the next block; its tx hash."""
        asset = asset or self.native
        if asset not in self.assets:
            raise ValueError(f"{self.chain} has no asset {asset}")
        self._counter += 1
        tx_hash = _digest(self.chain, "pay", self._counter)
        index = NATIVE_INDEX if asset == self.native and self.chain == "ethereum" else 0
        self._pending.append(_Payment(to, asset, amount, sender, tx_hash, index))
        return tx_hash

    def mine(self, count: int = 1) -> BlockRef:
        """Mine `count` blocks (the first takes every queued payment and broadcast); the new tip."""
        for _ in range(count):
            parent = self._blocks[-1].ref
            height = parent.height + 1
            ref = BlockRef(height, _digest(self.chain, self._fork, height, parent.hash), parent.hash)
            self._blocks.append(_Block(ref, self._pending, self._mempool))
            self._pending, self._mempool = [], []
        return self._blocks[-1].ref

    def rewind(self, height: int, *, keep: bool = False) -> None:
        """Drop every block above `height` (the next `mine` starts a fork); `keep` re-queues their
        payments and transactions for the next block, as when they are re-mined, else they vanish."""
        if not 0 <= height <= self.height:
            raise ValueError("rewind height must be within the chain")
        dropped = self._blocks[height + 1 :]
        del self._blocks[height + 1 :]
        self._fork += 1
        if keep:
            self._pending = [p for block in dropped for p in block.payments] + self._pending
            self._mempool = [t for block in dropped for t in block.txs] + self._mempool

    def reorg(self, depth: int, *, keep: bool = False) -> BlockRef:
        """Replace the newest `depth` blocks by a fork one block longer (see `rewind` for `keep`)."""
        self.rewind(self.height - depth, keep=keep)
        return self.mine(depth + 1)

    @property
    def height(self) -> int:
        """The tip's height."""
        return self._blocks[-1].ref.height

    # --- the port -----------------------------------------------------------------------------------

    def _online(self) -> None:
        if self.offline:
            raise ChainError(f"{self.chain} fake node is offline")

    async def tip(self) -> BlockRef:
        """The newest block."""
        self._online()
        return self._blocks[-1].ref

    async def block(self, height: int) -> BlockRef | None:
        """The block at `height`, None above the tip."""
        self._online()
        return self._blocks[height].ref if 0 <= height < len(self._blocks) else None

    async def transfers(self, start: int, end: int, addresses: Collection[str]) -> list[Transfer]:
        """Payments to `addresses` mined in blocks start..end."""
        self._online()
        watched = {a.lower() for a in addresses}
        return [
            Transfer(
                self.chain, p.tx_hash, p.index, p.asset, p.to, p.amount, b.ref.height, b.ref.hash, p.sender
            )
            for b in self._blocks[max(start, 0) : end + 1]
            for p in b.payments
            if p.to.lower() in watched
        ]

    async def nonce(self, address: str) -> int:
        """The next nonce set for `address` in `nonces` (0 by default)."""
        self._online()
        return self.nonces[address]

    async def balance(self, address: str, asset: str) -> int:
        """What mined payments brought to `address` in `asset`."""
        self._online()
        return sum(
            p.amount
            for b in self._blocks
            for p in b.payments
            if p.to.lower() == address.lower() and p.asset == asset
        )

    async def broadcast(self, raw_tx: bytes) -> str:
        """Record the raw transaction; it is mined with the next block. Empty bytes are refused."""
        self._online()
        if not raw_tx:
            raise BroadcastRejectedError("empty transaction")
        tx_hash = _digest(self.chain, "tx", raw_tx.hex())
        self.broadcasts.append(raw_tx)
        if tx_hash not in self._mempool and self._mined_in(tx_hash) is None:
            self._mempool.append(tx_hash)
        return tx_hash

    def _mined_in(self, tx_hash: str) -> int | None:
        for block in self._blocks:
            if tx_hash in block.txs:
                return block.ref.height
        return None

    async def transaction(self, tx_hash: str) -> int | None:
        """Confirmations of a broadcast transaction (0 in the mempool), None if unknown."""
        self._online()
        if tx_hash in self._mempool:
            return 0
        height = self._mined_in(tx_hash)
        if height is None:
            return None
        if tx_hash in self.failing:
            raise TransactionFailedError(f"{tx_hash} failed")
        return self.height - height + 1

    async def fee_estimate(self) -> FeeEstimate:
        """The fee set in `fee`."""
        self._online()
        return self.fee

    async def estimate_gas(self, sender: str, to: str, value: int = 0, data: bytes = b"") -> int:
        """21 000 for a plain transfer, `call_gas` for a call with data."""
        self._online()
        return self.call_gas if data else PLAIN_TRANSFER_GAS

    async def close(self) -> None:
        """Nothing to release."""
