"""The `ChainNode` port: what the wallet needs from a blockchain node, one adapter per chain.

Every adapter (`wcx.wallet.chains.<chain>`) has the same file set — `rpc.py` (the wire client),
`codec.py` (addresses, amounts and payloads of that chain), `node.py` (the `ChainNode`) — and passes
one conformance suite (`tests/wallet/chains/test_conformance.py`). A fake lives in `wcx.testing`.

Amounts are ints of the asset's minor unit (wei, token base units, satoshi); heights are ints;
hashes and addresses are the chain's canonical text (0x-hex, EIP-55 checksummed addresses on
Ethereum; hex txids and bech32 addresses on Bitcoin).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

NATIVE_INDEX = -1
"""`Transfer.index` of a native Ethereum transfer: a transaction carries at most one native value."""


class ChainError(RuntimeError):
    """The node failed or answered something unusable (transport, RPC error, malformed reply)."""


class BroadcastRejectedError(ChainError):
    """The node refused a transaction (invalid, double spend, nonce too low, fee too low)."""


class CallRevertedError(ChainError):
    """The node expects the call to revert (e.g. an ERC-20 `transfer` of more than the sender holds)."""


class TransactionFailedError(ChainError):
    """The transaction was mined but failed (a reverted Ethereum call): it moved no value."""


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block by height with its hash and its parent's hash (how reorgs are noticed)."""

    height: int
    hash: str
    parent_hash: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Value that reached a watched address in a block.

    `index` is the log index of an ERC-20 `Transfer` event, the output index (vout) on Bitcoin, or
    `NATIVE_INDEX` for a native Ethereum transfer; with the chain and tx hash it names the deposit.
    `sender` is the paying address where the chain has one ("" on Bitcoin).
    """

    chain: str
    tx_hash: str
    index: int
    asset: str
    to: str
    amount: int
    block_height: int
    block_hash: str
    sender: str = ""

    @property
    def reference(self) -> str:
        """The engine's idempotency reference for crediting this transfer."""
        return f"{self.chain}:{self.tx_hash}:{self.index}"


@dataclass(frozen=True, slots=True)
class FeeEstimate:
    """A fee rate: wei per gas on Ethereum (max fee; `tip`: EIP-1559 priority fee), sat/vB on Bitcoin."""

    rate: int
    tip: int = 0


@runtime_checkable
class ChainNode(Protocol):
    """One blockchain node as the wallet sees it (async: every call is network I/O)."""

    chain: str
    """The chain's name in configuration and references ("ethereum", "bitcoin")."""

    async def tip(self) -> BlockRef:
        """The newest block."""
        ...

    async def block(self, height: int) -> BlockRef | None:
        """The block at `height` on the node's best chain, None above the tip."""
        ...

    async def transfers(self, start: int, end: int, addresses: Collection[str]) -> list[Transfer]:
        """Successful transfers of configured assets to `addresses` in blocks start..end (inclusive)."""
        ...

    async def nonce(self, address: str) -> int:
        """The next transaction nonce of `address` including pending ones (0 on chains without nonces)."""
        ...

    async def balance(self, address: str, asset: str) -> int:
        """The confirmed on-chain balance of `address` in `asset`, in minor units."""
        ...

    async def broadcast(self, raw_tx: bytes) -> str:
        """Send a signed transaction; its hash. Re-sending a known transaction answers the same hash."""
        ...

    async def transaction(self, tx_hash: str) -> int | None:
        """Confirmations of a transaction (0 = in the mempool), None when the node does not know it.

        A mined transaction that failed raises TransactionFailedError: it consumed its nonce and fee
        but paid nothing, which the withdrawal pipeline must tell apart from "dropped".
        """
        ...

    async def fee_estimate(self) -> FeeEstimate:
        """A fee rate likely to confirm within a few blocks."""
        ...

    async def estimate_gas(self, sender: str, to: str, value: int = 0, data: bytes = b"") -> int:
        """Gas limit for a call from `sender` to `to` (with a safety margin); 0 on chains without gas.

        CallRevertedError when the node expects the call to revert.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
