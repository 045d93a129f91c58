"""Open the ChainNode adapter a configured chain needs."""

from __future__ import annotations

from wcx.wallet.chains.port import ChainNode
from wcx.wallet.config import ChainKind, ChainSpec


def connect(spec: ChainSpec) -> ChainNode:
    """The adapter for `spec`, talking to its configured RPC URL."""
    if not spec.rpc_url:
        raise ValueError(f"{spec.name}: no RPC URL configured")
    if spec.kind is ChainKind.ETHEREUM:
        from wcx.wallet.chains.ethereum import EthereumNode

        return EthereumNode.from_spec(spec)
    from wcx.wallet.chains.bitcoin import BitcoinNode

    return BitcoinNode.from_spec(spec)
