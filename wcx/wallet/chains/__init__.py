"""Chain adapters behind one port (`ChainNode`); one subpackage per chain with the same file set."""

from wcx.wallet.chains.port import (
    NATIVE_INDEX,
    BlockRef,
    BroadcastRejectedError,
    CallRevertedError,
    ChainError,
    ChainNode,
    FeeEstimate,
    TransactionFailedError,
    Transfer,
)

__all__ = [
    "NATIVE_INDEX",
    "BlockRef",
    "BroadcastRejectedError",
    "CallRevertedError",
    "ChainError",
    "ChainNode",
    "FeeEstimate",
    "TransactionFailedError",
    "Transfer",
]
