"""Delivering a recorded signed transaction through any `ChainNode`: the node is asked about the recorded
hash before anything is sent, so a crash between sending and recording never sends twice, and a
transaction the node forgot (dropped from the mempool, reorged out) goes again as the same bytes."""

from __future__ import annotations

from wcx.wallet.chains.port import ChainNode


async def deliver(node: ChainNode, tx_hash: str, raw: bytes) -> int:
    """Confirmations of `tx_hash` once the node has it; sent as `raw` only if the node does not know it.

    Raises TransactionFailedError (mined but reverted) and BroadcastRejectedError (refused).
    """
    known = await node.transaction(tx_hash)
    if known is not None:
        return known
    await node.broadcast(raw)
    return 0


async def follow(node: ChainNode, tx_hash: str, raw: bytes) -> int | None:
    """Confirmations of a delivered transaction; None when the node forgot it and it was sent again.

    Raises TransactionFailedError (mined but reverted) and BroadcastRejectedError (the re-send was
    refused: replaced or no longer valid).
    """
    confirmations = await node.transaction(tx_hash)
    if confirmations is None:
        await node.broadcast(raw)
    return confirmations
